"""Alembic holds the schema version from here on (its ``alembic_version`` table). A release before
Alembic reads only ``schema_version`` and refuses a database whose version there is above its
own; this row (6: one past the last of those releases' migrations) makes it say "newer than this
program: upgrade pocketstudio" instead of running its migration 1 over this database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import datetime as dt

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GUARD_VERSION = 6

schema_version = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("applied_at", sa.String))


def upgrade() -> None:
    now_iso = context.config.attributes.get("now_iso") if context.config is not None else None
    applied_at = now_iso() if now_iso else dt.datetime.now(dt.timezone.utc).isoformat()
    op.execute(schema_version.insert().values(version=GUARD_VERSION, applied_at=applied_at))


def downgrade() -> None:
    op.execute(schema_version.delete().where(schema_version.c.version == GUARD_VERSION))
