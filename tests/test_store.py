import sqlalchemy as sa
import pytest

from pocketstudio.core.base.errors import StoreError
from pocketstudio.core.base.store import SCHEMA_VERSION, Store, schema_version


def test_open_creates_real_sqlite_file_with_schema_version(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store.open(path)
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert store.version() == SCHEMA_VERSION
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"manifests", "audit_log", "audit_openings", "persons", "consent_grants", "schema_version"} <= names


def test_reopen_applies_no_migration_twice(tmp_path):
    path = tmp_path / "db.sqlite"
    Store.open(path).close()
    store = Store.open(path)
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar() == SCHEMA_VERSION


def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store.open(path)
    with store.begin() as conn:
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION + 1, applied_at="later"))
    store.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_directory_or_garbage_is_a_typed_error(tmp_path):
    with pytest.raises(StoreError):
        Store.open(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store.open(junk)
