"""Migration 2: perceptual fingerprints of released images (the second soft binding), and an
index on manifests.manifest_label (the Soft Binding Resolution API fetches manifests by label).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("asset_id", sa.String(32), sa.ForeignKey("manifests.asset_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("alg", sa.String(80), nullable=False),
        sa.Column("phash", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_fingerprints_phash", "fingerprints", ["phash"])
    op.create_index("ix_manifests_manifest_label", "manifests", ["manifest_label"])


def downgrade() -> None:
    op.drop_index("ix_manifests_manifest_label", table_name="manifests")
    op.drop_table("fingerprints")
