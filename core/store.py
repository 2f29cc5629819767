"""The one SQLite database of a data directory, through SQLAlchemy Core.

The schema is versioned: ``MIGRATIONS`` is an append-only list, applied in order inside one
transaction when the store opens. SQL stays portable (no SQLite-only column types) so that the
same schema can run on PostgreSQL when a deployment outgrows one machine.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy import event

from .config import PRIVATE_FILE_MODE, make_private
from .errors import StoreError

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

# C2PA manifest stores of released images, keyed by the asset id that the watermark carries,
# so that a stripped image can get its manifest back (durable content credentials).
manifests = sa.Table(
    "manifests", metadata,
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

# The audit log: one row per decision (allow or deny, released or blocked), each a leaf of an
# RFC 6962 Merkle tree. ``record`` is the RFC 8785 canonical JSON the leaf hash covers.
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),  # leaf index + 1
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False, index=True),
    sa.Column("effect", sa.String(10), nullable=False, index=True),
    sa.Column("asset_id", sa.String(32), index=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("signature", sa.String(100), nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
)

# Hashes of the perfect subtrees of the audit tree, so proofs cost O(log n) lookups.
merkle_nodes = sa.Table(
    "merkle_nodes", metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

# Signed checkpoints (C2SP tlog-checkpoint notes) issued for the audit tree.
checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

# Salts and clear text behind the log's commitments: kept apart, with an expiry, so that they
# can be forgotten while every proof still verifies.
audit_openings = sa.Table(
    "audit_openings", metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("openings", sa.Text, nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False, index=True),
)

# Registered likenesses: names and aliases for prompt matching, the person's own public key
# (consent grants must carry their signature), never a photo.
persons = sa.Table(
    "persons", metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("aliases", sa.Text, nullable=False, default="[]"),
    sa.Column("public_key", sa.String(100)),  # base64 Ed25519, pinned at enrolment
    sa.Column("created_at", sa.String(40), nullable=False),
)

# Face templates (128-d descriptors), AES-GCM encrypted with the registry key.
face_templates = sa.Table(
    "face_templates", metadata,
    sa.Column("template_id", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

# Consent grants, each signed by the person's key over its canonical payload.
consent_grants = sa.Table(
    "consent_grants", metadata,
    sa.Column("grant_id", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("grantee", sa.String(200), nullable=False),
    sa.Column("purposes", sa.Text, nullable=False),
    sa.Column("not_before", sa.String(40), nullable=False),
    sa.Column("not_after", sa.String(40), nullable=False),
    sa.Column("signature", sa.String(100), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40)),
)


# Migration 2: perceptual fingerprints of released images (the second soft binding), next to
# their manifests; ``phash`` is the 64-bit lookup key as 16 hex digits, ``value`` the full
# soft-binding value (provenance/fingerprint.py).
fingerprints = sa.Table(
    "fingerprints", metadata,
    sa.Column("asset_id", sa.String(32), sa.ForeignKey("manifests.asset_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("alg", sa.String(80), nullable=False),
    sa.Column("phash", sa.String(16), nullable=False, index=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


# Migration 4: learned subjects (textual-inversion embeddings, core/subjects.py). The vectors live
# in a safetensors file under the data directory's ``subjects/``; the row holds its sha256 (checked
# on every load), the model it was learned on, the sha256 of each reference image, the registered
# people the references showed (consent is decided again on every use) and the creating decision.
subjects = sa.Table(
    "subjects", metadata,
    sa.Column("subject_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("vectors", sa.Integer, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("embedding_file", sa.String(200), nullable=False),
    sa.Column("embedding_sha256", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_sha256", sa.String(64), nullable=False),
    sa.Column("reference_sha256s", sa.Text, nullable=False),  # JSON list, one per reference image
    sa.Column("person_ids", sa.Text, nullable=False),  # JSON list of registered people seen in the references
    sa.Column("consent_grant_ids", sa.Text, nullable=False),  # JSON list, the grants that allowed it
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("training", sa.Text, nullable=False),  # JSON: settings, seconds, final loss
    sa.Column("created_at", sa.String(40), nullable=False),
)


def _migration_1(conn: sa.Connection) -> None:
    for table in (manifests, audit_log, merkle_nodes, checkpoints, audit_openings, persons, face_templates,
                  consent_grants):
        table.create(conn)


def _migration_2(conn: sa.Connection) -> None:
    fingerprints.create(conn)
    # The Soft Binding Resolution API fetches manifests by their label (/manifests/{manifestId}).
    # Plain DDL, not an ``sa.Index`` on the table object: that would also change what migration 1
    # creates on a fresh database.
    conn.exec_driver_sql("CREATE INDEX ix_manifests_manifest_label ON manifests (manifest_label)")


def _migration_3(conn: sa.Connection) -> None:
    # The verifier asks which watermark engines this store has issued manifests for (it runs an
    # older engine's detector only when that engine's manifests exist): an index answers
    # SELECT DISTINCT watermark_alg without reading the manifests.
    conn.exec_driver_sql("CREATE INDEX ix_manifests_watermark_alg ON manifests (watermark_alg)")


def _migration_4(conn: sa.Connection) -> None:
    subjects.create(conn)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_migration_1, _migration_2, _migration_3, _migration_4]
SCHEMA_VERSION = len(MIGRATIONS)


def stage_file(directory: Path, name: str, data: bytes, *, shared: bool = False) -> Path:
    """Write ``data`` in ``directory`` under a temporary name derived from ``name``, synced to disk
    but not yet visible: the caller publishes it with ``os.replace`` once its database row is
    committed, or unlinks it, so a crash never leaves a half-written file under the real name.

    A ``shared`` file (a released image, meant to be passed on) gets the mode every file the user
    writes gets, 0666 less the umask; any other (a subject's embedding in the data directory) is
    0600 whatever the umask."""
    tmp = directory / f".{name}.{secrets.token_urlsafe(6)}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o666 if shared else PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            if not shared:
                os.fchmod(fh.fileno(), PRIVATE_FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


# SQLite's companions of a database file: they hold pages of it, so they are as private as it is.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")


def _make_private_database(path: Path) -> None:
    """Create a new database file 0600 before SQLite opens it (SQLite would create it 0644 less
    the umask, and gives its -wal, -shm and -journal files the database file's own mode), and set
    an existing one and its side files to 0600: they hold prompts and registered names."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        os.close(fd)  # an empty file is an empty SQLite database
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create database {path}: {exc.strerror or exc}") from exc
    try:
        for file in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILE_SUFFIXES)):
            make_private(file)
    except OSError as exc:
        raise StoreError(f"cannot make database {path} private (chmod 600 it): {exc.strerror or exc}") from exc


@dataclass
class Store:
    """An open database: the engine plus the schema version it was migrated to."""

    engine: sa.Engine
    path: Path

    @classmethod
    def open(cls, path: str | Path, now_iso: Callable[[], str] | None = None) -> "Store":
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        path = Path(path)
        if path.exists() and path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        _make_private_database(path)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # The driver's own transaction handling is replaced by explicit BEGIN IMMEDIATE below,
            # so that concurrent writers serialise instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        store = cls(engine=engine, path=path)
        try:
            store._migrate(now_iso)
        except sa.exc.DatabaseError as exc:
            engine.dispose()
            raise StoreError(f"cannot open database {path}: {exc.orig}") from exc
        return store

    def _migrate(self, now_iso: Callable[[], str] | None) -> None:
        from datetime import datetime, timezone

        stamp = now_iso or (lambda: datetime.now(timezone.utc).isoformat())
        with self.engine.begin() as conn:
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {current}, newer than this program's "
                    f"{SCHEMA_VERSION}: upgrade pocketstudio"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version - 1](conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=stamp()))

    def version(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def begin(self):
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error."""
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()
