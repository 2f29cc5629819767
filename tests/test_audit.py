import json
import threading

import pytest
import sqlalchemy as sa

from pocketstudio.core.errors import AuditError
from pocketstudio.core.store import Store, audit_log, audit_openings
from pocketstudio.policy.audit import AuditLog, commit
from pocketstudio.policy.engine import PolicyEngine

from .conftest import NOW


@pytest.fixture
def log(tmp_path):
    return AuditLog(Store.open(tmp_path / "audit.db"), "test/origin")


def _fill(log, n=5):
    engine = PolicyEngine()
    for i in range(n):
        d = engine.evaluate(requester=f"user{i}", purpose="general", persons=[], now=NOW, stage="post")
        log.append(d, outcome="released", now=NOW, prompt=f"secret prompt {i}", requester=f"user{i}",
                   purpose="general", asset_id=f"{i:016x}", manifest_sha256="ab" * 32,
                   watermark={"alg": "a", "id": f"{i:016x}"})


def test_chain_verifies_and_holds_commitments_not_clear_text(log):
    _fill(log)
    assert log.verify_chain() == 5
    with log.store.connect() as conn:
        raw = " ".join(r.record for r in conn.execute(sa.select(audit_log)))
        openings = {r.decision_id: json.loads(r.openings) for r in conn.execute(sa.select(audit_openings))}
    assert "secret prompt" not in raw and "user1" not in raw
    rec = log.get("1")
    opening = openings[rec.decision_id]["prompt"]
    assert commit(opening["value"], bytes.fromhex(opening["salt"])) == rec.record["commitments"]["prompt"]


def _tamper(log, statement):
    with log.store.begin() as conn:
        for part in statement.split(";"):
            conn.exec_driver_sql(part)


@pytest.mark.parametrize("statement,message", [
    ("UPDATE audit_log SET record = replace(record, '\"effect\":\"allow\"', '\"effect\":\"deny\"') WHERE seq = 3", "content"),
    ("UPDATE audit_log SET effect = 'deny' WHERE seq = 2", "indexed"),
    ("DELETE FROM audit_log WHERE seq = 3", "sequence"),
    ("DELETE FROM audit_log WHERE seq = 1", "sequence"),
    ("UPDATE audit_log SET seq = 99 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 4;"
     " UPDATE audit_log SET seq = 4 WHERE seq = 99", "sequence"),
    ("UPDATE audit_log SET prev_hash = record_hash WHERE seq = 5", "link"),
], ids=["edit-record", "edit-indexed-column", "delete-middle", "delete-first", "swap-rows", "relink"])
def test_any_edit_delete_or_reorder_is_detected(log, statement, message):
    _fill(log)
    _tamper(log, statement)
    with pytest.raises(AuditError, match=message):
        log.verify_chain()


def test_concurrent_appends_never_lose_or_duplicate(tmp_path):
    path = tmp_path / "audit.db"
    Store.open(path)
    engine = PolicyEngine()
    errors = []

    def worker(k):
        try:
            log = AuditLog(Store.open(path), "test/origin")
            for i in range(10):
                d = engine.evaluate(requester="u", purpose="general", persons=[], now=NOW, stage="post")
                log.append(d, outcome="released", now=NOW, prompt=f"{k}-{i}", requester="u", purpose="general")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log = AuditLog(Store.open(path), "test/origin")
    assert log.verify_chain() == 40
    assert len(set(log.iter_ids())) == 40


def test_unknown_reference_is_a_typed_error(log):
    with pytest.raises(AuditError, match="no audit record"):
        log.get("does-not-exist")
