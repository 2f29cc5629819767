"""The audit log published as C2SP tlog-tiles, tlog-proof round trips, the monitor catching a
truncated or rewritten log from outside the database, and witness cosignatures."""

from __future__ import annotations

import datetime as dt
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.errors import AuditError
from pocketstudio.core.base.store import Store
from pocketstudio.policy.audit import AuditLog, PendingEntry
from pocketstudio.policy.checkpoint import NoteSigner
from pocketstudio.policy.cosignature import Witness, WitnessPolicy, cosign
from pocketstudio.policy.engine import Decision
from pocketstudio.policy.tiles import (TileSource, _index_path, entries_path, monitor, publish, tile_path, tlog_proof,
                                       verify_tlog_proof)

NOW = dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
runner = CliRunner()


def _log(path, key) -> AuditLog:
    return AuditLog(Store.open(path), NoteSigner("tiles.test/audit", key))


def _fill(log: AuditLog, n: int, tag: str = "d") -> None:
    entries = [PendingEntry(Decision(f"dec_{tag}_{i}", "allow", ("default-allow",), "ok", "0" * 64, "prompt",
                                     NOW.isoformat()), "released", NOW, f"secret prompt {tag} {i}", "alice", "general",
                            asset_id=f"asset{i}") for i in range(n)]
    for i in range(0, n, 200):
        log.append_many(entries[i:i + 200])


@pytest.fixture
def key():
    return ed25519.Ed25519PrivateKey.generate()


def test_tile_paths_are_the_specs():
    assert _index_path(1234067) == "x001/x234/067"
    assert _index_path(5) == "005"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 0, 17) == "tile/1/000.p/17"
    assert entries_path(3, 255) == "tile/entries/003.p/255"


def test_published_tiles_hold_the_tree_and_exactly_the_public_records(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 70_000 // 128)  # 546 leaves: two full level-0 tiles and a partial one
    out = tmp_path / "pub"
    done = publish(log, out, NOW)
    assert done.size == 546
    assert (out / "tile/0/000").stat().st_size == 8192 and (out / "tile/0/002.p/34").stat().st_size == 34 * 32
    assert (out / "tile/1/000.p/2").stat().st_size == 64
    data = (out / "tile/entries/002.p/34").read_bytes()
    (length,) = struct.unpack(">H", data[:2])
    record = json.loads(data[2:2 + length])
    assert record["index"] == 512 and "commitments" in record
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"secret prompt" not in everything and b"alice" not in everything  # no clear text, ever
    # The tiles alone rebuild the root the signed checkpoint names.
    result = monitor(None, TileSource(out), log.verifier)
    assert result.checkpoint.size == 546 and result.checkpoint.root == log.root(546)
    # Incremental: the full tiles are not written again.
    _fill(log, 10, tag="more")
    again = publish(log, out, NOW)
    assert again.size == 556 and again.tiles_written == 2 and again.bundles_written == 1  # tile/0/002.p, tile/1/000.p


def test_monitor_follows_growth_and_saves_the_new_checkpoint_through_the_cli(tmp_path, key):
    home_log = _log(tmp_path / "a.db", key)
    _fill(home_log, 5)
    pub, saved, keyfile = tmp_path / "pub", tmp_path / "seen.checkpoint", tmp_path / "log.pub"
    keyfile.write_text(home_log.verifier.to_text())
    publish(home_log, pub, NOW)
    args = ["audit", "monitor", "--checkpoint", str(saved), "--tiles", str(pub), "--key", str(keyfile)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "from 0 to 5" in first.output and saved.read_text().startswith("tiles.test/audit\n5\n")
    _fill(home_log, 300, tag="later")
    publish(home_log, pub, NOW)
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "from 5 to 305" in second.output and "\n305\n" in saved.read_text()


def test_attack_truncated_log_is_caught_by_the_monitor(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 40)
    pub = tmp_path / "pub"
    publish(log, pub, NOW)
    seen = monitor(None, TileSource(pub), log.verifier).note
    # The operator (holding the key) rebuilds the log with only its first 30 leaves and republishes.
    short = _log(tmp_path / "b.db", key)
    _fill(short, 30)
    republished = tmp_path / "pub2"
    publish(short, republished, NOW)
    with pytest.raises(AuditError, match="log truncated"):
        monitor(seen, TileSource(republished), log.verifier)


def test_attack_rewritten_log_is_caught_by_the_monitor(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 40)
    pub = tmp_path / "pub"
    publish(log, pub, NOW)
    seen = monitor(None, TileSource(pub), log.verifier).note
    # Same key, same size and more, other history: a re-signed log that dropped a decision.
    forged = _log(tmp_path / "b.db", key)
    _fill(forged, 50, tag="rewritten")
    out = tmp_path / "forged"
    publish(forged, out, NOW)
    with pytest.raises(AuditError, match="log rewritten"):
        monitor(seen, TileSource(out), log.verifier)


def test_attack_entry_bundle_swapped_under_a_good_checkpoint_is_caught(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 10)
    pub = tmp_path / "pub"
    publish(log, pub, NOW)
    bundle = pub / "tile/entries/000.p/10"
    data = bytearray(bundle.read_bytes())
    data[10] ^= 1
    bundle.write_bytes(bytes(data))
    with pytest.raises(AuditError, match="does not hash to its leaf"):
        monitor(None, TileSource(pub), log.verifier)


def test_tlog_proof_round_trip_and_a_changed_record_fails(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 7)
    text = tlog_proof(log, "dec_d_3")
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ") and "\nindex 3\n" in text
    proven = verify_tlog_proof(text, log.verifier)
    assert proven["record"]["decision_id"] == "dec_d_3" and proven["tree_size"] == 7
    lines = text.split("\n")
    lines[2] = "index 4"
    with pytest.raises(AuditError, match="rejected"):
        verify_tlog_proof("\n".join(lines), log.verifier)
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(AuditError, match="rejected"):
        verify_tlog_proof(text, NoteSigner("tiles.test/audit", other).verifier)


def test_cli_tlog_proof_checked_by_verify_proof_with_a_witness_policy(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 3)
    witness_key = ed25519.Ed25519PrivateKey.generate()
    witness = Witness("witness.example/w1", witness_key.public_key())
    # The log stores a checkpoint, a witness cosigns it and the log keeps the cosigned note.
    cp, note = log.checkpoint(NOW)
    cosigned = cosign(note, witness.name, witness_key, 1_800_000_000)
    assert witness.verify(cosigned) == 1_800_000_000
    from pocketstudio.core.base.store import checkpoints

    with log.store.begin() as conn:
        conn.execute(checkpoints.update().where(checkpoints.c.size == cp.size).values(note=cosigned))
    proof = tmp_path / "p.tlog-proof"
    proof.write_text(tlog_proof(log, "dec_d_1"))
    keyfile = tmp_path / "log.pub"
    keyfile.write_text(log.verifier.to_text())
    ok = runner.invoke(app, ["audit", "verify-proof", str(proof), "--key", str(keyfile),
                             "--witness", witness.to_text()])
    assert "c2sp.org/tlog-proof@v1" in proof.read_text()
    # prove signs the current tree in memory: no cosignature on it, so the policy is not met.
    assert ok.exit_code == 1 and "witness cosignature" in ok.output
    assert verify_tlog_proof(proof.read_text().split("\n\n")[0] + "\n\n" + cosigned, log.verifier,
                             WitnessPolicy.from_keys([witness.to_text()]))["witnesses"] == [witness.name]
    forged = cosign(note, witness.name, ed25519.Ed25519PrivateKey.generate(), 1_800_000_000)
    with pytest.raises(AuditError):
        verify_tlog_proof(proof.read_text().split("\n\n")[0] + "\n\n" + forged, log.verifier,
                          WitnessPolicy.from_keys([witness.to_text()]))


def test_monitor_enforces_the_witness_policy(tmp_path, key):
    log = _log(tmp_path / "a.db", key)
    _fill(log, 4)
    pub = tmp_path / "pub"
    publish(log, pub, NOW)
    wk = ed25519.Ed25519PrivateKey.generate()
    policy = WitnessPolicy.from_keys([Witness("w.example", wk.public_key()).to_text()])
    with pytest.raises(AuditError, match="0 valid witness"):
        monitor(None, TileSource(pub), log.verifier, policy)
    (pub / "checkpoint").write_text(cosign((pub / "checkpoint").read_text(), "w.example", wk, 1_800_000_000))
    assert monitor(None, TileSource(pub), log.verifier, policy).witnesses == ("w.example",)


def test_tiles_are_served_over_http(tmp_path, key):
    import functools
    import http.server
    import threading

    log = _log(tmp_path / "a.db", key)
    _fill(log, 3)
    publish(log, tmp_path / "pub", NOW)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "pub"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = monitor(None, TileSource(f"http://127.0.0.1:{server.server_port}/"), log.verifier)
    finally:
        server.shutdown()
    assert result.checkpoint.size == 3 and result.checkpoint.root == log.root(3)
