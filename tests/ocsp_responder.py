"""A real OCSP responder on 127.0.0.1 for the tests: OpenSSL's ``ocsp`` responder (answering from an
``index.txt`` in the ``openssl ca`` format) behind a minimal HTTP handler, like tests/tsa.py. It
comes with a CA chain whose claim-signing leaf names it in Authority Information Access, and a
responder certificate (EKU OCSPSigning) issued by the same intermediate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pocketstudio.provenance.keys import C2PA_CLAIM_SIGNING_EKU, DOCUMENT_SIGNING_EKU, pem

from .tsa import serve_openssl


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OCSP Test CA"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, now, *, ca=False, eku=None, aia=None):
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer.subject if issuer else
                                                                                 _name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=365 if not ca
                                                                                                  else 3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(e) for e in eku]), critical=False)
    if aia:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(aia))]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class LocalOCSP:
    url: str
    folder: Path
    leaf: x509.Certificate
    chain_file: Path  # leaf, intermediate, root: for 'keys import --chain'
    key_file: Path  # the leaf's key: for 'keys import --key'
    requests: list = field(default_factory=list)  # one entry per response sent

    def revoke(self, when: dt.datetime) -> None:
        """Mark the leaf revoked in the responder's index (what 'openssl ca -revoke' writes)."""
        self._index("R", when.strftime("%y%m%d%H%M%SZ"))

    def _index(self, status: str, revoked: str = "") -> None:
        expires = self.leaf.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        subject = "/O=OCSP Test CA/CN=Operator Claim Signer"
        (self.folder / "index.txt").write_text(
            f"{status}\t{expires}\t{revoked}\t{self.leaf.serial_number:X}\tunknown\t{subject}\n")


def serve_ocsp(folder: Path):
    """Start the responder in a thread and make its PKI in ``folder``; returns (LocalOCSP, stop)."""
    folder.mkdir(parents=True, exist_ok=True)
    server, answered, stop = serve_openssl(0, "application/ocsp-response", lambda q, r: [
        "openssl", "ocsp", "-index", str(folder / "index.txt"), "-CA", str(folder / "issuer.pem"),
        "-rsigner", str(folder / "responder.pem"), "-rkey", str(folder / "responder.key"), "-reqin", str(q),
        "-respout", str(r), "-nmin", "60"])
    url = f"http://127.0.0.1:{server.server_address[1]}/ocsp"
    now = dt.datetime.now(dt.timezone.utc)
    root_key, int_key, leaf_key, resp_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = _cert("OCSP Test Root", root_key, None, None, now, ca=True)
    intermediate = _cert("OCSP Test Issuing CA", int_key, root, root_key, now, ca=True)
    leaf = _cert("Operator Claim Signer", leaf_key, intermediate, int_key, now,
                 eku=(C2PA_CLAIM_SIGNING_EKU, DOCUMENT_SIGNING_EKU), aia=url)
    responder = _cert("OCSP Test Responder", resp_key, intermediate, int_key, now,
                      eku=(ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string,))
    (folder / "issuer.pem").write_bytes(pem(intermediate))
    (folder / "responder.pem").write_bytes(pem(responder))
    (folder / "responder.key").write_bytes(_private(resp_key))
    (folder / "chain.pem").write_bytes(pem(leaf) + pem(intermediate) + pem(root))
    (folder / "leaf.key").write_bytes(_private(leaf_key))
    local = LocalOCSP(url, folder, leaf, folder / "chain.pem", folder / "leaf.key", answered)
    local._index("V")
    return local, stop
