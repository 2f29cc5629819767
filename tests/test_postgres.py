"""The store on a real PostgreSQL server (tests/postgres.py starts it): the Alembic revisions, many
writers appending to one audit log, read-only replicas, typed errors, the CLI's --database-url."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import StoreError
from pocketstudio.core.base.store import SCHEMA_REVISION, Store, audit_log, metadata
from pocketstudio.policy.audit import AuditLog, NotYetCheckpointed, _seal
from pocketstudio.policy.checkpoint import NoteSigner
from pocketstudio.policy.engine import Decision

NOW = dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
runner = CliRunner()


def _decision(decision_id: str) -> Decision:
    return Decision(decision_id=decision_id, effect="allow", rule_ids=("default-allow",), reason="allowed",
                    stage="prompt", policy_set_hash="0" * 64, decided_at=NOW.isoformat(), inputs=())


def _log(url: str, key: ed25519.Ed25519PrivateKey, **kw) -> AuditLog:
    return AuditLog(Store.open(url), NoteSigner("fleet.test/audit", key), **kw)


def test_every_revision_runs_on_postgres_and_gives_the_model(pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store.open(pg_url)
    assert store.revision() == SCHEMA_REVISION and store.is_postgres
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    store.close()
    Store.open(pg_url).close()  # at the head: opens again without upgrading


def _open_concurrently(url: str, n: int) -> None:
    Store.open(url).close()


@pytest.mark.slow
def test_six_processes_opening_an_empty_database_at_once_all_end_at_the_head(pg_url):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open_concurrently, args=(pg_url, n)) for n in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 6
    assert Store.open_readonly(pg_url).revision() == SCHEMA_REVISION


def _writer(url: str, key_bytes: bytes, writer: int, count: int, threads: int) -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(key_bytes)
    log = _log(url, key)

    def run(t: int) -> None:
        for i in range(count):
            decision = _decision(f"dec_{writer}_{t}_{i}")
            from pocketstudio.policy.audit import PendingEntry

            log.submit([PendingEntry(decision, "released", NOW, "a prompt", "alice", "general",
                                     asset_id=f"a{writer}{t}{i}")])

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@pytest.mark.slow
def test_eight_writer_processes_with_group_commit_lose_and_duplicate_no_leaf(pg_url):
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    _log(pg_url, key).store.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(pg_url, raw, w, 10, 3)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0] * 8
    log = _log(pg_url, key)
    result = log.verify()
    assert result["records"] == 8 * 3 * 10
    with log.store.connect() as conn:
        ids = conn.execute(sa.select(audit_log.c.decision_id).where(audit_log.c.kind == "decision")).scalars().all()
    assert sorted(ids) == sorted(f"dec_{w}_{t}_{i}" for w in range(8) for t in range(3) for i in range(10))
    assert result["checkpoints"] >= 1  # writers store checkpoints for the replicas


def test_group_commit_hands_a_failing_writer_its_own_error_and_commits_the_others(pg_url):
    from pocketstudio.policy.audit import PendingEntry

    log = _log(pg_url, ed25519.Ed25519PrivateKey.generate())
    errors, done = [], []
    barrier = threading.Barrier(6)

    def run(n: int) -> None:
        def work(conn):
            if n == 3:
                conn.execute(sa.text("SELECT 1/0"))  # this writer's own rows fail

        barrier.wait()
        try:
            done.append(log.submit([PendingEntry(_decision(f"dec_{n}"), "released", NOW, "p", "alice", "general")],
                                   work)[0])
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append((n, exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [n for n, _ in errors] == [3] and len(done) == 5
    assert sorted(r.index for r in done) == list(range(5))
    assert log.verify()["records"] == 5


def test_a_writer_that_dies_mid_transaction_leaves_nothing_and_releases_the_head(pg_url):
    import os

    key = ed25519.Ed25519PrivateKey.generate()
    log = _log(pg_url, key)
    log.append(_decision("dec_before"), outcome="released", now=NOW, prompt="p", requester="a", purpose="g")
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_die_holding_the_head, args=(pg_url, key.private_bytes_raw()))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 9
    record = log.append(_decision("dec_after"), outcome="released", now=NOW, prompt="p", requester="a", purpose="g")
    assert record.index == 1 and log.verify()["records"] == 2
    assert os.getpid()


def _die_holding_the_head(url: str, raw: bytes) -> None:
    import os

    log = _log(url, ed25519.Ed25519PrivateKey.from_private_bytes(raw))
    conn = log.store.engine.connect()
    conn.begin()
    log._append(conn, [_seal(*_decision_item("dec_dies"))])
    os._exit(9)  # the connection drops: PostgreSQL rolls back and frees the advisory lock


def _decision_item(decision_id: str):
    from pocketstudio.policy.audit import PendingEntry

    return PendingEntry(_decision(decision_id), "released", NOW, "p", "a", "g").split()


def test_read_only_role_proves_against_the_newest_stored_checkpoint(postgres, pg_url):
    key = ed25519.Ed25519PrivateKey.generate()
    log = _log(pg_url, key, checkpoint_every=3600)
    first = log.append(_decision("dec_one"), outcome="released", now=NOW, prompt="p", requester="a", purpose="g")
    log.checkpoint(NOW)
    second = log.append(_decision("dec_two"), outcome="released", now=NOW, prompt="p", requester="a", purpose="g")
    dbname = pg_url.rsplit("/", 1)[1]
    postgres.sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='reader') THEN "
                 "CREATE ROLE reader LOGIN; END IF; END $$")
    postgres.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", dbname)
    reader_url = postgres.url(dbname, user="reader")
    replica = AuditLog(Store.open_readonly(reader_url), NoteSigner("fleet.test/audit", key))
    assert replica.verify()["records"] == 2
    bundle = replica.prove(first.entry_id)
    assert bundle["tree_size"] == 1
    with pytest.raises(NotYetCheckpointed, match="not yet checkpointed"):
        replica.prove(second.entry_id)
    with pytest.raises(StoreError, match="reading only"):
        replica.store.begin()
    # The role itself may not write, whatever the program does.
    with pytest.raises(StoreError, match="cannot be written with this role") as caught:
        with replica.store.connect() as conn:
            conn.execute(sa.text("INSERT INTO schema_version VALUES (99, 'x')"))
    assert "INSERT" not in str(caught.value).split("(")[0]


def test_unreachable_server_is_a_typed_error_without_sql(postgres):
    with pytest.raises(StoreError, match="cannot reach database") as caught:
        Store.open(f"postgresql+psycopg://nobody:secret@127.0.0.1:{postgres.port + 1}/none", timeout=2)
    assert "secret" not in str(caught.value) and "SELECT" not in str(caught.value)


def test_unsupported_scheme_says_what_to_use():
    with pytest.raises(StoreError, match="postgresql\\+psycopg"):
        Store.open("mysql://u@h/db")


def test_cli_init_and_audit_verify_on_postgres(tmp_path, pg_url, monkeypatch):
    home = tmp_path / "home"
    result = runner.invoke(app, ["init", "--home", str(home), "--database-url", pg_url])
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg://" in result.output
    assert not (home / "pocketstudio.db").exists()
    monkeypatch.setenv("POCKETSTUDIO_DATABASE_URL", pg_url)
    result = runner.invoke(app, ["audit", "verify", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "audit log intact" in result.output
    assert Settings.load(home).database_url == pg_url


def _release_in_child(home, url, generator, n: int) -> None:
    from pocketstudio.core.app.studio import GenerationRequest, Studio

    settings = Settings.load(home).with_(database_url=url)
    studio = Studio(settings, generator=generator)
    for i in range(2):
        studio.generate(GenerationRequest(prompt="a red circle on a blue background", requester="alice",
                                          seed=100 * n + i, size=128), home.parent / f"out-{n}-{i}.png")


@pytest.mark.slow
def test_eight_releasing_processes_on_postgres_verify_with_one_decision_leaf_each(tmp_path, pg_url, tiny_generator):
    import torch

    from pocketstudio.core.app.home import DataHome

    torch.set_num_threads(1)
    home = tmp_path / "home"
    settings = Settings.load(home).with_(database_url=pg_url)
    DataHome(settings).store.close()  # keys and schema made once, before the writers start
    DataHome(settings).keys
    ctx = multiprocessing.get_context("fork")  # the tiny model is already loaded: the children share it
    procs = [ctx.Process(target=_release_in_child, args=(home, pg_url, tiny_generator, n)) for n in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * 8
    assert len(list(tmp_path.glob("out-*.png"))) == 16
    log = DataHome(settings).audit
    assert log.verify()["records"] >= 16
    decisions = [r for r in log.records(kind="decision")]
    assert len(decisions) == 16 and len({r.decision_id for r in decisions}) == 16
    assert {r.outcome for r in decisions} == {"released"}
    result = runner.invoke(app, ["audit", "verify", "--home", str(home), "--database-url", pg_url])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_service_replica_with_a_select_only_role_verifies_resolves_and_proves(tmp_path, postgres, pg_url,
                                                                               tiny_generator):
    """A verifier replica needs nothing but SELECT: a release made by a writer is verified as
    trusted (with its audit proof against the stored checkpoint), found by its watermark binding
    and its proof served, through a service whose database role cannot write."""
    from fastapi.testclient import TestClient

    from pocketstudio.core.app.server import create_app
    from pocketstudio.core.app.studio import GenerationRequest, Studio

    home = tmp_path / "home"
    writer = Settings.load(home).with_(database_url=pg_url)
    release = Studio(writer, generator=tiny_generator).generate(
        GenerationRequest(prompt="a red circle on a blue background", requester="alice", seed=3, size=128),
        tmp_path / "r.png")
    dbname = pg_url.rsplit("/", 1)[1]
    postgres.sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='reader') THEN "
                 "CREATE ROLE reader LOGIN; END IF; END $$")
    postgres.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", dbname)
    replica = Settings.load(home).with_(database_url=postgres.url(dbname, user="reader"))
    client = TestClient(create_app(replica), base_url="http://127.0.0.1")
    verdict = client.post("/v1/verify", files={"file": ("r.png", (tmp_path / "r.png").read_bytes(), "image/png")})
    assert verdict.status_code == 200, verdict.text
    checks = {c["name"]: c["ok"] for c in verdict.json()["checks"]}
    assert verdict.json()["status"] == "trusted" and checks["audit"] is True and checks["watermark"] is True
    found = client.get("/matches/byBinding", params={"alg": release.watermark_alg, "value": release.asset_id})
    assert found.status_code == 200 and found.json()["matches"], found.text
    proof = client.get(f"/v1/audit/proof/{release.decision.decision_id}")
    assert proof.status_code == 200 and proof.json()["leaf_index"] == release.audit_index
