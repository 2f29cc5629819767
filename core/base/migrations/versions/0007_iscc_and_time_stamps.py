"""Revision 7: the ISCC image code of each release (``iscc_codes``: the registered soft binding
io.iscc.v0, looked up by code and by the Hamming distance of its body), and the state of each
stored manifest's RFC 3161 time-stamp (``manifests.time_stamp``: none, pending or stamped), so
that ``pocketstudio timestamp --pending`` finds the releases a TSA outage left without one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iscc_codes",
        sa.Column("asset_id", sa.String(32), sa.ForeignKey("manifests.asset_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("body", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_iscc_codes_code", "iscc_codes", ["code"])
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(sa.Column("time_stamp", sa.String(16), nullable=False, server_default="none"))
        batch.create_index("ix_manifests_time_stamp", ["time_stamp"])


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.drop_index("ix_manifests_time_stamp")
        batch.drop_column("time_stamp")
    op.drop_index("ix_iscc_codes_code", table_name="iscc_codes")
    op.drop_table("iscc_codes")
