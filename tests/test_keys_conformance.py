"""'keys import' of a CA-issued chain (issue 19): one that follows the C2PA conformance certificate
profile (c2pa-cpl-record and assurance-level extensions, claim-signing EKU, OCSP responder, <= 366
days, an intermediate) imports silently and signs Trusted; one that validates but falls short is
imported with a warning per shortfall, in words; one that would not validate is refused."""

from __future__ import annotations

import datetime as dt
import io

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import Settings
from pocketstudio.provenance.keys import (C2PA_ASSURANCE_LEVEL_OID, C2PA_CLAIM_SIGNING_EKU, C2PA_CPL_RECORD_OID,
                                          DOCUMENT_SIGNING_EKU, KeyStore, pem)
from pocketstudio.provenance.manifest import ManifestFacts, build_manifest
from pocketstudio.provenance.sign import sign_image
from pocketstudio.provenance.verify import trust_context
from tests.conftest import textured_image

runner = CliRunner()


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CA")])


def _ca(cn, issuer_key=None, issuer=None, now=None):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer.subject if issuer else _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def _leaf(issuer_key, issuer, now, *, days=365, ekus=(C2PA_CLAIM_SIGNING_EKU, DOCUMENT_SIGNING_EKU),
          conformance=True, digital_signature=True):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name("Operator Claim Signer")).issuer_name(issuer.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now - dt.timedelta(hours=1)
                                                                              + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature, False, False, False, False, False, False, False, False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(e) for e in ekus]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if conformance:
        record = b"https://example.org/cpl/pocketstudio"
        builder = (builder
                   .add_extension(x509.UnrecognizedExtension(ObjectIdentifier(C2PA_CPL_RECORD_OID),
                                                             b"\x0c" + bytes([len(record)]) + record), critical=False)
                   .add_extension(x509.UnrecognizedExtension(ObjectIdentifier(C2PA_ASSURANCE_LEVEL_OID), b"\x02\x01\x02"),
                                  critical=False)
                   .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                       AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://127.0.0.1:9/ocsp"))]),
                       critical=False))
    return key, builder.sign(issuer_key, hashes.SHA256())


def _files(tmp_path, key, chain):
    (tmp_path / "chain.pem").write_bytes(b"".join(pem(c) for c in chain))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return ["keys", "import", "--chain", str(tmp_path / "chain.pem"), "--key", str(tmp_path / "key.pem")]


def _import(tmp_path, key, chain):
    return runner.invoke(app, [*_files(tmp_path, key, chain), "--home", str(tmp_path / "home")])


def test_conformant_ca_chain_with_cpl_record_and_assurance_level_imports_without_warnings_and_signs_trusted(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    root_key, root = _ca("Listed Root", now=now)
    int_key, intermediate = _ca("Listed Issuing CA", root_key, root, now)
    key, leaf = _leaf(int_key, intermediate, now)
    result = _import(tmp_path, key, [leaf, intermediate, root])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "follows the C2PA conformance certificate profile" in result.output
    keys = KeyStore(Settings.load(tmp_path / "home"))
    facts = ManifestFacts("t.png", "image/png", "0123456789abcdef", "alg", "m", "0" * 64, 4, 1.0, 7, 64, 64,
                          "dec", "hash", "origin")
    buf = io.BytesIO()
    textured_image(64).save(buf, "PNG")
    signed = sign_image(buf.getvalue(), "image/png", build_manifest(facts), keys.claim_signer())
    reader = c2pa.Reader.try_create("image/png", io.BytesIO(signed.data), None, trust_context(keys))
    assert reader.get_validation_state() == "Trusted", reader.get_validation_results()


def test_chain_short_of_the_profile_is_imported_with_each_shortfall_in_words(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    root_key, root = _ca("Private Root", now=now)
    key, leaf = _leaf(root_key, root, now, days=800, ekus=(ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,),
                      conformance=False)
    result = _import(tmp_path, key, [leaf, root])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for words in ("valid for 800 days", "at most 366", "lacks the c2pa-kp-claimSigning EKU",
                  "no c2pa-cpl-record extension", "no assurance-level extension", "no OCSP responder",
                  "revocationInformationMissing"):
        assert words in text, words


def test_chain_that_would_not_validate_is_refused(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    root_key, root = _ca("Private Root", now=now)
    key, leaf = _leaf(root_key, root, now, digital_signature=False)
    result = _import(tmp_path, key, [leaf, root])
    assert result.exit_code != 0 and "digitalSignature" in result.output
    assert not (tmp_path / "home" / "keys" / "claim-signing.chain.pem").exists()
