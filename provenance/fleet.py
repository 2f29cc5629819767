"""Fleet keys: one audit-log key (so one log origin), one watermark key and one registry key shared
by every device that writes into one database, carried from one data directory to the others in a
file sealed with a passphrase (``keys export-fleet`` / ``keys import-fleet``).

The claim-signing chain is not shared: each device keeps its own, and the file carries the roots
of the devices it has met, which the importing device adds as trust anchors (so its verifier
trusts releases signed by any of them). A device that has already logged under a key of its own
(a checkpoint kept beside its keys) is refused: its history belongs to another log.

The file: ``PSFLEET1`` ‖ salt (16) ‖ nonce (12) ‖ AES-256-GCM(scrypt(passphrase, salt), JSON).
"""

from __future__ import annotations

import base64
import json
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pocketstudio.core.base.errors import KeyMaterialError
from pocketstudio.core.base.keys import key_files, write_private, write_public

from .keys import AUDIT_KEY, AUDIT_ORIGIN, AUDIT_PUBLIC, REGISTRY_KEY, ROOT_CERT, WATERMARK_KEY, KeyStore

MAGIC = b"PSFLEET1"
FORMAT = "pocketstudio-fleet/v1"
MIN_PASSPHRASE = 12


def _kek(passphrase: str, salt: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyMaterialError(f"the fleet passphrase must have at least {MIN_PASSPHRASE} characters")
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def seal(document: dict, passphrase: str) -> bytes:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    body = json.dumps(document, sort_keys=True).encode()
    return MAGIC + salt + nonce + AESGCM(_kek(passphrase, salt)).encrypt(nonce, body, MAGIC)


def unseal(blob: bytes, passphrase: str) -> dict:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 16 + 12 + 16:
        raise KeyMaterialError("not a Pocket Studio fleet key file (made by 'pocketstudio keys export-fleet')")
    salt, nonce, body = blob[8:24], blob[24:36], blob[36:]
    try:
        document = json.loads(AESGCM(_kek(passphrase, salt)).decrypt(nonce, body, MAGIC))
    except Exception as exc:  # noqa: BLE001 — InvalidTag: wrong passphrase or a changed file
        raise KeyMaterialError("cannot open the fleet key file: wrong passphrase, or the file was changed") from exc
    if document.get("format") != FORMAT:
        raise KeyMaterialError(f"the fleet key file is not {FORMAT}")
    return document


@key_files
def export_fleet(keys: KeyStore, passphrase: str) -> bytes:
    """The sealed fleet file of this data directory (its keys are made first if missing)."""
    keys.ensure()
    audit = keys._load_private(AUDIT_KEY)
    anchors = {pem.strip() for pem in _anchor_pems(keys)}
    return seal({
        "format": FORMAT,
        "audit_origin": keys.audit_origin(),
        "audit_key": audit.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "watermark_key": base64.b64encode(keys.watermark_key()).decode(),
        "registry_key": base64.b64encode(keys.registry_key()).decode(),
        "trust_anchors": sorted(anchors),
    }, passphrase)


def _anchor_pems(keys: KeyStore) -> list[str]:
    found = []
    root = keys.dir / ROOT_CERT
    if root.exists():
        found.append(root.read_text())
    if keys.settings.trust_dir.exists():
        found += [p.read_text() for p in sorted(keys.settings.trust_dir.glob("*.pem"))]
    return found


@key_files
def import_fleet(keys: KeyStore, blob: bytes, passphrase: str) -> dict:
    """Join the fleet: its audit-log key and origin, watermark and registry keys replace this data
    directory's (which must not have logged under its own yet), its devices' roots become trust
    anchors, and this device's own claim-signing chain is made if missing. Returns a summary."""
    document = unseal(blob, passphrase)
    try:
        audit = serialization.load_pem_private_key(document["audit_key"].encode(), password=None)
        watermark = base64.b64decode(document["watermark_key"], validate=True)
        registry = base64.b64decode(document["registry_key"], validate=True)
        origin = str(document["audit_origin"])
        anchors = [x509.load_pem_x509_certificate(p.encode()) for p in document["trust_anchors"]]
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyMaterialError(f"the fleet key file is malformed: {exc}") from exc
    keys.settings.ensure_home()
    mine = keys.dir / AUDIT_KEY
    if mine.exists() and keys.settings.audit_checkpoint_file.exists():
        own = keys._load_private(AUDIT_KEY).private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                          serialization.NoEncryption())
        theirs = audit.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        if own != theirs:
            raise KeyMaterialError(f"{keys.settings.home} has already logged under an audit key of its own "
                                   f"({keys.settings.audit_checkpoint_file} exists): join the fleet from a fresh "
                                   "data directory")
    keys._save_private(AUDIT_KEY, audit)
    (keys.dir / AUDIT_PUBLIC).unlink(missing_ok=True)  # rewritten from the new key on first use
    write_private(keys.dir / AUDIT_ORIGIN, (origin + "\n").encode())
    write_private(keys.dir / WATERMARK_KEY, keys._seal(watermark))
    write_private(keys.dir / REGISTRY_KEY, keys._seal(registry))
    keys.ensure()  # this device's own root and claim-signing chain, if it has none yet
    own_root = (keys.dir / ROOT_CERT).read_bytes() if (keys.dir / ROOT_CERT).exists() else b""
    added = 0
    for cert in anchors:
        data = cert.public_bytes(serialization.Encoding.PEM)
        if data.strip() == own_root.strip():
            continue
        path = keys.settings.trust_dir / f"fleet-{cert.fingerprint(hashes.SHA256()).hex()[:16]}.pem"
        if not path.exists():
            write_public(path, data)
            added += 1
    return {"audit_origin": origin, "trust_anchors_added": added}
