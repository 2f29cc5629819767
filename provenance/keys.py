"""Keys and certificates: a local root CA, a C2PA claim-signing leaf, the watermark key.

Certificate profile (DESIGN.md §3): root with BasicConstraints CA (critical), keyCertSign and
SKI; leaf with CA:FALSE, digitalSignature, EKU c2pa-kp-claimSigning plus emailProtection (so
readers with default settings accept it), AKI and SKI. The chain PEM is leaf first.

Private keys are stored by the foundation's key files (core/base/keys.py: PKCS#8 encrypted at
rest, mode 0600, sealed secrets).

The signer is an interface: anything with ``alg``, ``chain_pem`` and ``sign(data)`` signs
manifests, so a key held in an HSM or an OS keystore plugs in through :class:`CallbackSigner`;
``keys use-pkcs11`` makes :meth:`KeyStore.claim_signer` sign on a PKCS#11 token (provenance/pkcs11.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pocketstudio.core.base.config import SIGNING_ALGS, Settings
from pocketstudio.core.base.errors import KeyMaterialError
from pocketstudio.core.base.keys import KeyFiles, key_files, write_private, write_public

from . import pkcs11

C2PA_CLAIM_SIGNING_EKU = "1.3.6.1.4.1.62558.2.1"
EMAIL_PROTECTION_EKU = ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
# EKUs a verifier accepts for a claim signer (written into c2pa's trust_config, also when signing:
# c2pa-rs' own list lacks c2pa-kp-claimSigning, the EKU of the C2PA Trust List's certificates).
ACCEPTED_SIGNER_EKUS = (C2PA_CLAIM_SIGNING_EKU, EMAIL_PROTECTION_EKU, DOCUMENT_SIGNING_EKU)

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key.pem"
CLAIM_CHAIN = "claim-signing.chain.pem"
CLAIM_KEY = "claim-signing.key.pem"
WATERMARK_KEY = "watermark.key"
REGISTRY_KEY = "registry.key"
AUDIT_KEY = "audit-log.key.pem"
AUDIT_PUBLIC = "audit-log.pub"
AUDIT_ORIGIN = "audit-log.origin"  # a fleet's shared log name (keys import-fleet); absent: derived per device

# Extensions a CA on the C2PA Trust List writes into a claim-signing certificate (Conformance
# Program): the product's record on the conforming products list and its assurance level.
C2PA_CPL_RECORD_OID = "1.3.6.1.4.1.62558.4"
C2PA_ASSURANCE_LEVEL_OID = "1.3.6.1.4.1.62558.3"
MAX_LEAF_DAYS = 366

ROOT_LIFETIME = dt.timedelta(days=3650)
# The conformance certificate profile: a claim-signing leaf is valid for at most 366 days.
LEAF_LIFETIME = dt.timedelta(days=365)
# Certificates start this long before their making, so that a verifier (or a signing step) whose
# clock runs behind still accepts them; common CA practice (Let's Encrypt backdates one hour).
CLOCK_SKEW = dt.timedelta(hours=1)


class ClaimSigner(Protocol):
    """What C2PA signing needs: an algorithm name, the chain (leaf first) and a signing function."""

    alg: str
    chain_pem: str

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class CallbackSigner:
    """A claim signer whose key lives elsewhere (HSM, OS keystore): ``callback(data) -> signature``.

    For ES256 the callback may return DER or raw r‖s; c2pa accepts both.
    """

    alg: str
    chain_pem: str
    callback: Callable[[bytes], bytes]

    def sign(self, data: bytes) -> bytes:
        return self.callback(data)


@dataclass(frozen=True)
class LocalKeySigner:
    """A claim signer over a private key held in this process."""

    alg: str
    chain_pem: str
    private_key: object

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            digest = hashes.SHA384() if self.alg == "es384" else hashes.SHA256()
            return key.sign(data, ec.ECDSA(digest))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        raise KeyMaterialError(f"unsupported private key type {type(key).__name__}")


def _utc(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pocket Studio (local)"),
    ])


def _new_key(alg: str):
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyMaterialError(f"unknown signing algorithm {alg!r}; choose one of {', '.join(SIGNING_ALGS)}")


def _alg_of(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384"}.get(key.curve.name) or _unsupported(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    return _unsupported(key)


def _unsupported(key):
    raise KeyMaterialError(f"unsupported private key type {type(key).__name__}")


def make_root_ca(now: dt.datetime | None = None, cn: str = "Pocket Studio Local Root CA"):
    """A self-signed ECDSA P-256 root for claim-signing certificates."""
    now = _utc(now)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_claim_signing_cert(root_key, root_cert: x509.Certificate, alg: str = "es256",
                            now: dt.datetime | None = None,
                            lifetime: dt.timedelta = LEAF_LIFETIME,
                            cn: str = "Pocket Studio Claim Signer", public_key=None):
    """A leaf certificate with the C2PA claim-signing profile, issued by ``root_cert``: for a fresh
    key (returned), or for ``public_key`` whose private half is elsewhere (a token; None returned)."""
    now = _utc(now)
    key = None if public_key is not None else _new_key(alg)
    public_key = public_key if public_key is not None else key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(root_cert.subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(C2PA_CLAIM_SIGNING_EKU),
                                              ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return key, cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def check_claim_signing_chain(chain: list[x509.Certificate], key, now: dt.datetime) -> None:
    """Refuse a chain c2pa readers would reject: wrong order, key mismatch, expiry, missing EKU/KU.
    ``key`` is the private key, or the public key of one held elsewhere (a token)."""
    if not chain:
        raise KeyMaterialError("certificate chain is empty")
    leaf = chain[0]
    public = key.public_key() if hasattr(key, "public_key") else key
    if leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise KeyMaterialError("the private key does not belong to the first certificate of the chain (leaf first)")
    for cert in chain:
        if now < cert.not_valid_before_utc:
            raise KeyMaterialError(f"certificate '{cert.subject.rfc4514_string()}' is not valid before {cert.not_valid_before_utc.isoformat()}")
        if now > cert.not_valid_after_utc:
            raise KeyMaterialError(f"certificate '{cert.subject.rfc4514_string()}' expired on {cert.not_valid_after_utc.isoformat()}")
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise KeyMaterialError("the leaf certificate is a CA certificate; C2PA claim signers must not be")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise KeyMaterialError("the leaf certificate lacks the digitalSignature key usage")
    except x509.ExtensionNotFound:
        raise KeyMaterialError("the leaf certificate has no KeyUsage extension") from None
    try:
        ekus = {o.dotted_string for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    except x509.ExtensionNotFound:
        raise KeyMaterialError("the leaf certificate has no ExtendedKeyUsage (needs c2pa-kp-claimSigning)") from None
    if not ekus & set(ACCEPTED_SIGNER_EKUS):
        raise KeyMaterialError(f"the leaf certificate's EKUs {sorted(ekus)} include none of c2pa-kp-claimSigning, emailProtection or documentSigning")
    for child, parent in zip(chain, chain[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise KeyMaterialError(f"'{child.subject.rfc4514_string()}' is not issued by the next certificate in the chain: {exc}") from exc


def ocsp_responders(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URLs of a certificate's Authority Information Access extension."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def chain_warnings(chain: list[x509.Certificate]) -> list[str]:
    """What a conformance reviewer would miss in a chain that validates (check_claim_signing_chain
    refuses what breaks validation): the certificate profile of the C2PA Conformance Program."""
    leaf = chain[0]
    notes = []
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() / 86400
    if days > MAX_LEAF_DAYS:
        notes.append(f"the leaf is valid for {days:.0f} days; the conformance certificate profile allows at most "
                     f"{MAX_LEAF_DAYS}")
    try:
        ekus = {o.dotted_string for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    except x509.ExtensionNotFound:
        ekus = set()
    if C2PA_CLAIM_SIGNING_EKU not in ekus:
        notes.append(f"the leaf lacks the c2pa-kp-claimSigning EKU ({C2PA_CLAIM_SIGNING_EKU}); it validates through "
                     "emailProtection only, which the C2PA Trust List does not issue")
    if not ekus & {EMAIL_PROTECTION_EKU, DOCUMENT_SIGNING_EKU}:
        notes.append("the leaf has neither emailProtection nor documentSigning beside claim signing; readers with "
                     "default settings may not accept it")
    present = {e.oid.dotted_string for e in leaf.extensions}
    if C2PA_CPL_RECORD_OID not in present:
        notes.append(f"the leaf has no c2pa-cpl-record extension ({C2PA_CPL_RECORD_OID}): it names no entry on the "
                     "C2PA conforming products list")
    if C2PA_ASSURANCE_LEVEL_OID not in present:
        notes.append(f"the leaf has no assurance-level extension ({C2PA_ASSURANCE_LEVEL_OID}): no assurance level "
                     "is stated")
    if not ocsp_responders(leaf):
        notes.append("the leaf names no OCSP responder (Authority Information Access): validators cannot check "
                     "its revocation and report revocationInformationMissing")
    if len(chain) < 2:
        notes.append("the chain holds only the leaf: give the intermediates and the root (leaf first)")
    return notes


class KeyStore(KeyFiles):
    """The keys folder of a data directory: the C2PA signing chain and the named keys of the other
    parts (watermark, registry, audit log), on the foundation's encrypted key files. Every method
    that touches it raises KeyMaterialError, never an OSError."""

    def __init__(self, settings: Settings, passphrase: bytes | None = None):
        super().__init__(settings.keys_dir, passphrase)
        self.settings = settings

    # -- creation -----------------------------------------------------------------------------
    @key_files
    def exists(self) -> bool:
        return (self.dir / CLAIM_CHAIN).exists() and (self.dir / CLAIM_KEY).exists()

    @key_files
    def ensure(self, now: dt.datetime | None = None, alg: str | None = None) -> None:
        """Create whatever is missing: root CA, claim-signing leaf, watermark, registry and audit keys."""
        self.settings.ensure_home()
        now = _utc(now)
        if not self.exists():
            root_key, root_cert = make_root_ca(now)
            leaf_key, leaf_cert = make_claim_signing_cert(root_key, root_cert, alg or self.settings.signing_alg, now)
            self._save_private(ROOT_KEY, root_key)
            write_public(self.dir / ROOT_CERT, pem(root_cert))
            self._save_private(CLAIM_KEY, leaf_key)
            write_public(self.dir / CLAIM_CHAIN, pem(leaf_cert) + pem(root_cert))
        for sealed in (WATERMARK_KEY, REGISTRY_KEY):
            if not (self.dir / sealed).exists():
                write_private(self.dir / sealed, self._seal(secrets.token_bytes(32)))
        if not (self.dir / AUDIT_KEY).exists():
            self._save_private(AUDIT_KEY, ed25519.Ed25519PrivateKey.generate())
            (self.dir / AUDIT_PUBLIC).unlink(missing_ok=True)

    @key_files
    def rotate_claim_signer(self, alg: str, now: dt.datetime | None = None) -> None:
        """Issue a fresh leaf from the local root (e.g. to switch between ES256 and Ed25519)."""
        now = _utc(now)
        root_key = self._load_private(ROOT_KEY)
        root_cert = x509.load_pem_x509_certificate((self.dir / ROOT_CERT).read_bytes())
        leaf_key, leaf_cert = make_claim_signing_cert(root_key, root_cert, alg, now)
        self._save_private(CLAIM_KEY, leaf_key)
        write_public(self.dir / CLAIM_CHAIN, pem(leaf_cert) + pem(root_cert))

    @key_files
    def import_chain(self, chain_pem: bytes, key_pem: bytes, key_password: bytes | None = None,
                     now: dt.datetime | None = None) -> x509.Certificate:
        """Use a user's own claim-signing chain (leaf first) and key; the chain's root becomes trusted."""
        now = _utc(now)
        try:
            chain = x509.load_pem_x509_certificates(chain_pem)
        except ValueError as exc:
            raise KeyMaterialError(f"cannot parse the certificate chain: {exc}") from exc
        try:
            key = serialization.load_pem_private_key(key_pem, password=key_password)
        except (ValueError, TypeError) as exc:
            raise KeyMaterialError(f"cannot load the private key (wrong password?): {exc}") from exc
        _alg_of(key)
        check_claim_signing_chain(chain, key, now)
        self.settings.ensure_home()
        self._save_private(CLAIM_KEY, key)
        write_public(self.dir / CLAIM_CHAIN, b"".join(pem(c) for c in chain))
        (self.dir / pkcs11.CONFIG).unlink(missing_ok=True)  # the imported key signs from now on
        anchor = chain[-1]
        write_public(self.settings.trust_dir / f"imported-{anchor.fingerprint(hashes.SHA256()).hex()[:16]}.pem", pem(anchor))
        self.ensure(now)  # the other keys (watermark, registry, audit) if this is a fresh directory
        return chain[0]

    @key_files
    def use_pkcs11(self, config: pkcs11.Pkcs11Config, chain_pem: bytes | None = None,
                   now: dt.datetime | None = None) -> x509.Certificate:
        """Sign with a key on a PKCS#11 token from now on: the chain given (leaf first, its root
        becomes trusted) or a leaf the local root issues for the token's public key. The token is
        opened with the PIN from the environment and made to sign once, so a wrong module, token,
        PIN or key is refused here, not at the next release. The local key stays for 'use-local'."""
        now = _utc(now)
        self.ensure(now)
        with pkcs11.Token(config) as token:
            token.private_key()  # present, sensitive, not extractable
            if chain_pem is None:
                root_key = self._load_private(ROOT_KEY)
                root_cert = x509.load_pem_x509_certificate((self.dir / ROOT_CERT).read_bytes())
                _, leaf = make_claim_signing_cert(root_key, root_cert, "es256", now, public_key=token.public_key())
                chain = [leaf, root_cert]
            else:
                try:
                    chain = x509.load_pem_x509_certificates(chain_pem)
                except ValueError as exc:
                    raise KeyMaterialError(f"cannot parse the certificate chain: {exc}") from exc
            leaf_key = chain[0].public_key() if chain else None
            if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key.curve.name != "secp256r1":
                raise KeyMaterialError("the chain's leaf is not an ECDSA P-256 certificate; Pocket Studio signs "
                                       "with ES256 on tokens")
            probe = b"pocketstudio keys use-pkcs11"
            try:  # the token's key is the leaf's: proven by a signature, whatever public objects it holds
                leaf_key.verify(token.sign(probe), probe, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                raise KeyMaterialError(f"the {config.describe()} does not belong to the first certificate of the "
                                       f"chain (leaf first)") from None
        check_claim_signing_chain(chain, leaf_key, now)
        write_public(self.dir / pkcs11.CHAIN, b"".join(pem(c) for c in chain))
        if chain_pem is not None:
            anchor = chain[-1]
            write_public(self.settings.trust_dir / f"imported-{anchor.fingerprint(hashes.SHA256()).hex()[:16]}.pem", pem(anchor))
        config.save(self.dir)
        return chain[0]

    @key_files
    def use_local(self) -> None:
        """Sign with the local key file again (after 'use-pkcs11')."""
        (self.dir / pkcs11.CONFIG).unlink(missing_ok=True)

    @key_files
    def pkcs11_config(self) -> pkcs11.Pkcs11Config | None:
        """The token the claim-signing key lives on, or None: the local key file."""
        return pkcs11.Pkcs11Config.load(self.dir)

    # -- use ------------------------------------------------------------------------------------
    @key_files
    def chain(self) -> list[x509.Certificate]:
        """The claim-signing chain in use (the token's when 'use-pkcs11' is in effect)."""
        path = self.dir / (pkcs11.CHAIN if self.pkcs11_config() else CLAIM_CHAIN)
        if not path.exists():
            raise KeyMaterialError(f"certificate chain {path} is missing; run 'pocketstudio init'")
        try:
            return x509.load_pem_x509_certificates(path.read_bytes())
        except ValueError as exc:
            raise KeyMaterialError(f"certificate chain {path} is corrupt; restore it from a backup or run "
                                   f"'pocketstudio keys import'") from exc

    @key_files
    def claim_signer(self, now: dt.datetime | None = None) -> ClaimSigner:
        """The claim signer, refusing an expired or mismatched chain (fail closed): the local key
        file's, or after 'use-pkcs11' the token's (logged in here, so a wrong PIN stops the release
        before signing)."""
        now = _utc(now)
        chain = self.chain()
        config = self.pkcs11_config()
        if config is not None:
            check_claim_signing_chain(chain, chain[0].public_key(), now)
            with pkcs11.Token(config) as token:
                token.private_key()
            return pkcs11.Pkcs11Signer("es256", b"".join(pem(c) for c in chain).decode(), config, chain[0].public_key())
        key = self._load_private(CLAIM_KEY)
        check_claim_signing_chain(chain, key, now)
        return LocalKeySigner(alg=_alg_of(key), chain_pem=b"".join(pem(c) for c in chain).decode(), private_key=key)

    @key_files
    def watermark_key(self) -> bytes:
        return self._sealed_secret(WATERMARK_KEY)

    @key_files
    def registry_key(self) -> bytes:
        """The key that encrypts face templates at rest."""
        return self._sealed_secret(REGISTRY_KEY)

    @key_files
    def audit_origin(self) -> str:
        """The audit log's name: stable per data directory, derived from its root certificate;
        a fleet's shared one when ``keys import-fleet`` wrote it (provenance/fleet.py)."""
        shared = self.dir / AUDIT_ORIGIN
        if shared.exists():
            return shared.read_text().strip()
        anchor = self.dir / ROOT_CERT if (self.dir / ROOT_CERT).exists() else self.dir / CLAIM_CHAIN
        tag = hashlib.sha256(anchor.read_bytes()).hexdigest()[:16] if anchor.exists() else "unconfigured"
        return f"pocketstudio.local/audit/{tag}"

    @key_files
    def audit_signer(self):
        """The Ed25519 note signer of the audit log (records and checkpoints)."""
        from pocketstudio.policy.checkpoint import NoteSigner

        signer = NoteSigner(self.audit_origin(), self._load_private(AUDIT_KEY))
        public = self.dir / AUDIT_PUBLIC
        if not public.exists():
            write_public(public, (signer.verifier.to_text() + "\n").encode())
        return signer

    @key_files
    def trust_anchors_pem(self) -> str:
        """The local root plus every anchor in keys/trust and the settings' extra anchor files."""
        parts: list[bytes] = []
        root = self.dir / ROOT_CERT
        if root.exists():
            parts.append(root.read_bytes())
        if self.settings.trust_dir.exists():
            parts += [p.read_bytes() for p in sorted(self.settings.trust_dir.glob("*.pem"))]
        for extra in self.settings.trust_anchor_files:
            try:
                data = Path(extra).read_bytes()
                x509.load_pem_x509_certificates(data)
            except (OSError, ValueError) as exc:
                raise KeyMaterialError(f"trust anchor file {extra} is unreadable: {exc}") from exc
            parts.append(data)
        return b"\n".join(p.strip() for p in parts).decode() + "\n" if parts else ""
