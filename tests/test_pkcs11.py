"""Claim signing on a PKCS#11 token (issue 19): a real SoftHSM2 token, keys made on it with
python-pkcs11, the real CLI, the tiny model, c2pa's validation with the local anchors."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import uuid

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import KeyMaterialError
from pocketstudio.provenance.keys import KeyStore, make_claim_signing_cert, make_root_ca, pem
from pocketstudio.provenance.manifest import build_manifest
from pocketstudio.provenance.sign import sign_image
from pocketstudio.provenance.verify import trust_context

from .conftest import NOW
from .test_keys import _facts, _png

pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 is in the test extra")
from pkcs11 import Attribute, KeyType, ObjectClass  # noqa: E402
from pkcs11.util.ec import encode_named_curve_parameters  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, SO_PIN = "pocketstudio-test", "246810", "13579111"
runner = CliRunner()

pytestmark = pytest.mark.skipif(not (shutil.which("softhsm2-util") and os.path.exists(MODULE)),
                                reason="SoftHSM2 is not installed (Debian: apt-get install softhsm2)")


@pytest.fixture(scope="session")
def token(tmp_path_factory):
    """One SoftHSM2 token for the session: the library reads SOFTHSM2_CONF once, when it first loads."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
                   check=True, capture_output=True, timeout=60)
    yield pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


def new_key(token, private_template: dict | None = None) -> str:
    """An EC P-256 key pair made on the token (the private half never leaves it); its label."""
    label = f"claim-{uuid.uuid4().hex[:8]}"
    with token.open(rw=True, user_pin=PIN) as session:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        params.generate_keypair(store=True, label=label, private_template=private_template)
    return label


def cli(*args, pin: str | None = PIN):
    """The real CLI; ``pin`` None runs it without POCKETSTUDIO_PKCS11_PIN."""
    return runner.invoke(app, [str(a) for a in args], env={"POCKETSTUDIO_PKCS11_PIN": pin}, catch_exceptions=False)


def use_pkcs11(home, label, *extra, pin=PIN):
    return cli("keys", "use-pkcs11", "--module", MODULE, "--token", TOKEN, "--label", label, "--home", home, *extra,
               pin=pin)


def signer_serial(data: bytes, home) -> int:
    keys = KeyStore(Settings.load(home))
    store = json.loads(c2pa.Reader.try_create("image/png", io.BytesIO(data), None, trust_context(keys)).json())
    return int(store["manifests"][store["active_manifest"]]["signature_info"]["cert_serial_number"])


def test_the_private_key_on_the_token_is_sensitive_and_not_extractable(token):
    label = new_key(token)
    with token.open(user_pin=PIN) as session:
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label=label)
        assert private[Attribute.EXTRACTABLE] is False and private[Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private[Attribute.VALUE]  # the token will not hand out the scalar


@pytest.mark.slow
def test_release_signed_on_the_token_verifies_trusted_and_use_local_switches_back(tmp_path, token, tiny_model_dir):
    home = tmp_path / "home"
    label = new_key(token)
    chosen = use_pkcs11(home, label)
    assert chosen.exit_code == 0, chosen.output
    assert "PKCS#11" in chosen.output and label in chosen.output
    shown = cli("keys", "show", "--home", home)
    assert f"key: in a PKCS#11 token, key '{label}' on PKCS#11 token '{TOKEN}'" in shown.output
    config = json.loads((home / "keys" / "pkcs11.json").read_text())
    assert config == {"module": MODULE, "token": TOKEN, "label": label}  # no PIN at rest
    assert PIN not in "".join(p.read_text(errors="ignore") for p in (home / "keys").iterdir() if p.is_file())

    # The certificate the local root issued is for the token's public key.
    leaf = x509.load_pem_x509_certificates((home / "keys" / "pkcs11.chain.pem").read_bytes())[0]
    with token.open(user_pin=PIN) as session:
        from pkcs11.util.ec import encode_ec_public_key
        on_token = encode_ec_public_key(session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC, label=label))
    assert leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == on_token

    out = tmp_path / "token.png"
    made = cli("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--seed", "3", "--home", home,
               "--no-service", "--json")
    assert made.exit_code == 0, made.output
    verdict = json.loads(cli("verify", out, "--home", home, "--json").stdout)
    assert verdict["status"] == "trusted"
    assert signer_serial(out.read_bytes(), home) == leaf.serial_number

    back = cli("keys", "use-local", "--home", home)
    assert back.exit_code == 0, back.output
    assert "key: local key file" in cli("keys", "show", "--home", home).output
    local = tmp_path / "local.png"
    assert cli("generate", "a green star", "-o", local, "--model", tiny_model_dir, "--seed", "3", "--home", home,
               "--no-service", pin=None).exit_code == 0  # no PIN needed any more
    local_leaf = x509.load_pem_x509_certificates((home / "keys" / "claim-signing.chain.pem").read_bytes())[0]
    assert signer_serial(local.read_bytes(), home) == local_leaf.serial_number != leaf.serial_number


@pytest.mark.slow
def test_attack_wrong_pin_at_release_blocks_it_and_is_audited(tmp_path, token, tiny_model_dir):
    home = tmp_path / "home"
    assert use_pkcs11(home, new_key(token)).exit_code == 0
    for pin, says in (("000000", "refused the PIN"), (None, "set POCKETSTUDIO_PKCS11_PIN")):
        out = tmp_path / "x.png"
        made = cli("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--home", home, "--no-service",
                   pin=pin)
        assert made.exit_code != 0 and says in made.output and "Traceback" not in made.output
        assert "blocked at step 'sign'" in made.output
        assert not out.exists() and list(tmp_path.glob("*.png")) == []
    listing = json.loads(cli("audit", "list", "--home", home, "--json").stdout)
    assert [r["outcome"] for r in listing] == ["failed:sign", "failed:sign"]
    assert all(r["effect"] == "deny" for r in listing)
    assert "intact: 2 records" in cli("audit", "verify", "--home", home).stdout


def test_attack_wrong_pin_token_or_label_at_use_pkcs11_changes_nothing(tmp_path, token):
    home = tmp_path / "home"
    label = new_key(token)
    cases = [
        (dict(pin="000000"), "refused the PIN"),
        (dict(pin=None), "POCKETSTUDIO_PKCS11_PIN"),
        (dict(token_label="no-such-token"), "no PKCS#11 token labelled 'no-such-token'"),
        (dict(label="no-such-key"), "holds no EC private key labelled 'no-such-key'"),
        (dict(module=str(tmp_path / "missing.so")), "is missing"),
    ]
    for case, says in cases:
        result = cli("keys", "use-pkcs11", "--module", case.get("module", MODULE), "--token",
                     case.get("token_label", TOKEN), "--label", case.get("label", label), "--home", home,
                     pin=case.get("pin", PIN))
        assert result.exit_code != 0 and says in result.output, (case, result.output)
        assert "Traceback" not in result.output
        assert not (home / "keys" / "pkcs11.json").exists()
    assert "key: local key file" in cli("keys", "show", "--home", home).output


def test_attack_an_extractable_key_is_refused(tmp_path, token):
    """A key the token would export is no hardware key: refused before anything is recorded."""
    home = tmp_path / "home"
    label = new_key(token, {Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False})
    result = use_pkcs11(home, label)
    assert result.exit_code != 0 and "can leave the token" in result.output
    assert not (home / "keys" / "pkcs11.json").exists()


def test_a_given_chain_signs_trusted_and_a_chain_for_another_key_is_refused(tmp_path, token, settings):
    label = new_key(token)
    with token.open(user_pin=PIN) as session:
        from pkcs11.util.ec import encode_ec_public_key
        public = serialization.load_der_public_key(
            encode_ec_public_key(session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC, label=label)))
    ca_key, ca_cert = make_root_ca(NOW, cn="Operator CA")
    _, leaf = make_claim_signing_cert(ca_key, ca_cert, now=NOW, public_key=public, cn="Token Claim Signer")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem(leaf) + pem(ca_cert))
    home = settings.home

    other, other_leaf = make_claim_signing_cert(ca_key, ca_cert, now=NOW)  # a leaf for some other key
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(pem(other_leaf) + pem(ca_cert))
    refused = use_pkcs11(home, label, "--chain", wrong)
    assert refused.exit_code != 0 and "does not belong to the first certificate" in refused.output
    assert not (home / "keys" / "pkcs11.json").exists()

    assert use_pkcs11(home, label, "--chain", chain).exit_code == 0
    keys = KeyStore(Settings.load(home))
    os.environ["POCKETSTUDIO_PKCS11_PIN"] = PIN
    try:
        signer = keys.claim_signer()
        signed = sign_image(_png(), "image/png", build_manifest(_facts()), signer).data
    finally:
        os.environ.pop("POCKETSTUDIO_PKCS11_PIN", None)
    assert [c.serial_number for c in keys.chain()] == [leaf.serial_number, ca_cert.serial_number]
    reader = c2pa.Reader.try_create("image/png", io.BytesIO(signed), None, trust_context(keys))
    assert reader.get_validation_state() == "Trusted"  # the operator's CA became a trust anchor
    with pytest.raises(KeyMaterialError, match="POCKETSTUDIO_PKCS11_PIN"):
        keys.claim_signer()
