"""The audit log on a real SQLite file: tamper evidence, concurrency, privacy, offline proofs."""

import base64
import re
import json
import multiprocessing as mp
import threading

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from pocketstudio.core.base.errors import AuditError
from pocketstudio.core.base.store import Store, audit_openings
from pocketstudio.policy import merkle
from pocketstudio.policy.audit import (AuditLog, PendingEntry, commit_value, verify_proof_bundle)
from pocketstudio.policy.checkpoint import Checkpoint, NoteSigner, NoteVerifier
from pocketstudio.policy.engine import PolicyEngine

from .conftest import NOW

ORIGIN = "test.example/audit"


def _signer(seed=b"\x01" * 32):
    return NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.from_private_bytes(seed))


@pytest.fixture
def log(tmp_path):
    return AuditLog(Store.open(tmp_path / "audit.db"), _signer(), checkpoint_file=tmp_path / "audit-checkpoint")


def _entry(i, engine=PolicyEngine()):
    d = engine.evaluate(requester=f"user{i}", purpose="general", persons=[], now=NOW, stage="post")
    return PendingEntry(d, "released", NOW, f"secret prompt {i}", f"user{i}", "general", (d,), f"{i:016x}",
                        "ab" * 32, None, {"alg": "a", "id": f"{i:016x}"})


def _fill(log, n=8):
    return log.append_many([_entry(i) for i in range(n)])


def test_tree_matches_a_reference_tree_and_records_hide_clear_text(log):
    records = _fill(log, 13)
    reference = merkle.MemoryTree([json.dumps(r.record, separators=(",", ":"), sort_keys=True).encode() for r in records])
    assert log.root() == reference.root()
    assert log.verify() == {"records": 13, "root": reference.root().hex(), "checkpoints": 0, "kept_checkpoint": 13}
    raw = json.dumps([r.record for r in log.records()])
    assert "secret prompt" not in raw and "user3" not in raw
    opening = log.openings(records[3].decision_id)["prompt"]
    assert commit_value(opening["value"], bytes.fromhex(opening["salt"])) == records[3].record["commitments"]["prompt"]
    assert "inputs" in records[3].record["commitments"]


def _tamper(log, statements):
    with log.store.begin() as conn:
        for statement in statements.split(";"):
            conn.exec_driver_sql(statement)


@pytest.mark.parametrize("statements,where", [
    ("UPDATE audit_log SET record = replace(record, '\"outcome\":\"released\"', '\"outcome\":\"denied\"') WHERE leaf_index = 2",
     "leaf 2: signature"),
    ("UPDATE audit_log SET record = replace(record, '{\"asset_id\"', '{ \"asset_id\"') WHERE leaf_index = 1", "leaf 1: not in canonical"),
    ("UPDATE audit_log SET effect = 'deny' WHERE leaf_index = 1", "leaf 1: indexed columns"),
    ("DELETE FROM audit_log WHERE leaf_index = 2", "leaf 2 is missing"),
    ("DELETE FROM audit_log WHERE leaf_index = 7", "node"),
    ("UPDATE audit_log SET leaf_index = 99 WHERE leaf_index = 1; UPDATE audit_log SET leaf_index = 1 WHERE leaf_index = 3;"
     " UPDATE audit_log SET leaf_index = 3 WHERE leaf_index = 99", "leaf 1: carries position 3"),
    ("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 1", "node (level 1, index 1)"),
    ("UPDATE audit_log SET leaf_hash = zeroblob(32) WHERE leaf_index = 4", "leaf 4: stored leaf hash"),
], ids=["edit-record", "reformat-record", "edit-indexed-column", "delete-middle", "delete-last", "swap-rows",
        "edit-tree-node", "edit-leaf-hash"])
def test_any_edit_delete_or_reorder_fails_verify_and_says_where(log, statements, where):
    _fill(log)
    log.checkpoint(NOW)
    _tamper(log, statements)
    with pytest.raises(AuditError, match=re.escape(where)):
        log.verify()


def test_replaced_or_forged_checkpoint_fails_verify(log):
    _fill(log, 4)
    log.checkpoint(NOW)
    log.append_many([_entry(10), _entry(11)])
    cp, note = log.checkpoint(NOW)
    assert log.verify()["checkpoints"] == 2
    forged = Checkpoint(ORIGIN, 6, b"\x00" * 32).sign(_signer(b"\x02" * 32))  # another key
    _tamper(log, "UPDATE checkpoints SET note = '" + forged.replace("'", "''") + "' WHERE size = 6")
    with pytest.raises(AuditError, match="checkpoint at size 6"):
        log.verify()


def test_checkpoint_signed_by_our_key_over_a_wrong_root_fails(log):
    _fill(log, 4)
    wrong = Checkpoint(ORIGIN, 4, b"\x11" * 32).sign(log.signer)
    with log.store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO checkpoints VALUES (4, ?, ?, 'now')", (b"\x11" * 32, wrong))
    with pytest.raises(AuditError, match="root does not match"):
        log.verify()


def test_proof_bundle_verifies_offline_with_only_the_public_key(log):
    records = _fill(log, 11)
    bundle = json.loads(json.dumps(log.prove(records[6].decision_id, NOW)))  # through text, as on disk
    verifier = NoteVerifier.from_text(log.verifier.to_text())
    assert verify_proof_bundle(bundle, verifier)["decision_id"] == records[6].decision_id
    log.append_many([_entry(20)])  # the log grows; the old bundle still verifies
    assert verify_proof_bundle(bundle, verifier)["index"] == 6


@pytest.mark.parametrize("corruption", ["record-edited", "signature-swapped", "proof-element-flipped",
                                        "checkpoint-from-other-key", "leaf-index-shifted", "wrong-public-key"])
def test_corrupted_bundles_are_rejected(log, corruption):
    records = _fill(log, 9)
    bundle = log.prove(records[2].decision_id, NOW)
    other = log.prove(records[3].decision_id, NOW)
    verifier = log.verifier
    if corruption == "record-edited":
        bundle["record"] = bundle["record"].replace('"released"', '"denied"')
    elif corruption == "signature-swapped":
        bundle["record_signature"] = other["record_signature"]
    elif corruption == "proof-element-flipped":
        first = bytearray(base64.b64decode(bundle["inclusion_proof"][0]))
        first[0] ^= 1
        bundle["inclusion_proof"][0] = base64.b64encode(bytes(first)).decode()
    elif corruption == "checkpoint-from-other-key":
        cp = Checkpoint.parse(bundle["checkpoint"].split("\n\n")[0] + "\n")
        bundle["checkpoint"] = cp.sign(_signer(b"\x03" * 32))
    elif corruption == "leaf-index-shifted":
        bundle["leaf_index"] += 1
    elif corruption == "wrong-public-key":
        verifier = _signer(b"\x04" * 32).verifier
    with pytest.raises(AuditError, match="rejected"):
        verify_proof_bundle(bundle, verifier)


def test_forget_removes_openings_but_proofs_still_verify(log):
    records = _fill(log, 5)
    root = log.root()
    bundle = log.prove(records[1].decision_id, NOW)
    log.forget(records[1].decision_id)
    assert log.openings(records[1].decision_id) is None
    assert log.openings(records[2].decision_id) is not None
    assert log.root() == root and log.verify()["records"] == 5
    assert verify_proof_bundle(bundle, log.verifier)["decision_id"] == records[1].decision_id


def test_retention_purges_expired_openings(tmp_path):
    import datetime as dt

    log = AuditLog(Store.open(tmp_path / "a.db"), _signer(), retention=dt.timedelta(days=30))
    _fill(log, 3)
    assert log.purge_expired(NOW + dt.timedelta(days=29)) == 0
    assert log.purge_expired(NOW + dt.timedelta(days=31)) == 3
    with log.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_openings)).scalar() == 0
    assert log.verify()["records"] == 3


def test_concurrent_threads_never_lose_duplicate_or_reorder(tmp_path):
    path = tmp_path / "audit.db"
    Store.open(path)
    errors = []

    def worker(k):
        try:
            log = AuditLog(Store.open(path), _signer())
            for i in range(10):
                log.append_many([_entry(k * 100 + i)])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log = AuditLog(Store.open(path), _signer())
    assert log.verify()["records"] == 40
    assert len(set(log.iter_ids())) == 40


def _process_worker(path, k):
    log = AuditLog(Store.open(path), _signer())
    for i in range(8):
        log.append_many([_entry(k * 100 + i)])


def test_concurrent_processes_never_lose_duplicate_or_reorder(tmp_path):
    path = str(tmp_path / "audit.db")
    Store.open(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(path, k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    log = AuditLog(Store.open(path), _signer())
    assert log.verify()["records"] == 24
    assert len(set(log.iter_ids())) == 24


def test_unknown_reference_is_a_typed_error(log):
    with pytest.raises(AuditError, match="no audit record"):
        log.get("does-not-exist")


def test_verifier_key_text_round_trips_for_keys_whose_base64_contains_plus():
    for i in range(64):
        signer = _signer(bytes([i]) * 32)
        text = signer.verifier.to_text()
        assert NoteVerifier.from_text(text).key_id == signer.verifier.key_id
    assert any("+" in _signer(bytes([i]) * 32).verifier.to_text().split("+", 2)[2] for i in range(64))


def test_canonical_fast_path_is_byte_identical_to_rfc8785():
    """``canonical`` takes the C JSON encoder for float-free values; on every generated value
    (control characters, escapes, non-ASCII text and keys, astral characters, lone surrogates,
    edge integers, floats) it must give rfc8785's bytes, or its error."""
    import random

    import rfc8785

    from pocketstudio.policy.audit import _plain_json, canonical

    rng = random.Random(8785)
    alphabet = [chr(c) for c in range(0x80)] + list("é中\u2028\u2029\ufeff\ue000\uffff\U0001d49c\U0001f600\ud800")

    def text(k):
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(k)))

    def value(depth=0):
        r = rng.random()
        if depth > 3 or r < 0.5:
            return rng.choice([lambda: text(12), lambda: rng.choice([0, -1, 2**53 - 1, -(2**53 - 1), 2**53, -2**53,
                                                                      rng.randrange(-10**12, 10**12)]),
                               lambda: rng.choice([True, False, None]),
                               lambda: rng.choice([0.5, 1.0, -0.0, 1e21, 3.3e-7, 123456789.125])])()
        if r < 0.75:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {text(6) or "k": value(depth + 1) for _ in range(rng.randrange(5))}

    fast = 0
    for _ in range(5000):
        v = value()
        outcomes = []
        for fn in (rfc8785.dumps, canonical):
            try:
                outcomes.append(fn(v))
            except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1], v
        fast += _plain_json(v)
    assert 1000 < fast < 5000  # both paths were exercised


def test_head_root_from_the_right_edge_matches_the_reference_tree():
    from pocketstudio.policy.audit import _Head

    tree = merkle.MemoryTree()
    for n in range(0, 140):
        edge = {(level, (n >> level) - 1): tree.levels[level][(n >> level) - 1]
                for level in range(n.bit_length()) if n >> level & 1}
        assert _Head(n, edge).root() == tree.root(), n
        tree.append(f"leaf {n}".encode())


def test_two_writers_on_one_store_interleaving_batches_keep_one_tree(tmp_path):
    """Each writer caches the right edge it last committed; when the other writer has moved the
    head since, the edge must be read again, or the tree forks silently."""
    store = Store.open(tmp_path / "audit.db")
    a = AuditLog(store, _signer(), checkpoint_file=tmp_path / "audit-checkpoint")
    b = AuditLog(Store.open(tmp_path / "audit.db"), _signer(), checkpoint_file=tmp_path / "audit-checkpoint")
    records, i = [], 0
    for writer, count, grouped in [(a, 3, False), (b, 1, True), (a, 5, True), (a, 2, False), (b, 7, False),
                                   (a, 1, True), (b, 4, True), (b, 1, False), (a, 9, False)]:
        batch = [_entry(i + k) for k in range(count)]
        i += count
        records += writer.submit(batch) if grouped else writer.append_many(batch)
    reference = merkle.MemoryTree()
    for r in sorted(records, key=lambda r: r.index):
        reference.append_leaf_hash(r.leaf_hash)
    assert [r.index for r in records] == list(range(i))
    for log in (a, b):
        assert log.root() == reference.root()
        assert log.verify()["records"] == i
    assert a.kept_checkpoint().size == i and a.kept_checkpoint().root == reference.root()
