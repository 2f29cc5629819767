"""Witness cosignatures kept on the stored checkpoints ('audit add-cosignatures') and a verifier
with a witness policy (setting witness_policy) that proves a release against a checkpoint its
quorum of witnesses cosigned: a real release, real Ed25519 witnesses (``cosign`` plays them)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.errors import AuditError
from pocketstudio.policy.checkpoint import Checkpoint
from pocketstudio.policy.cosignature import cosign
from pocketstudio.provenance.verify import CheckName, Verifier

from .conftest import NOW

runner = CliRunner()
T = 1_800_000_000


@pytest.fixture
def witnessed_home(settings, tiny_generator, tmp_path):
    """A home with one release, and a policy file: both of witnesses A and B must cosign."""
    studio = Studio(settings, generator=tiny_generator)
    release = studio.generate(GenerationRequest(prompt="a red circle on a blue background", requester="alice",
                                                seed=1, size=128), tmp_path / "r.png", now=NOW)
    witnesses = {name: ed25519.Ed25519PrivateKey.generate() for name in ("A", "B", "X")}
    policy = tmp_path / "witnesses.policy"
    policy.write_text("".join(f"witness {n} {witnesses[n].public_key().public_bytes_raw().hex()}\n" for n in "AB")
                      + "group both all A B\nquorum both\n")
    return studio, release, witnesses, settings.with_(witness_policy=policy), tmp_path


def _audit(settings, path):
    verdict = Verifier.open(settings).verify(path, now=NOW)
    return next(c for c in verdict.checks if c.name == CheckName.AUDIT), verdict


def _cosigned(studio, witnesses, *names):
    note = studio.audit.checkpoint(NOW)[1]
    for name in names:
        note = cosign(note, name, witnesses[name], T)
    return note


def test_release_is_proven_against_a_checkpoint_its_witnesses_cosigned(witnessed_home):
    studio, release, witnesses, settings, tmp_path = witnessed_home
    check, verdict = _audit(settings, tmp_path / "r.png")
    assert check.ok is None and check.evidence["not_yet_witnessed"] and "add-cosignatures" in check.summary
    assert verdict.status.value == "trusted"  # undecided, not failed: witnesses cosign after the fact
    (tmp_path / "only-a.note").write_text(_cosigned(studio, witnesses, "A"))
    (tmp_path / "a-and-b.note").write_text(_cosigned(studio, witnesses, "B"))  # same checkpoint, B's line
    done = runner.invoke(app, ["audit", "add-cosignatures", str(tmp_path / "only-a.note"), str(tmp_path / "a-and-b.note"),
                               "--home", str(settings.home), "--json"])
    assert done.exit_code == 0, done.output
    assert [k["new_signature_lines"] for k in json.loads(done.stdout)["kept"]] == [1, 1]
    check, verdict = _audit(settings, tmp_path / "r.png")
    assert check.ok is True and check.evidence["witnesses"] == ["A", "B"] and "cosigned by A, B" in check.summary
    assert verdict.status.value == "trusted"
    again = runner.invoke(app, ["audit", "add-cosignatures", str(tmp_path / "a-and-b.note"), "--home", str(settings.home),
                                "--json"])
    assert json.loads(again.stdout)["kept"][0]["new_signature_lines"] == 0  # kept once
    assert studio.audit.verify()["records"] == 1


def test_cosignatures_of_an_outsider_do_not_count(witnessed_home):
    studio, _, witnesses, settings, tmp_path = witnessed_home
    studio.audit.add_cosignatures(_cosigned(studio, witnesses, "A", "X"))
    check, _ = _audit(settings, tmp_path / "r.png")
    assert check.ok is None and check.evidence["not_yet_witnessed"]


def test_attack_cosigned_fork_of_the_log_is_refused(witnessed_home):
    """A checkpoint signed with the log's key but naming another root (a split view shown to the
    witnesses) is not this log's history: it is refused, not stored."""
    studio, _, witnesses, settings, _ = witnessed_home
    real = Checkpoint.verify(studio.audit.checkpoint(NOW)[1], studio.audit.verifier)
    fork = Checkpoint(real.origin, real.size, bytes(32)).sign(studio.audit.signer)
    with pytest.raises(AuditError, match="a different history"):
        studio.audit.add_cosignatures(cosign(cosign(fork, "A", witnesses["A"], T), "B", witnesses["B"], T))
    bigger = Checkpoint(real.origin, real.size + 5, real.root).sign(studio.audit.signer)
    with pytest.raises(AuditError, match="not this log's history"):
        studio.audit.add_cosignatures(bigger)


def test_attack_note_not_signed_by_the_log_is_refused_and_json_stays_json(witnessed_home):
    studio, _, witnesses, settings, tmp_path = witnessed_home
    other = ed25519.Ed25519PrivateKey.generate()
    from pocketstudio.policy.checkpoint import NoteSigner

    real = Checkpoint.verify(studio.audit.checkpoint(NOW)[1], studio.audit.verifier)
    forged = Checkpoint(real.origin, real.size, real.root).sign(NoteSigner(real.origin, other))
    (tmp_path / "forged.note").write_text(cosign(forged, "A", witnesses["A"], T))
    done = runner.invoke(app, ["audit", "add-cosignatures", str(tmp_path / "forged.note"), "--home", str(settings.home),
                               "--json"])
    assert done.exit_code != 0
    assert json.loads(done.stdout)["error"]["type"] == "AuditError"
    check, _ = _audit(settings, tmp_path / "r.png")
    assert check.ok is None  # nothing was stored


def test_attack_forged_witness_line_on_a_stored_checkpoint_fails_the_audit_check(witnessed_home):
    """A stored checkpoint whose line under witness B's name and key id was not made by B (someone
    with database access adding cosignatures): the verifier refuses it instead of counting it."""
    studio, _, witnesses, settings, tmp_path = witnessed_home
    good = _cosigned(studio, witnesses, "A", "B")
    body, _, block = good.rpartition("\n\n")
    lines = block.splitlines()
    name, b64 = lines[-1][2:].split(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[-1] ^= 1  # B's key id and timestamp, a signature B never made
    forged = body + "\n\n" + "\n".join(lines[:-1] + [f"{lines[-1][:2]}{name} {base64.b64encode(bytes(blob)).decode()}"]) + "\n"
    studio.audit.add_cosignatures(forged)
    check, verdict = _audit(settings, tmp_path / "r.png")
    assert check.ok is False and "does not verify" in check.summary
    assert verdict.status.value != "trusted"
