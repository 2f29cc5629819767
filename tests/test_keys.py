import datetime as dt
import io

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pocketstudio.core.base.errors import KeyMaterialError, SigningError
from pocketstudio.provenance.keys import (C2PA_CLAIM_SIGNING_EKU, CallbackSigner, KeyStore, make_claim_signing_cert,
                                          make_root_ca, pem)
from pocketstudio.provenance.manifest import ManifestFacts, build_manifest
from pocketstudio.provenance.sign import sign_image
from pocketstudio.provenance.verify import trust_context

from .conftest import NOW, textured_image


def _facts():
    return ManifestFacts("t.png", "image/png", "0123456789abcdef", "alg", "m", "0" * 64, 4, 1.0, 7, 256, 256,
                         "dec", "hash", "origin")


def _png():
    buf = io.BytesIO()
    textured_image(256).save(buf, "PNG")
    return buf.getvalue()


def _state(keys, data):
    reader = c2pa.Reader.try_create("image/png", io.BytesIO(data), None, trust_context(keys))
    return reader.get_validation_state()


def test_certificate_profile_matches_c2pa_claim_signing(settings):
    keys = KeyStore(settings)
    keys.ensure(NOW)
    leaf, root = keys.chain()
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    ekus = {o.dotted_string for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    assert ekus == {C2PA_CLAIM_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string}
    assert leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    leaf.verify_directly_issued_by(root)


def test_private_keys_are_encrypted_and_private(settings):
    keys = KeyStore(settings)
    keys.ensure(NOW)
    for name in ("root-ca.key.pem", "claim-signing.key.pem", "watermark.key"):
        path = settings.keys_dir / name
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    data = (settings.keys_dir / "claim-signing.key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, password=None)
    with pytest.raises(KeyMaterialError, match="cannot decrypt"):
        KeyStore(settings, passphrase=b"wrong").claim_signer(NOW)


def test_passphrase_protects_keys(settings):
    KeyStore(settings, passphrase=b"correct horse").ensure(NOW)
    assert not (settings.keys_dir / "master.secret").exists()
    assert KeyStore(settings, passphrase=b"correct horse").claim_signer(NOW).alg == "es256"
    with pytest.raises(KeyMaterialError):
        KeyStore(settings, passphrase=b"battery staple").watermark_key()


@pytest.mark.parametrize("alg", ["es256", "ed25519"])
def test_both_algorithms_sign_trusted_manifests(settings, alg):
    keys = KeyStore(settings)
    keys.ensure(NOW, alg=alg)
    signer = keys.claim_signer()
    assert signer.alg == alg
    signed = sign_image(_png(), "image/png", build_manifest(_facts()), signer)
    assert _state(keys, signed.data) == "Trusted"


def test_callback_signer_keeps_the_key_outside(settings):
    keys = KeyStore(settings)
    keys.ensure()
    local = keys.claim_signer()
    calls = []

    def hsm(data: bytes) -> bytes:  # stands where an HSM or OS keystore call would be
        calls.append(len(data))
        return local.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    signed = sign_image(_png(), "image/png", build_manifest(_facts()), CallbackSigner("es256", local.chain_pem, hsm))
    assert calls and _state(keys, signed.data) == "Trusted"


def test_failing_callback_is_a_signing_error(settings):
    keys = KeyStore(settings)
    keys.ensure()

    def broken(data):
        raise RuntimeError("token removed")

    with pytest.raises(SigningError):
        sign_image(_png(), "image/png", build_manifest(_facts()), CallbackSigner("es256", keys.claim_signer().chain_pem, broken))


def _user_chain(now, lifetime=dt.timedelta(days=30), eku=True):
    root_key, root = make_root_ca(now, cn="User Root")
    key, leaf = make_claim_signing_cert(root_key, root, "es256", now, lifetime=lifetime, cn="User Signer")
    if not eku:
        leaf = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(root.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(leaf.not_valid_before_utc).not_valid_after(leaf.not_valid_after_utc)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
                .sign(root_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"pw"))
    return pem(leaf) + pem(root), key_pem


def test_import_users_chain_signs_trusted(settings):
    keys = KeyStore(settings)
    keys.ensure()
    chain, key = _user_chain(dt.datetime.now(dt.timezone.utc))
    leaf = keys.import_chain(chain, key, b"pw")
    assert "CN=User Signer" in leaf.subject.rfc4514_string()
    assert any(p.read_bytes() == chain[chain.index(b"-----BEGIN", 10):] for p in settings.trust_dir.glob("imported-*.pem"))
    signed = sign_image(_png(), "image/png", build_manifest(_facts()), keys.claim_signer())
    assert _state(keys, signed.data) == "Trusted"


def test_import_refuses_bad_material(settings):
    keys = KeyStore(settings)
    now = dt.datetime.now(dt.timezone.utc)
    chain, key = _user_chain(now)
    other_chain, _ = _user_chain(now)
    with pytest.raises(KeyMaterialError, match="does not belong"):
        keys.import_chain(other_chain, key, b"pw", now)
    with pytest.raises(KeyMaterialError, match="wrong password"):
        keys.import_chain(chain, key, b"nope", now)
    with pytest.raises(KeyMaterialError, match="expired"):
        keys.import_chain(chain, key, b"pw", now + dt.timedelta(days=31))
    chain_no_eku, key_no_eku = _user_chain(now, eku=False)
    with pytest.raises(KeyMaterialError, match="ExtendedKeyUsage"):
        keys.import_chain(chain_no_eku, key_no_eku, b"pw", now)
    reversed_chain = b"".join(pem(c) for c in reversed(x509.load_pem_x509_certificates(chain)))
    with pytest.raises(KeyMaterialError):
        keys.import_chain(reversed_chain, key, b"pw", now)
    with pytest.raises(KeyMaterialError, match="parse"):
        keys.import_chain(b"garbage", key, b"pw", now)


def test_expired_signer_is_refused_at_use(settings):
    keys = KeyStore(settings)
    keys.ensure(NOW)
    with pytest.raises(KeyMaterialError, match="expired"):
        keys.claim_signer(NOW + dt.timedelta(days=731))
