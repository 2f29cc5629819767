"""Migration 4: learned subjects (textual-inversion embeddings, core/generator/subject.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("vectors", sa.Integer, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding_file", sa.String(200), nullable=False),
        sa.Column("embedding_sha256", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("reference_sha256s", sa.Text, nullable=False),
        sa.Column("person_ids", sa.Text, nullable=False),
        sa.Column("consent_grant_ids", sa.Text, nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("training", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subjects")
