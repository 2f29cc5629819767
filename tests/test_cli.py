"""The command line as a user runs it (typer's runner over the real app, real data directory)."""

import pytest
import json
import os
import subprocess
import sys

from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.store import Store
from pocketstudio.safety.registry import Registry

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_init_creates_database_and_keys(tmp_path):
    home = tmp_path / "home"
    result = run("init", "--home", home, "--alg", "ed25519")
    assert result.exit_code == 0, result.output
    assert (home / "pocketstudio.db").exists() and (home / "keys" / "claim-signing.chain.pem").exists()
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ed25519
    leaf = x509.load_pem_x509_certificates((home / "keys" / "claim-signing.chain.pem").read_bytes())[0]
    assert isinstance(leaf.public_key(), ed25519.Ed25519PublicKey)
    assert "Claim Signer" in run("keys", "show", "--home", home).output


def test_generate_verify_and_audit_from_the_command_line(tmp_path, tiny_model_dir):
    home, out = tmp_path / "home", tmp_path / "pic.png"
    result = run("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--seed", "11", "--home", home, "--json")
    assert result.exit_code == 0, result.output
    released = json.loads(result.stdout)
    assert released["released"] and out.exists() and released["seed"] == "11"

    verdict = run("verify", out, "--home", home, "--json")
    assert verdict.exit_code == 0
    parsed = json.loads(verdict.stdout)
    assert parsed["status"] == "trusted" and parsed["asset_id"] == released["asset_id"]

    human = run("verify", out, "--home", home)
    assert "trusted" in human.stdout and released["asset_id"] in human.stdout

    listing = json.loads(run("audit", "list", "--home", home, "--json").stdout)
    assert [r["decision_id"] for r in listing] == [released["decision_id"]]
    shown = json.loads(run("audit", "show", released["asset_id"], "--home", home).stdout)
    assert shown["opened"]["manifest_label"] == released["manifest"]  # private: in the operator's view only
    assert shown["index"] == released["audit_index"] == 0 and "manifest_label" not in shown
    assert "intact: 1 records" in run("audit", "verify", "--home", home).stdout


def test_denied_generation_exits_3_and_writes_nothing(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    run("init", "--home", home)
    Registry(Store.open(Settings.load(home).db_path)).register("Jane Example")
    out = tmp_path / "jane.png"
    result = run("generate", "Jane Example smiling", "-o", out, "--model", tiny_model_dir, "--home", home)
    assert result.exit_code == 3 and not out.exists()
    assert "without valid consent" in result.output and "Jane" not in result.output.split("denied:")[1]
    denied = json.loads(run("audit", "list", "--effect", "deny", "--json", "--home", home).stdout)
    assert len(denied) == 1 and denied[0]["outcome"] == "denied"


def test_bad_inputs_get_clear_errors(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    result = run("verify", corrupt, "--home", home)
    assert result.exit_code == 1 and "not a readable image" in result.output
    result = run("verify", tmp_path / "missing.png", "--home", home)
    assert result.exit_code == 1 and "no such file" in result.output
    result = run("generate", "x", "-o", tmp_path / "x.png", "--model", tmp_path / "no-model", "--home", home)
    assert result.exit_code == 1 and not (tmp_path / "x.png").exists()
    result = run("audit", "show", "nope", "--home", home)
    assert result.exit_code == 1


def test_stripped_image_verifies_as_recovered(tmp_path, tiny_model_dir):
    home, out = tmp_path / "home", tmp_path / "pic.png"
    released = json.loads(run("generate", "a blue square", "-o", out, "--model", tiny_model_dir, "--home", home, "--json").stdout)
    stripped = tmp_path / "stripped.jpg"
    Image.open(out).convert("RGB").save(stripped, "JPEG", quality=90)
    parsed = json.loads(run("verify", stripped, "--home", home, "--json").stdout)
    assert parsed["status"] == "recovered-via-watermark" and parsed["asset_id"] == released["asset_id"]


@pytest.mark.slow
def test_console_script_with_the_embedded_default_model(tmp_path):
    """The README's main job: the installed `pocketstudio` script, the shipped model, a trusted verdict."""
    env = dict(os.environ, POCKETSTUDIO_HOME=str(tmp_path / "home"))
    exe = os.path.join(os.path.dirname(sys.executable), "pocketstudio")
    out = tmp_path / "default.png"
    gen = subprocess.run([exe, "generate", "a red circle on a blue background", "-o", str(out), "--json"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert gen.returncode == 0, gen.stderr
    released = json.loads(gen.stdout)
    from pocketstudio.core.generator import DEFAULT_MODEL_DIR

    shipped = json.loads((DEFAULT_MODEL_DIR / "pocketstudio.json").read_text())["name"]
    assert released["model"] == shipped
    ver = subprocess.run([exe, "verify", str(out), "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert ver.returncode == 0, ver.stderr
    verdict = json.loads(ver.stdout)
    assert verdict["status"] == "trusted" and verdict["manifest"]["model"]["name"] == shipped
    assert verdict["asset_id"] == released["asset_id"]


def test_audit_checkpoint_prove_verify_proof_and_forget(tmp_path, tiny_model_dir):
    home, out = tmp_path / "home", tmp_path / "pic.png"
    released = json.loads(run("generate", "a cat", "-o", out, "--model", tiny_model_dir, "--home", home, "--json").stdout)
    note = run("audit", "checkpoint", "--home", home).stdout
    assert note.startswith("pocketstudio.local/audit/") and "\n\n\u2014 " in note

    bundle = tmp_path / "proof.json"
    assert run("audit", "prove", out, "-o", bundle, "--home", home).exit_code == 0  # by image
    # On "another machine": only the bundle and the public key file travel.
    key = tmp_path / "audit-log.pub"
    key.write_text((home / "keys" / "audit-log.pub").read_text())
    ok = run("audit", "verify-proof", bundle, "--key", key)
    assert ok.exit_code == 0 and released["decision_id"] in ok.stdout

    tampered = json.loads(bundle.read_text())
    tampered["record"] = tampered["record"].replace('"allow"', '"deny"')
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tampered))
    result = run("audit", "verify-proof", bad, "--key", key)
    assert result.exit_code == 1 and "does NOT verify" in result.output

    assert json.loads(run("audit", "list", "--rule", "generate.default-allow", "--json", "--home", home).stdout)
    assert json.loads(run("audit", "list", "--rule", "likeness.no-consent", "--json", "--home", home).stdout) == []
    assert run("audit", "forget", released["asset_id"], "--home", home).exit_code == 0
    assert json.loads(run("audit", "show", released["asset_id"], "--home", home).stdout)["openable"] is False
    assert run("audit", "verify-proof", bundle, "--key", key).exit_code == 0
    assert "intact: 1 records, 1 checkpoints" in run("audit", "verify", "--home", home).stdout


def test_audit_verify_says_where_the_database_was_edited(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    for i in range(3):
        run("generate", f"a dog {i}", "-o", tmp_path / f"d{i}.png", "--model", tiny_model_dir, "--home", home)
    import sqlite3

    with sqlite3.connect(home / "pocketstudio.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE leaf_index = 1")
    result = run("audit", "verify", "--home", home)
    assert result.exit_code == 1 and "leaf 1 is missing" in result.output


@pytest.mark.slow
def test_consent_enroll_grant_reference_and_revoke(tmp_path, tiny_model_dir, face_photos):
    home, key = tmp_path / "home", tmp_path / "person.key"
    two = Image.new("RGB", (1400, 700), (90, 90, 90))  # two real people side by side
    for x, name in ((0, "obama.jpg"), (700, "biden.jpg")):
        photo = Image.open(face_photos[name]).convert("RGB")
        photo.thumbnail((700, 700))
        two.paste(photo, (x, 0))
    two.save(tmp_path / "two.png")
    bad = run("consent", "enroll", "--name", "Two People", "--photo", tmp_path / "two.png", "--home", home)
    assert bad.exit_code == 1 and "2 faces found" in bad.output
    enrolled = run("consent", "enroll", "--name", "Barack Obama", "--alias", "Barry O", "--photo", face_photos["obama.jpg"],
                   "--photo", face_photos["obama2.jpg"], "--key-out", key, "--home", home)
    assert enrolled.exit_code == 0, enrolled.output
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    person_id = enrolled.stdout.split()[1].rstrip(":")

    gen = ["generate", "a portrait", "-o", tmp_path / "p.png", "--model", tiny_model_dir, "--size", "256",
           "--reference", face_photos["obama3.jpg"], "--requester", "alice", "--home", home]
    denied = run(*gen)
    assert denied.exit_code == 3 and not (tmp_path / "p.png").exists() and "Obama" not in denied.output

    granted = run("consent", "grant", person_id, "--key", key, "--grantee", "alice", "--purpose", "general",
                  "--until", "2099-01-01", "--home", home)
    assert granted.exit_code == 0, granted.output
    grant_id = granted.stdout.split()[1].rstrip(":")
    assert run(*gen).exit_code == 0 and (tmp_path / "p.png").exists()
    shown = json.loads(run("consent", "show", grant_id, "--home", home).stdout)
    assert shown["status"] == "valid" and shown["signature_valid"] is True
    listed = json.loads(run("consent", "list", "--json", "--home", home).stdout)
    assert listed[0]["person_id"] == person_id and listed[0]["grants"][0]["grant_id"] == grant_id

    assert run("consent", "revoke", grant_id, "--home", home).exit_code == 0
    (tmp_path / "p.png").unlink()
    assert run(*gen).exit_code == 3 and not (tmp_path / "p.png").exists()
    missing = run("generate", "x", "-o", tmp_path / "q.png", "--model", tiny_model_dir,
                  "--reference", tmp_path / "nope.jpg", "--home", home)
    assert missing.exit_code == 1 and "no such file" in missing.output
