"""Issue 17, privacy and exposure: attacks on what the data directory, a deny and the HTTP service
let other people see. Each test replays one attack against the real CLI, store, policy engine or
service."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocketstudio.core.cli import app
from pocketstudio.core.config import Settings
from pocketstudio.core.store import Store, stage_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes_under(home: Path) -> dict[str, int]:
    """Every folder and file of a data directory (the folder itself as '.') with its mode."""
    found = {".": mode(home)}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(home))] = mode(path)
    return found


def assert_private(home: Path) -> dict[str, int]:
    found = modes_under(home)
    exposed = {name: oct(m) for name, m in found.items()
               if m != (0o700 if (home / name).is_dir() else 0o600)}
    assert not exposed, f"readable or writable by others: {exposed}"
    return found


# -- 6. the data directory is private, released images follow the umask ---------------------------

def _an_older_versions_home(home: Path) -> sqlite3.Connection:
    """A data directory as an earlier version (or a careless copy) left it: every folder 0755,
    every file 0644 (database, key files, an embedding, a checkpoint file). Returns a connection
    that keeps the database open in WAL mode, so that its -wal and -shm files exist (0644)."""
    with umask(0o022):
        assert run("init", "--home", home).exit_code == 0
        (home / "subjects").mkdir(exist_ok=True)
        (home / "subjects" / "0123abcd.safetensors").write_bytes(b"learned vectors")
        (home / "keys" / "audit-checkpoint.txt").write_text("pocketstudio.local/audit/x\n1\nroot\n")
        other = sqlite3.connect(home / "pocketstudio.db", isolation_level=None)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        other.execute("INSERT INTO scratch VALUES ('a prompt')")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert {"pocketstudio.db-wal", "pocketstudio.db-shm"} <= {p.name for p in home.iterdir()}
    return other


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_world_readable_home_is_locked_down_on_open(tmp_path, mask):
    home = tmp_path / "home"
    other = _an_older_versions_home(home)
    try:
        with umask(mask):
            assert run("init", "--home", home).exit_code == 0
        found = assert_private(home)
        assert {"pocketstudio.db", "pocketstudio.db-wal", "pocketstudio.db-shm", "keys", "keys/trust", "subjects",
                "subjects/0123abcd.safetensors", "keys/audit-checkpoint.txt"} <= set(found)
    finally:
        other.close()


def test_attack_world_readable_database_is_locked_down_by_any_store_open(tmp_path):
    """Commands that open only the database (audit list, verify) lock it down too."""
    db = tmp_path / "pocketstudio.db"
    Store.open(db).close()
    os.chmod(db, 0o644)
    store = Store.open(db)
    try:
        assert mode(db) == 0o600
    finally:
        store.close()


@pytest.mark.parametrize("mask", [0o000, 0o022], ids=["loose-umask", "usual-umask"])
def test_attack_loose_umask_does_not_expose_a_new_database_or_its_wal(tmp_path, mask):
    db = tmp_path / "pocketstudio.db"
    with umask(mask):
        store = Store.open(db)
        try:
            with store.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE scratch (x)")
            # The pool keeps its connection open, and with it the WAL and its index.
            assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
                "pocketstudio.db": 0o600, "pocketstudio.db-wal": 0o600, "pocketstudio.db-shm": 0o600}
        finally:
            store.close()


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_loose_umask_does_not_expose_files_written_in_the_data_directory(tmp_path, mask):
    """Key files and subject embeddings are written 0600 under any umask; a fresh home is 0700."""
    home = tmp_path / "home"
    with umask(mask):
        assert run("init", "--home", home).exit_code == 0
        embedding = stage_file(Settings.load(home).subjects_dir, "subject", b"vectors")
    assert mode(embedding) == 0o600
    assert_private(home)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_released_image_is_written_with_the_users_umask_and_the_home_stays_private(tmp_path, tiny_model_dir, mask):
    home, out = tmp_path / "home", tmp_path / "shared" / "pic.png"
    out.parent.mkdir()
    with umask(mask):
        result = run("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--home", home, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["released"]
    assert mode(out) == 0o666 & ~mask
    assert [p.name for p in out.parent.iterdir()] == ["pic.png"]  # no staged leftovers
    assert_private(home)
