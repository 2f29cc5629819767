"""Migration 5: the audit log holds leaves of several kinds (decisions, amendments, consent
events) and names a leaf's position once (``leaf_index``, 0-based; was ``seq`` = index + 1);
each leaf has a unique ``entry_id`` (a decision leaf's is its decision id) and the openings are
keyed by entry.

The rows are copied through a staging table and the log is created afresh (not renamed), so the
new table's primary key, unique constraint and indexes get the same names on every engine as on
a fresh database (PostgreSQL would keep the old ``audit_log_pkey`` on a renamed table).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "leaf_index, kind, entry_id, decision_id, ref, created_at, effect, asset_id, record, signature, leaf_hash"


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _leaf_columns() -> list[sa.Column]:
    return [
        sa.Column("leaf_index", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(64)),
        sa.Column("ref", sa.String(64)),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("effect", sa.String(10)),
        sa.Column("asset_id", sa.String(32)),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    ]


def upgrade() -> None:
    # A database whose audit_log already has this shape (migration 1 of the release that added
    # migration 5 created it so) has nothing to do, as before.
    if "seq" in _columns("audit_log"):
        op.create_table("audit_log_v5", *_leaf_columns())
        op.execute(f"INSERT INTO audit_log_v5 ({COLUMNS}) SELECT seq - 1, 'decision', decision_id, decision_id, "
                   "NULL, created_at, effect, asset_id, record, signature, leaf_hash FROM audit_log")
        op.drop_table("audit_log")  # its indexes go with it
        op.create_table(
            "audit_log", *_leaf_columns(),
            sa.PrimaryKeyConstraint("leaf_index"),
            sa.UniqueConstraint("entry_id"),
        )
        for column in ("kind", "decision_id", "ref", "created_at", "effect", "asset_id"):
            op.create_index(f"ix_audit_log_{column}", "audit_log", [column])
        op.execute(f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM audit_log_v5")
        op.drop_table("audit_log_v5")
    if "decision_id" in _columns("audit_openings"):
        with op.batch_alter_table("audit_openings") as batch:
            batch.alter_column("decision_id", new_column_name="entry_id", existing_type=sa.String(64),
                               existing_nullable=False)


def downgrade() -> None:
    raise NotImplementedError("amendment and consent leaves have no place in the audit log of revision 0004: "
                              "restore a backup of the data directory instead")
