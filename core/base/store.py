"""The one SQLite database of a data directory, through SQLAlchemy Core.

The schema is versioned: ``MIGRATIONS`` is an append-only list, applied in order inside one
transaction when the store opens. SQL stays portable (no SQLite-only column types) so that the
same schema can run on PostgreSQL when a deployment outgrows one machine.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import urllib.parse
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

# The audit log: one row per leaf of an RFC 6962 Merkle tree. ``record`` is the RFC 8785
# canonical JSON the leaf hash covers. Three kinds of leaf (policy/audit.py): exactly one
# ``decision`` leaf per decision id (``entry_id`` = the decision id), ``amendment`` leaves that
# name the decision they follow up (publish failed, …) and ``consent`` events (enrolment, grant,
# revocation: ``ref`` is the person or grant they concern).
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False, index=True),
    sa.Column("entry_id", sa.String(64), nullable=False, unique=True),
    sa.Column("decision_id", sa.String(64), index=True),
    sa.Column("ref", sa.String(64), index=True),
    sa.Column("created_at", sa.String(40), nullable=False, index=True),
    sa.Column("effect", sa.String(10), index=True),
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
    sa.Column("entry_id", sa.String(64), primary_key=True),
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


def _migration_5(conn: sa.Connection) -> None:
    # The audit log holds leaves of several kinds (decisions, amendments, consent events) and
    # names a leaf's position once (``leaf_index``, 0-based; was ``seq`` = index + 1). A database
    # that migration 1 created in this shape already has nothing to do.
    columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_log")}
    if "seq" in columns:
        conn.exec_driver_sql("ALTER TABLE audit_log RENAME TO audit_log_v4")
        for name in ("ix_audit_log_created_at", "ix_audit_log_effect", "ix_audit_log_asset_id"):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        audit_log.create(conn)
        conn.exec_driver_sql(
            "INSERT INTO audit_log (leaf_index, kind, entry_id, decision_id, ref, created_at, effect, asset_id, "
            "record, signature, leaf_hash) SELECT seq - 1, 'decision', decision_id, decision_id, NULL, created_at, "
            "effect, asset_id, record, signature, leaf_hash FROM audit_log_v4")
        conn.exec_driver_sql("DROP TABLE audit_log_v4")
    if "decision_id" in {c["name"] for c in sa.inspect(conn).get_columns("audit_openings")}:
        conn.exec_driver_sql("ALTER TABLE audit_openings RENAME COLUMN decision_id TO entry_id")


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_migration_1, _migration_2, _migration_3, _migration_4,
                                                     _migration_5]
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


# How long a write waits for another process's write transaction before giving up.
LOCK_TIMEOUT_S = 30.0


def _sqlite_message(exc: BaseException) -> str:
    """SQLite's own words for a failure (e.g. "database is locked"), never the SQL statement."""
    orig = getattr(exc, "orig", None) or exc
    return str(orig.args[0]) if getattr(orig, "args", None) else type(orig).__name__


def _store_error(exc: BaseException, path: Path, timeout: float) -> StoreError | None:
    """The StoreError a SQLite failure means to the user, with what to do about it; None for the
    failures callers handle themselves (constraint violations) and for programming errors."""
    if not isinstance(exc, sqlite3.Error) or isinstance(exc, sqlite3.IntegrityError):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    said = _sqlite_message(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or said.startswith("database is locked"):
        return StoreError(f"database {path} is locked by another process (still busy after {timeout:g} s): "
                          "retry when it has finished")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreError(f"database {path} is damaged ({said}): restore it from a backup, or move it aside "
                          "and run 'pocketstudio init' to start an empty one")
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError(f"cannot open database {path} ({said}): check that it and its folder exist and "
                          "that you may read them")
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreError(f"database {path} cannot be written ({said}): check its permissions and those of "
                          "its folder, and that the disk is not mounted read-only")
    if name.startswith("SQLITE_FULL"):
        return StoreError(f"database {path} cannot grow: the disk is full; free some space and retry")
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"database {path} could not be read or written ({said}): check the disk")
    return None


def _typed_errors(engine: sa.Engine, path: Path, timeout: float) -> None:
    """Turn SQLite's locked / damaged / unreadable failures, wherever they happen (connecting,
    BEGIN, any statement), into StoreErrors that say what to do, instead of SQLAlchemy errors
    that quote the SQL statement."""

    @event.listens_for(engine, "handle_error")
    def _translate(context):
        error = _store_error(context.original_exception, path, timeout)
        if error is not None:
            raise error from context.original_exception


@dataclass
class Store:
    """An open database: the engine plus the schema version it was migrated to."""

    engine: sa.Engine
    path: Path
    readonly: bool = False

    @classmethod
    def open(cls, path: str | Path, now_iso: Callable[[], str] | None = None,
             timeout: float = LOCK_TIMEOUT_S) -> "Store":
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        A write waits at most ``timeout`` seconds for another process's write to finish, then
        fails with a StoreError that says so (as does a damaged file)."""
        path = Path(path)
        if path.exists() and path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        _make_private_database(path)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})
        _typed_errors(engine, path, timeout)

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
        except BaseException as exc:
            engine.dispose()
            if isinstance(exc, sa.exc.DatabaseError):  # one _typed_errors does not name
                raise StoreError(f"cannot open database {path}: {_sqlite_message(exc)}") from exc
            raise
        return store

    @classmethod
    def open_readonly(cls, path: str | Path, timeout: float = LOCK_TIMEOUT_S, prepare: bool = False) -> "Store":
        """Open an existing database for reading only, as verification does: never created, never
        migrated, never written, and its reads (deferred transactions; WAL gives each one a
        snapshot) proceed while another process holds a write transaction.

        ``prepare``: first create a missing database or migrate an older one (one write, through
        ``open``), as a long-running service does once when it starts."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        if prepare and (not path.exists() or cls._version_of(path, timeout) != SCHEMA_VERSION):
            cls.open(path, timeout=timeout).close()
        if not path.exists():
            raise StoreError(f"no database at {path}; run 'pocketstudio init' first")
        store = cls._readonly(path, timeout)
        try:
            current = store.version()
        except BaseException:
            store.close()
            raise
        problem = None
        if current == 0:
            problem = (f"{path} is not an initialised Pocket Studio database: run 'pocketstudio init' (or point "
                       "--home at the right data directory)")
        elif current > SCHEMA_VERSION:
            problem = (f"database {path} has schema version {current}, newer than this program's {SCHEMA_VERSION}: "
                       "upgrade pocketstudio")
        elif current < SCHEMA_VERSION:
            problem = (f"database {path} has schema version {current}, older than this program's {SCHEMA_VERSION}: "
                       "run 'pocketstudio init' once to upgrade it (verification only reads it)")
        if problem:
            store.close()
            raise StoreError(problem)
        return store

    @classmethod
    def _version_of(cls, path: Path, timeout: float) -> int:
        store = cls._readonly(path, timeout)
        try:
            return store.version()
        finally:
            store.close()

    @classmethod
    def _readonly(cls, path: Path, timeout: float) -> "Store":
        """A read-only engine on ``path`` (SQLite URI ``mode=ro``), its transactions deferred."""
        uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
        engine = sa.create_engine("sqlite://", poolclass=sa.pool.QueuePool, creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False))
        _typed_errors(engine, path, timeout)

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")  # deferred: takes no write lock

        return cls(engine=engine, path=path, readonly=True)

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
        """The schema version (0: an empty database, not created by Pocket Studio yet)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def begin(self):
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error."""
        if self.readonly:
            raise StoreError(f"database {self.path} is open for reading only (verification never writes)")
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()
