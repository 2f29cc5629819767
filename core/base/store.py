"""The one database of a data directory, through SQLAlchemy Core: a SQLite file (the embedded
default), or a PostgreSQL database (psycopg 3) shared by a fleet of writers and verifier replicas
when a database URL is set (the setting ``database_url``).

The schema is Alembic's: ``metadata`` below is the model of the newest schema, and every change to
it is a new revision in ``migrations/versions/`` (``alembic -c core/base/migrations/alembic.ini
revision --autogenerate -m …`` from a checkout; never edit a revision that has shipped), written
once in portable operations (``op.batch_alter_table`` where SQLite cannot ALTER) so that it also
runs on PostgreSQL; then ``SCHEMA_REVISION`` names the new head. ``Store.open`` upgrades a database
to the head inside its one write transaction; a database of a release before Alembic (its
``schema_version`` table at version N) is stamped at revision N first. A test compares the
revisions' result with ``metadata`` (tests/test_migrations.py), so the two cannot drift.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import sqlalchemy as sa
from sqlalchemy import event

from .config import PRIVATE_FILE_MODE, make_private
from .errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

metadata = sa.MetaData()

# The version table of the releases before Alembic (their migrations 1-5 are revisions 0001-0005).
# Kept, with one more row (revision 0006), so that such a release refuses a newer database.
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
    sa.Column("watermark_alg", sa.String(80), nullable=False, index=True),  # which engines were issued
    sa.Column("manifest", sa.LargeBinary, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("manifest_label", sa.String(200), nullable=False, index=True),  # resolution API: by label
    sa.Column("mime_type", sa.String(40), nullable=False),
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("model_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # Revision 0007: the signature's RFC 3161 time-stamp: none (no TSA configured), pending (the TSA
    # was unreachable; ``pocketstudio timestamp --pending`` adds it) or stamped.
    sa.Column("time_stamp", sa.String(16), nullable=False, server_default="none", index=True),
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


# Revision 0002: perceptual fingerprints of released images (the second soft binding), next to
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

# Revision 0007: the ISCC image code of each release (io.iscc.v0, the registered soft binding beside
# ours), looked up exactly by code and by Hamming distance of its 64-bit body.
iscc_codes = sa.Table(
    "iscc_codes", metadata,
    sa.Column("asset_id", sa.String(32), sa.ForeignKey("manifests.asset_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, index=True),
    sa.Column("body", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


# Revision 0004: learned subjects (textual-inversion embeddings, core/generator/subject.py). The vectors live
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


# The newest revision in migrations/versions/ (a test checks that it is Alembic's head). Named here
# so that opening a database that is already there costs one SELECT and no Alembic import.
SCHEMA_REVISION = "0007"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# schema_version.version of a release before Alembic -> the revision that holds the same schema.
LEGACY_REVISIONS = {1: "0001", 2: "0002", 3: "0003", 4: "0004", 5: "0005"}


def alembic_config(connection: sa.Connection) -> "Config":
    """Alembic's configuration for the packaged revisions, bound to ``connection`` (no alembic.ini):
    ``alembic.command.upgrade(alembic_config(conn), "head")`` runs the revisions in the
    connection's own transaction (migrations/env.py)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def stored_revision(conn: sa.Connection) -> str | None:
    """The schema revision of the database on ``conn``, read without writing: Alembic's
    ``alembic_version``, else the revision a release before Alembic left (``schema_version``),
    else None (an empty database). A revision this program does not know is returned as is."""
    inspector = sa.inspect(conn)
    if inspector.has_table("alembic_version"):
        heads = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        return heads[0] if len(heads) == 1 else ",".join(sorted(heads)) or None
    if inspector.has_table("schema_version"):
        legacy = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if legacy:
            return LEGACY_REVISIONS.get(legacy, f"schema_version {legacy}")
    return None


def known_revisions() -> set[str]:
    """The revision ids this program carries (loads Alembic and reads migrations/versions/)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


def _newer(path: "Path | str", revision: str) -> StoreError:
    return StoreError(f"database {path} has schema revision {revision}, newer than this program's "
                      f"{SCHEMA_REVISION}: upgrade pocketstudio")


def upgrade(conn: sa.Connection, path: "Path | str", now_iso: Callable[[], str] | None = None) -> None:
    """Bring the database on ``conn`` to ``SCHEMA_REVISION`` inside ``conn``'s transaction: a
    database of a release before Alembic is stamped at its revision first; one with a revision
    this program does not know is refused ("upgrade pocketstudio")."""
    current = stored_revision(conn)
    if current == SCHEMA_REVISION:
        return
    from alembic import command

    if current is not None and current not in known_revisions():
        raise _newer(path, current)
    config = alembic_config(conn)
    config.attributes["now_iso"] = now_iso
    if current is not None and not sa.inspect(conn).has_table("alembic_version"):
        command.stamp(config, current)
    command.upgrade(config, SCHEMA_REVISION)


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


def _switch_to_wal(cur: sqlite3.Cursor, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the file: a new database
    is still in rollback mode, and switching it needs an exclusive lock that SQLite refuses at once
    (no busy wait: it would deadlock) to every opener but one when several open it together. Once
    the file is in WAL mode (it stays so) the pragma takes no lock and never waits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_BUSY")
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.005 + secrets.randbelow(20) / 1000)


def _typed_errors(engine: sa.Engine, path: Path, timeout: float) -> None:
    """Turn SQLite's locked / damaged / unreadable failures, wherever they happen (connecting,
    BEGIN, any statement), into StoreErrors that say what to do, instead of SQLAlchemy errors
    that quote the SQL statement."""

    @event.listens_for(engine, "handle_error")
    def _translate(context):
        error = _store_error(context.original_exception, path, timeout)
        if error is not None:
            raise error from context.original_exception


# -- PostgreSQL ------------------------------------------------------------------------------------
# Advisory-lock keys (pg_advisory_xact_lock): one for schema upgrades, one for the audit log's head.
MIGRATION_LOCK = 0x706F636B_00000001
AUDIT_LOCK = 0x706F636B_00000002


def is_database_url(target: "str | Path") -> bool:
    """A database URL (``postgresql+psycopg://…``, ``sqlite:///…``) rather than a file path."""
    return isinstance(target, str) and "://" in target


def store_location(settings) -> "str | Path":
    """Where a data directory's store is: its ``database_url`` setting, else its SQLite file."""
    return settings.database_url or settings.db_path


def _postgres_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError("the database URL is malformed: write it as postgresql+psycopg://USER@HOST:PORT/DATABASE") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(f"database URL scheme {parsed.drivername!r} is not supported: use postgresql+psycopg://… "
                     "(or unset database_url for the SQLite file in the data directory)")


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None: not a SQLite URL)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StoreError("a sqlite:// database URL must name a file: sqlite:////absolute/path.db")
    return Path(parsed.database)


def _postgres_error(exc: BaseException, where: str, timeout: float) -> StoreError | None:
    """The StoreError a PostgreSQL failure means to the user (its SQLSTATE decides), never the SQL
    statement; None for constraint violations (callers handle them) and programming errors."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the engine could not have been made
        return None
    if not isinstance(exc, psycopg.Error) or isinstance(exc, psycopg.IntegrityError):
        return None
    state = getattr(exc, "sqlstate", None) or ""
    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if state in ("55P03", "40P01", "57014"):  # lock not available, deadlock, statement timeout
        return StoreError(f"database {where} is locked by another writer (still busy after {timeout:g} s): "
                          "retry when it has finished")
    if state in ("42501", "25006"):  # insufficient privilege, read-only transaction
        return StoreError(f"database {where} cannot be written with this role ({said}): a read-only role "
                          "serves verification only; writers need INSERT/UPDATE/DELETE on the store's tables")
    if state.startswith("08") or isinstance(exc, psycopg.OperationalError) and not state:
        return StoreError(f"cannot reach database {where} ({said}): check that the server runs, the URL "
                          "(host, port, database, user) and the network")
    if state.startswith("28"):
        return StoreError(f"database {where} refused the credentials ({said}): check the user and its password")
    if state == "3D000":
        return StoreError(f"database {where} does not exist ({said}): create it first (createdb)")
    if state.startswith("53"):
        return StoreError(f"database {where} is out of resources ({said}): free disk or connections and retry")
    return None


def _postgres_engine(url: sa.URL, timeout: float, readonly: bool) -> sa.Engine:
    options = f"-c lock_timeout={int(timeout * 1000)}"
    if readonly:
        options += " -c default_transaction_read_only=on"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError("a PostgreSQL database needs psycopg: pip install 'pocketstudio[postgres]'") from None
    engine = sa.create_engine(url, pool_size=4, max_overflow=8, pool_pre_ping=True,
                              connect_args={"options": options, "connect_timeout": 10})
    where = url.render_as_string(hide_password=True)

    @event.listens_for(engine, "handle_error")
    def _translate(context):
        error = _postgres_error(context.original_exception, where, timeout)
        if error is not None:
            raise error from context.original_exception

    return engine


@dataclass
class Store:
    """An open database: the engine, at the schema revision ``SCHEMA_REVISION``.

    ``path``: the SQLite file; ``url``: the PostgreSQL database (its password hidden) instead."""

    engine: sa.Engine
    path: Path | None
    readonly: bool = False
    url: str | None = None

    @property
    def name(self) -> str:
        """How messages name the database: its file, or its URL without the password."""
        return self.url if self.url is not None else str(self.path)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, path: str | Path, now_iso: Callable[[], str] | None = None,
             timeout: float = LOCK_TIMEOUT_S) -> "Store":
        """Open (creating if needed) the database at ``path`` and upgrade it to ``SCHEMA_REVISION``
        (Alembic, in one ``BEGIN IMMEDIATE`` transaction: concurrent openers wait for each other).

        ``path`` may be a database URL: ``postgresql+psycopg://…`` opens that (existing, possibly
        empty) database, upgraded under an advisory lock; ``sqlite:///…`` names a file.

        A write waits at most ``timeout`` seconds for another process's write to finish, then
        fails with a StoreError that says so (as does a damaged file)."""
        if is_database_url(path):
            file = _sqlite_path(path)
            if file is None:
                return cls._open_postgres(path, now_iso, timeout)
            path = file
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
            _switch_to_wal(cur, timeout)
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
        ``open``), as a long-running service does once when it starts.

        A PostgreSQL URL opens its transactions read only (``default_transaction_read_only``): a
        role with SELECT on the tables is all a verifier replica needs."""
        if is_database_url(path):
            file = _sqlite_path(path)
            if file is None:
                if prepare:
                    cls.open(path, timeout=timeout).close()
                url = _postgres_url(path)
                store = cls(engine=_postgres_engine(url, timeout, readonly=True), path=None, readonly=True,
                            url=url.render_as_string(hide_password=True))
                return store._checked_readonly()
            path = file
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        if prepare and (not path.exists() or cls._revision_of(path, timeout) != SCHEMA_REVISION):
            cls.open(path, timeout=timeout).close()
        if not path.exists():
            raise StoreError(f"no database at {path}; run 'pocketstudio init' first")
        return cls._readonly(path, timeout)._checked_readonly()

    def _checked_readonly(self) -> "Store":
        """This read-only store, if its schema is at the head (else closed, and a StoreError)."""
        path = self.name
        try:
            current = self.revision()
            problem = None
            if current is None:
                problem = (f"{path} is not an initialised Pocket Studio database: run 'pocketstudio init' (or point "
                           "--home at the right data directory)")
            elif current != SCHEMA_REVISION and current not in known_revisions():
                problem = str(_newer(path, current))
            elif current != SCHEMA_REVISION:
                problem = (f"database {path} has schema revision {current}, older than this program's "
                           f"{SCHEMA_REVISION}: run 'pocketstudio init' once to upgrade it (verification only reads it)")
        except BaseException:
            self.close()
            raise
        if problem:
            self.close()
            raise StoreError(problem)
        return self

    @classmethod
    def _open_postgres(cls, target: str, now_iso: Callable[[], str] | None, timeout: float) -> "Store":
        url = _postgres_url(target)
        shown = url.render_as_string(hide_password=True)
        store = cls(engine=_postgres_engine(url, timeout, readonly=False), path=None, url=shown)
        try:
            store._migrate(now_iso)
        except BaseException as exc:
            store.engine.dispose()
            if isinstance(exc, sa.exc.DBAPIError):  # one the handler did not name
                said = (str(getattr(exc, "orig", exc)).strip().splitlines() or ["error"])[0]
                raise StoreError(f"cannot open database {shown}: {said}") from exc
            raise
        return store

    @classmethod
    def _revision_of(cls, path: Path, timeout: float) -> str | None:
        store = cls._readonly(path, timeout)
        try:
            return store.revision()
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
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE: a second opener waits here, then finds the head
            if self.is_postgres:  # PostgreSQL's DDL is transactional; openers queue on this lock
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            upgrade(conn, self.name, now_iso)

    def lock_audit_head(self, conn: sa.Connection) -> None:
        """Serialise appenders to the audit log until ``conn``'s transaction ends, so that leaf
        indices are assigned without gaps or duplicates: SQLite's ``BEGIN IMMEDIATE`` already
        holds the one write lock; PostgreSQL takes a transaction-scoped advisory lock (released
        at commit or rollback, also when the writer dies)."""
        if self.is_postgres:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})

    def insert_many(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
        """Insert ``rows`` (dicts with the same keys) inside ``conn``'s transaction. PostgreSQL gets
        them by ``COPY … FROM STDIN``: one stream whatever the count (a driver executemany runs
        one statement per row, which dominated an audit batch's time under the log's lock).
        SQLite runs in-process, where executemany is already the cheap way."""
        if not rows:
            return
        if not self.is_postgres:
            conn.execute(table.insert(), rows)
            return
        columns = list(rows[0])
        quote = conn.dialect.identifier_preparer.quote
        driver = conn.connection.driver_connection  # psycopg 3, in this transaction
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def revision(self) -> str | None:
        """The schema revision (None: an empty database, not created by Pocket Studio yet)."""
        with self.engine.connect() as conn:
            return stored_revision(conn)

    def begin(self):
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error."""
        if self.readonly:
            raise StoreError(f"database {self.name} is open for reading only (verification never writes)")
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


# Tables whose rows are the schema's bookkeeping, not data: a target store has its own.
_VERSION_TABLES = ("schema_version",)
COPY_BATCH = 2000


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` (both at ``SCHEMA_REVISION``; the target must
    hold no data), parents before children, in one transaction of the target: a failure leaves it
    empty. Returns the row count per table. How a SQLite home moves to PostgreSQL (``db migrate``)."""
    for store in (source, target):
        if store.revision() != SCHEMA_REVISION:
            raise StoreError(f"database {store.name} is not at schema revision {SCHEMA_REVISION}: "
                             "run 'pocketstudio init' on it first")
    tables = [t for t in metadata.sorted_tables if t.name not in _VERSION_TABLES]
    counts: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        for table in tables:
            if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                raise StoreError(f"database {target.name} already holds {table.name} rows: migrate into an "
                                 "empty database (a fresh one, or drop its tables first)")
        for table in tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result = src.execution_options(stream_results=True).execute(sa.select(table).order_by(*order))
            counts[table.name] = 0
            while rows := result.fetchmany(COPY_BATCH):
                dst.execute(table.insert(), [dict(r._mapping) for r in rows])
                counts[table.name] += len(rows)
    return counts
