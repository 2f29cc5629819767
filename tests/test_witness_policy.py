"""Witness policy files (Sigsum policy format) checked against real checkpoints of a real audit log,
cosigned by real Ed25519 witnesses (``cosign`` plays the witness), directly and through the CLI."""

from __future__ import annotations

import base64
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
from pocketstudio.policy.checkpoint import EM_DASH, CheckpointError, NoteSigner
from pocketstudio.policy.cosignature import Group, Witness, WitnessPolicy, WitnessPolicyError, cosign
from pocketstudio.policy.engine import Decision
from pocketstudio.policy.tiles import TileSource, monitor, publish, tlog_proof, verify_tlog_proof

NOW = dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
T = 1_800_000_000
runner = CliRunner()


def _hex(key: ed25519.Ed25519PrivateKey) -> str:
    """The public key as Sigsum policy files write it."""
    return key.public_key().public_bytes_raw().hex()


@pytest.fixture(scope="module")
def keys():
    """Witnesses A, B, C1, C2 (C1 and C2 form group C) and an outsider X."""
    return {name: ed25519.Ed25519PrivateKey.generate() for name in ("A", "B", "C1", "C2", "X")}


@pytest.fixture
def log(tmp_path):
    log = AuditLog(Store.open(tmp_path / "a.db"), NoteSigner("witness.test/audit", ed25519.Ed25519PrivateKey.generate()))
    log.append_many([PendingEntry(Decision(f"dec_{i}", "allow", ("default-allow",), "ok", "0" * 64, "prompt",
                                           NOW.isoformat()), "released", NOW, f"prompt {i}", "alice", "general",
                                  asset_id=f"asset{i}") for i in range(3)])
    return log


def _note(log) -> str:
    return log.checkpoint(NOW)[1]


def _signed(note: str, keys, *names: str) -> str:
    for name in names:
        note = cosign(note, name, keys[name], T)
    return note


def _nested(keys) -> str:
    """2 of (A, B, C), where C is any of (C1, C2): A's key as Sigsum hex, the others as vkeys."""
    return (f"# witnesses of the test log\n"
            f"witness A {_hex(keys['A'])} https://a.example/\n"
            f"witness B {Witness('B', keys['B'].public_key()).to_text()}\n"
            f"witness C1 {_hex(keys['C1'])}\n"
            f"witness C2 {_hex(keys['C2'])}\t# tab-separated comment\n"
            "\n"
            "group C any C1 C2\n"
            "group main 2 A B C\n"
            "quorum main\n")


def test_nested_groups_two_of_three_where_one_member_is_a_group(log, keys):
    policy = WitnessPolicy.parse(_nested(keys))
    assert policy.describe() == "2 of (A, B, any of (C1, C2))"
    assert policy.urls == {"A": "https://a.example/"}
    note = _note(log)
    assert policy.check(_signed(note, keys, "A", "C1"), log.verifier) == ["A", "C1"]
    assert policy.check(_signed(note, keys, "C2", "B"), log.verifier) == ["B", "C2"]
    assert policy.check(_signed(note, keys, "A", "B", "C1", "C2"), log.verifier) == ["A", "B", "C1", "C2"]
    # Group C counts once however many of its members cosigned; one member of main is not two.
    for names in (("C1", "C2"), ("A",), ()):
        with pytest.raises(CheckpointError, match=r"the policy needs 2 of \(A, B, any of \(C1, C2\)\)"):
            policy.check(_signed(note, keys, *names), log.verifier)


def test_witness_keys_flags_are_one_group_of_k(log, keys):
    texts = [Witness(n, keys[n].public_key()).to_text() for n in ("A", "B", "C1")]
    policy = WitnessPolicy.from_keys(texts, 2)
    note = _note(log)
    assert policy.check(_signed(note, keys, "A", "C1")) == ["A", "C1"]
    with pytest.raises(CheckpointError, match="1 valid witness cosignature"):
        policy.check(_signed(note, keys, "B"))
    assert WitnessPolicy.from_keys(texts, 0).check(note) == []
    assert WitnessPolicy.parse("quorum none\n").check(note) == []


def test_log_line_is_checked_against_the_log(log, keys):
    body = f"witness A {_hex(keys['A'])}\nquorum A\n"
    note = _signed(_note(log), keys, "A")
    raw = log.verifier.public_key.public_bytes_raw()
    assert WitnessPolicy.parse(f"log {raw.hex()}\n" + body).check(note, log.verifier) == ["A"]
    assert WitnessPolicy.parse(f"log {log.verifier.to_text()}\n" + body).check(note, log.verifier) == ["A"]
    other = _hex(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(WitnessPolicyError, match="for other logs"):
        WitnessPolicy.parse(f"log {other}\n" + body).check(note, log.verifier)


@pytest.mark.parametrize("text, line, message", [
    ("witness A {A}\ngroup G any A Z\nquorum G\n", 2, "'Z', which is no witness or group"),
    ("witness A {A}\nwitness A {B}\nquorum A\n", 2, "duplicate name 'A'"),
    ("witness A {A}\ngroup A any A\nquorum A\n", 2, "duplicate name 'A'"),
    ("witness A {A}\nwitness B {B}\ngroup G 3 A B\nquorum G\n", 3, "threshold of 3 is out of range 1 to 2"),
    ("witness A {A}\ngroup G 0 A\nquorum G\n", 2, "threshold of 0 is out of range"),
    ("witness A {A}\ngroup G -1 A\nquorum G\n", 2, "the threshold is all, any or a number"),
    ("witness A {A}\nwitness B {A}\nquorum A\n", 2, "same key as witness A"),
    ("witness A {A}\nwitness B {B}\ngroup G any A B\ngroup H any A\nquorum H\n", 4, "A is already a member"),
    ("witness A {A}\ngroup G all A none\nquorum G\n", 2, "names 'none', which is only a quorum"),
    ("witness none {A}\nquorum none\n", 1, "'none' is the predefined empty quorum"),
    ("witness A {A}\nquorum A\nquorum none\n", 3, "a second quorum line (the first is line 2)"),
    ("witness A {A}\n", None, "no quorum line"),
    ("witness A abcd\nquorum A\n", 1, "write 64 hex digits or name+keyid+base64"),
    ("witness A {Bvkey}\nquorum A\n", 1, "its key is named 'B'"),
    ("witnes A {A}\nquorum A\n", 1, "unknown keyword 'witnes'"),
    ("witness A\nquorum A\n", 1, "a witness line is: witness NAME KEY [URL]"),
    ("log 00\nquorum none\n", 1, "log key"),
    ("witness A {A}\x0b\nquorum A\n", 1, "control character"),
])
def test_policy_file_errors_are_typed_and_name_their_line(keys, text, line, message):
    text = text.format(A=_hex(keys["A"]), B=_hex(keys["B"]), Bvkey=Witness("B", keys["B"].public_key()).to_text())
    with pytest.raises(WitnessPolicyError) as caught:
        WitnessPolicy.parse(text)
    assert caught.value.line == line and message in str(caught.value)
    assert isinstance(caught.value, AuditError)  # a PocketStudioError: exit 1, never a traceback


def test_attack_witness_policy_with_a_cycle_is_refused(keys):
    a = _hex(keys["A"])
    with pytest.raises(WitnessPolicyError, match=r"names H, defined on line 3: .*rules out cycles") as caught:
        WitnessPolicy.parse(f"witness A {a}\ngroup G any A H\ngroup H any G\nquorum G\n")
    assert caught.value.line == 2
    with pytest.raises(WitnessPolicyError, match="names itself"):
        WitnessPolicy.parse(f"witness A {a}\ngroup G any A G\nquorum G\n")
    # The same rules hold for a policy built in Python: a cycle can't be evaluated, so it can't be built.
    witness = Witness("A", keys["A"].public_key())
    with pytest.raises(WitnessPolicyError, match="no witness or group"):
        WitnessPolicy((witness,), (Group("G", 1, ("A", "H")), Group("H", 1, ("G",))), "G")


def test_attack_forged_cosignature_under_a_policy_witness_name(log, keys):
    policy = WitnessPolicy.parse(f"witness A {_hex(keys['A'])}\nwitness B {_hex(keys['B'])}\n"
                                 "group G any A B\nquorum G\n")
    note = _note(log)
    # 1. Signed under A's name with the attacker's own key: another key id, so never counted.
    forged = cosign(note, "A", ed25519.Ed25519PrivateKey.generate(), T)
    with pytest.raises(CheckpointError, match="0 valid witness cosignature"):
        policy.check(forged, log.verifier)
    # 2. A's name and key id on a signature that does not verify: an error even though B's genuine
    #    cosignature meets the quorum, and even after A's own genuine line.
    key_id = Witness("A", keys["A"].public_key()).key_id
    bad = base64.b64encode(key_id + struct.pack(">Q", T) + bytes(64)).decode()
    for cosigned in (_signed(note, keys, "B"), _signed(note, keys, "A", "B")):
        with pytest.raises(CheckpointError, match="cosignature of witness A does not verify"):
            policy.check(cosigned + f"{EM_DASH} A {bad}\n", log.verifier)
    # 3. A's key id on a blob too short to be a cosignature: refused, not skipped.
    short = base64.b64encode(key_id + struct.pack(">Q", T)).decode()
    with pytest.raises(CheckpointError, match="not an Ed25519 cosignature"):
        policy.check(_signed(note, keys, "B") + f"{EM_DASH} A {short}\n", log.verifier)


def test_attack_cosignature_by_a_witness_not_in_the_policy_counted_toward_the_quorum(log, keys):
    policy = WitnessPolicy.parse(_nested(keys))
    note = _signed(_note(log), keys, "A", "X")  # X is a real witness, just not one of this policy
    note = cosign(note, "C", keys["X"], T)  # nor under the name of one of its groups
    with pytest.raises(CheckpointError, match=r"carries 1 valid witness cosignature\(s\) \(A\)"):
        policy.check(note, log.verifier)


# -- through the CLI ----------------------------------------------------------------------------------

def _files(tmp_path, log, keys, *cosigners):
    """A tlog-proof whose checkpoint the ``cosigners`` cosigned, the log's key file and the policy file."""
    head, _, note = tlog_proof(log, "dec_1").partition("\n\n")
    proof, key, policy = tmp_path / "p.tlog-proof", tmp_path / "log.pub", tmp_path / "witnesses.policy"
    proof.write_text(head + "\n\n" + _signed(note, keys, *cosigners))
    key.write_text(log.verifier.to_text())
    policy.write_text(f"log {log.verifier.to_text()}\n" + _nested(keys))
    return proof, key, policy


def test_attack_checkpoint_below_quorum_accepted_through_the_cli_with_a_policy_file(tmp_path, log, keys):
    proof, key, policy = _files(tmp_path, log, keys, "C1", "C2")
    args = ["audit", "verify-proof", str(proof), "--key", str(key), "--witness-policy", str(policy), "--json"]
    below = runner.invoke(app, args)
    assert below.exit_code == 1
    shown = json.loads(below.stdout)
    assert shown["verified"] is False and shown["error"]["type"] == "AuditError"
    assert "the policy needs 2 of (A, B, any of (C1, C2))" in shown["error"]["message"]
    assert runner.invoke(app, args[:-1]).exit_code == 1  # and in words
    # Cosigned by A and one of group C: accepted, and the JSON says by whom.
    proof, key, policy = _files(tmp_path, log, keys, "C2", "A")
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    shown = json.loads(ok.stdout)
    assert shown["verified"] and shown["leaf_index"] == 1 and shown["witnesses"] == ["A", "C2"]
    assert shown["record"]["decision_id"] == "dec_1" and shown["log_origin"] == "witness.test/audit"
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0 and "cosigned by A, C2" in text.output


def test_policy_file_errors_through_the_cli_are_json(tmp_path, log, keys):
    proof, key, policy = _files(tmp_path, log, keys, "A", "B")
    policy.write_text(f"witness A {_hex(keys['A'])}\ngroup G any A H\ngroup H any G\nquorum G\n")
    result = runner.invoke(app, ["audit", "verify-proof", str(proof), "--key", str(key),
                                 "--witness-policy", str(policy), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "WitnessPolicyError" and f"witness policy {policy} line 2:" in error["message"]
    both = runner.invoke(app, ["audit", "verify-proof", str(proof), "--key", str(key), "--json",
                               "--witness-policy", str(policy), "--witness", Witness("A", keys["A"].public_key()).to_text()])
    assert both.exit_code == 2 and json.loads(both.stdout)["error"]["type"] == "UsageError"


def test_monitor_with_a_policy_file_and_json(tmp_path, log, keys):
    pub = tmp_path / "pub"
    publish(log, pub, NOW)
    _, key, policy = _files(tmp_path, log, keys)
    args = ["audit", "monitor", "--checkpoint", str(tmp_path / "seen"), "--tiles", str(pub), "--key", str(key),
            "--witness-policy", str(policy), "--json"]
    below = runner.invoke(app, args)
    assert below.exit_code == 1 and json.loads(below.stdout)["passed"] is False
    assert not (tmp_path / "seen").exists()  # nothing saved from a checkpoint the policy refused
    (pub / "checkpoint").write_text(_signed((pub / "checkpoint").read_text(), keys, "B", "C1"))
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    shown = json.loads(ok.stdout)
    assert shown == {"passed": True, "origin": "witness.test/audit", "old_size": 0, "size": 3, "new_entries": 3,
                     "witnesses": ["B", "C1"], "saved": str(tmp_path / "seen")}
    assert monitor(None, TileSource(pub), log.verifier, WitnessPolicy.load(policy)).witnesses == ("B", "C1")


def test_witness_policy_setting_from_config_toml_and_the_environment(tmp_path, log, keys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    proof, key, policy = _files(tmp_path, log, keys, "A")
    (home / "witnesses.policy").write_text(policy.read_text())
    (home / "config.toml").write_text('witness_policy = "witnesses.policy"\n')  # relative: from the data directory
    args = ["audit", "verify-proof", str(proof), "--key", str(key), "--home", str(home), "--json"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "the policy needs 2 of" in json.loads(refused.stdout)["error"]["message"]
    # --witness replaces the setting; so does a --witness-policy flag, and the environment beats the file.
    a_only = Witness("A", keys["A"].public_key()).to_text()
    assert runner.invoke(app, args + ["--witness", a_only]).exit_code == 0
    lenient = tmp_path / "any.policy"
    lenient.write_text(f"witness A {_hex(keys['A'])}\nquorum A\n")
    assert runner.invoke(app, args + ["--witness-policy", str(lenient)]).exit_code == 0
    monkeypatch.setenv("POCKETSTUDIO_WITNESS_POLICY", str(lenient))
    assert json.loads(runner.invoke(app, args).stdout)["witnesses"] == ["A"]
    monkeypatch.setenv("POCKETSTUDIO_WITNESS_POLICY", str(tmp_path / "missing.policy"))
    missing = runner.invoke(app, args)
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"]["type"] == "InputFileError"


def test_verify_tlog_proof_checks_the_policy_and_its_log_line(log, keys):
    head, _, note = tlog_proof(log, "dec_2").partition("\n\n")
    text = head + "\n\n" + _signed(note, keys, "A", "B")
    assert verify_tlog_proof(text, log.verifier, WitnessPolicy.parse(_nested(keys)))["witnesses"] == ["A", "B"]
    with pytest.raises(AuditError, match="for other logs"):
        verify_tlog_proof(text, log.verifier,
                          WitnessPolicy.parse(f"log {_hex(ed25519.Ed25519PrivateKey.generate())}\n" + _nested(keys)))
