import sqlalchemy as sa
import pytest

from pocketstudio.core.base.errors import StoreError
from pocketstudio.core.base.store import SCHEMA_REVISION, Store, schema_version


def test_open_creates_real_sqlite_file_at_the_head_revision(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store.open(path)
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert store.revision() == SCHEMA_REVISION
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"manifests", "audit_log", "audit_openings", "persons", "consent_grants", "alembic_version"} <= names


def test_reopen_applies_no_migration_twice(tmp_path):
    path = tmp_path / "db.sqlite"
    Store.open(path).close()
    store = Store.open(path)
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [SCHEMA_REVISION]
        # revision 0006's row for the releases before Alembic, written once
        assert conn.execute(sa.select(schema_version.c.version)).scalars().all() == [6]


def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store.open(path)
    with store.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'")
    store.close()
    with pytest.raises(StoreError, match="revision a1b2c3d4e5f6, newer than this program's .*upgrade pocketstudio"):
        Store.open(path)


def test_directory_or_garbage_is_a_typed_error(tmp_path):
    with pytest.raises(StoreError):
        Store.open(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store.open(junk)
