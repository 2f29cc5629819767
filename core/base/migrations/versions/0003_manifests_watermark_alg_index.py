"""Migration 3: the verifier asks which watermark engines this store has issued manifests for
(it runs an older engine's detector only when that engine's manifests exist); an index answers
SELECT DISTINCT watermark_alg without reading the manifests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_manifests_watermark_alg", "manifests", ["watermark_alg"])


def downgrade() -> None:
    op.drop_index("ix_manifests_watermark_alg", table_name="manifests")
