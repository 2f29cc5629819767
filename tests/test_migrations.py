"""The schema through Alembic (core/base/migrations): the revisions build exactly the model in
store.py, a data directory of the release before Alembic upgrades in place with its data, a
failed upgrade leaves nothing half-done, and processes opening a fresh database at once
serialise."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app as cli_app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import StoreError
from pocketstudio.core.base.store import (MIGRATIONS_DIR, SCHEMA_REVISION, Store, alembic_config, audit_log,
                                          consent_grants, manifests, metadata, persons)
from pocketstudio.policy.merkle import hash_children

PREVIOUS = Path(__file__).parent / "data" / "previous-release-home"
FACTS = json.loads((PREVIOUS / "facts.json").read_text())
runner = CliRunner()


def drift(engine: sa.Engine) -> list:
    """What Alembic's autogenerate would change to make the database match ``metadata``."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def legacy_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]


@pytest.fixture
def previous_home(tmp_path) -> Path:
    """A copy of the data directory the release before Alembic made (tests/data/…/README.md)."""
    home = tmp_path / "home"
    shutil.copytree(PREVIOUS / "home", home)
    return home


def test_schema_revision_is_alembics_head():
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == SCHEMA_REVISION


def test_revisions_build_exactly_the_models_in_store_py(tmp_path):
    store = Store.open(tmp_path / "db.sqlite")
    try:
        assert store.revision() == SCHEMA_REVISION
        assert drift(store.engine) == []
    finally:
        store.close()


def test_a_database_at_the_head_opens_without_loading_alembic(tmp_path):
    """Verification opens the store on every run: at the head that is one SELECT, no Alembic import."""
    path = tmp_path / "db.sqlite"
    Store.open(path).close()
    code = (f"import sys; from pocketstudio.core.base.store import Store; Store.open_readonly({str(path)!r}).close(); "
            f"Store.open({str(path)!r}).close(); print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_a_model_change_without_a_revision_is_caught(tmp_path):
    """The comparison above sees a difference when there is one (here: a column the model lacks)."""
    store = Store.open(tmp_path / "db.sqlite")
    with store.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE persons ADD COLUMN nickname VARCHAR(20)")
    assert [d[0] for d in drift(store.engine)] == ["remove_column"]
    store.close()


def test_downgrade_to_nothing_and_up_again(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        alembic.command.upgrade(alembic_config(conn), "0004")
        alembic.command.downgrade(alembic_config(conn), "base")
        assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
        alembic.command.upgrade(alembic_config(conn), "head")
    assert drift(engine) == []
    engine.dispose()


def test_previous_release_home_upgrades_in_place(previous_home, tiny_generator, tmp_path):
    db = previous_home / "pocketstudio.db"
    assert legacy_versions(db) == [1, 2, 3, 4]
    with sqlite3.connect(db) as conn:
        before = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("manifests", "fingerprints", "audit_log", "audit_openings", "merkle_nodes",
                                "persons", "consent_grants")}
    assert before["manifests"] == before["audit_log"] == 2 and before["persons"] == before["consent_grants"] == 1

    # Verification only reads: it names the upgrade instead of doing it.
    with pytest.raises(StoreError, match="revision 0004, older than this program's .*run 'pocketstudio init' once"):
        Store.open_readonly(db)

    result = runner.invoke(cli_app, ["init", "--home", str(previous_home)], catch_exceptions=False)
    assert result.exit_code == 0 and f"schema revision {SCHEMA_REVISION}" in result.output, result.output

    store = Store.open_readonly(db)
    try:
        assert store.revision() == SCHEMA_REVISION
        assert drift(store.engine) == []  # the upgraded schema is exactly the model, as a fresh one is
        with store.connect() as conn:
            leaves = conn.execute(sa.select(audit_log).order_by(audit_log.c.leaf_index)).all()
            releases = FACTS["releases"]
            assert [(leaf.leaf_index, leaf.kind, leaf.entry_id, leaf.decision_id) for leaf in leaves[:2]] == [
                (r["audit_seq"] - 1, "decision", r["decision_id"], r["decision_id"])
                for r in (releases["circle"], releases["ada"])]
            # init adopts the person and the grant into the signed consent history, once
            assert [(leaf.kind, json.loads(leaf.record)["event"]) for leaf in leaves[2:]] == [
                ("consent", "enrol"), ("consent", "grant"), ("consent", "history-start")]
            # the log the previous release signed is still the prefix of this one
            assert hash_children(leaves[0].leaf_hash, leaves[1].leaf_hash).hex() == FACTS["audit_root"]
            assert {(m.asset_id, m.manifest_label) for m in conn.execute(sa.select(manifests))} == {
                (r["asset_id"], r["manifest"]) for r in releases.values()}
            assert conn.execute(sa.select(persons.c.person_id)).scalars().all() == [FACTS["person_id"]]
            assert conn.execute(sa.select(consent_grants.c.grant_id)).scalars().all() == [FACTS["grant_id"]]
            for table, count in before.items():
                if table in ("audit_log", "merkle_nodes"):
                    continue  # grown by the adoption leaves above
                assert conn.execute(sa.select(sa.func.count()).select_from(metadata.tables[table])).scalar() == count
    finally:
        store.close()
    # A release before Alembic reads only max(schema_version) and refuses anything above its own
    # (4, or 5 for the one after): it says "newer than this program: upgrade pocketstudio".
    assert legacy_versions(db) == [1, 2, 3, 4, 6]

    # The stripped copy of a release made before the upgrade gets its manifest back from the store.
    copy = tmp_path / "ada-stripped.jpg"
    shutil.copy(PREVIOUS / "ada-stripped.jpg", copy)
    result = runner.invoke(cli_app, ["verify", str(copy), "--home", str(previous_home), "--json"],
                           catch_exceptions=False)
    verdict = json.loads(result.stdout)
    assert verdict["asset_id"] == FACTS["releases"]["ada"]["asset_id"]
    assert verdict["manifest"]["label"] == FACTS["releases"]["ada"]["manifest"]
    audit = next(c for c in verdict["checks"] if c["name"] == "audit")
    assert audit["ok"] is True, audit
    assert verdict["status"] == "recovered-via-watermark" and result.exit_code == 0, (
        verdict, "the fixture's claim-signing certificate is valid until 2028-12-05: after that, rerun its make.sh")

    # The studio adopts the earlier release's consent rows into the signed history once; the
    # grant then still allows what it allowed, and the old leaves verify with the new ones.
    from pocketstudio.core.app.studio import GenerationRequest, Studio

    studio = Studio(Settings.load(previous_home), generator=tiny_generator)
    release = studio.generate(GenerationRequest("Ada Example under a yellow sun", "local-user", seed=2, size=128),
                              tmp_path / "ada-again.png")
    assert "likeness.consent" in release.decision.rule_ids
    assert release.decision.consent_grant_ids == (FACTS["grant_id"],)
    studio.store.close()
    result = runner.invoke(cli_app, ["audit", "verify", "--home", str(previous_home)], catch_exceptions=False)
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output


def test_failed_upgrade_leaves_the_previous_release_database_as_it_was(previous_home):
    """The revisions run in Store.open's one transaction: a failure half-way (0005 finds its staging
    table taken) rolls every step back, the stamp included."""
    db = previous_home / "pocketstudio.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE audit_log_v5 (x INTEGER)")
    with pytest.raises(StoreError, match="cannot open database"):
        Store.open(db)
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(audit_log)")}
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 2
    assert "alembic_version" not in tables and "seq" in columns
    assert legacy_versions(db) == [1, 2, 3, 4]


@pytest.mark.slow
def test_processes_opening_a_fresh_database_at_once_serialise(tmp_path):
    """Six processes open one new database together: one creates the schema while the others wait
    for its write lock, then find the head; each table and revision exists once."""
    path = tmp_path / "fresh.db"
    child = textwrap.dedent(f"""
        import sys
        from pocketstudio.core.base.store import Store
        print("ready", flush=True)
        sys.stdin.readline()
        store = Store.open({str(path)!r})
        print(store.revision(), flush=True)
        store.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in procs:  # all imported; now they race
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [(p.returncode, out.strip()) for p, (out, _) in zip(procs, outcomes)] == [(0, SCHEMA_REVISION)] * 6, \
        [err[-2000:] for _, err in outcomes]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_REVISION,)]
    assert legacy_versions(path) == [6]
    engine = sa.create_engine(f"sqlite:///{path}")
    assert drift(engine) == []
    engine.dispose()
