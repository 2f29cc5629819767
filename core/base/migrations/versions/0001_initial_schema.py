"""Migration 1 of the releases before Alembic: manifests, the audit log (one decision per row,
``seq`` = leaf index + 1), Merkle nodes, checkpoints, audit openings, persons, face templates and
consent grants, in the shape those releases created them; and their ``schema_version`` table.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("consent_grants", "face_templates", "persons", "audit_openings", "checkpoints", "merkle_nodes",
          "audit_log", "manifests")


def upgrade() -> None:
    # Releases before Alembic counted migrations in this table; it stays, so that such a release
    # refuses a newer database (revision 0006). A fresh database gets it here.
    if not sa.inspect(op.get_bind()).has_table("schema_version"):
        op.create_table(
            "schema_version",
            sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("applied_at", sa.String(40), nullable=False),
        )
    op.create_table(
        "manifests",
        sa.Column("asset_id", sa.String(32), primary_key=True),
        sa.Column("watermark_alg", sa.String(80), nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("manifest_label", sa.String(200), nullable=False),
        sa.Column("mime_type", sa.String(40), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("effect", sa.String(10), nullable=False),
        sa.Column("asset_id", sa.String(32)),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    for column in ("created_at", "effect", "asset_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_openings",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("openings", sa.Text, nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_audit_openings_expires_at", "audit_openings", ["expires_at"])
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("public_key", sa.String(100)),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "face_templates",
        sa.Column("template_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id", ondelete="CASCADE"), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_face_templates_person_id", "face_templates", ["person_id"])
    op.create_table(
        "consent_grants",
        sa.Column("grant_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id", ondelete="CASCADE"), nullable=False),
        sa.Column("grantee", sa.String(200), nullable=False),
        sa.Column("purposes", sa.Text, nullable=False),
        sa.Column("not_before", sa.String(40), nullable=False),
        sa.Column("not_after", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40)),
    )
    op.create_index("ix_consent_grants_person_id", "consent_grants", ["person_id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    op.drop_table("schema_version")
