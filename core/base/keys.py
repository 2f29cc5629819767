"""Key storage, the foundation's part: encrypted key files in a data directory's ``keys/``.

Private keys are PKCS#8 encrypted at rest (mode 0600); other secrets (the watermark and registry
keys) are sealed with AES-256-GCM under a scrypt-derived key. The passphrase comes from
``POCKETSTUDIO_KEY_PASSPHRASE``; without it a random master secret is created beside the keys
(mode 0600), which protects copies of the key files that leave without it (backups, sync), not
an attacker who can read the whole data directory — SECURITY.md says so. What the keys are for
(certificates, signers) is the domains' business (provenance/keys.py).
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .config import PASSPHRASE_ENV
from .errors import KeyMaterialError
from .files import os_error_message

MASTER_SECRET = "master.secret"


def key_files(method):
    """An OSError on the keys folder or a key file (unreadable, a folder where a file belongs, a name
    too long) becomes a KeyMaterialError that says what to do, instead of a traceback."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise KeyMaterialError(
                f"cannot use the keys: {os_error_message(exc.filename or self.dir, exc)}. The folder {self.dir} and "
                f"its files must be readable and writable by this user (chmod -R u+rwX on it, or run as the user "
                f"who owns it); a key file replaced by something else must be restored from a backup") from exc

    return wrapper


class KeyFiles:
    """The encrypted key files of one folder."""

    def __init__(self, folder: Path, passphrase: bytes | None = None):
        self.dir = Path(folder)
        env_pass = os.environ.get(PASSPHRASE_ENV)
        self._passphrase = passphrase or (env_pass.encode() if env_pass else None)

    # -- at-rest protection -------------------------------------------------------------------
    def _secret(self) -> bytes:
        if self._passphrase:
            return self._passphrase
        path = self.dir / MASTER_SECRET
        if not path.exists():
            write_private(path, base64.b64encode(secrets.token_bytes(32)))
        return path.read_bytes().strip()

    def _encryption(self):
        return serialization.BestAvailableEncryption(self._secret())

    def _load_private(self, name: str):
        path = self.dir / name
        if not path.exists():
            raise KeyMaterialError(f"private key {path} is missing; run 'pocketstudio init' or 'pocketstudio keys import'")
        try:
            return serialization.load_pem_private_key(path.read_bytes(), password=self._secret())
        except (ValueError, TypeError) as exc:
            raise KeyMaterialError(f"cannot decrypt {path}: wrong passphrase ({PASSPHRASE_ENV}) or corrupt file") from exc

    def _save_private(self, name: str, key) -> None:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, self._encryption())
        write_private(self.dir / name, data)

    def _seal(self, data: bytes) -> bytes:
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        kek = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(self._secret())
        return b"PSSEAL1" + salt + nonce + AESGCM(kek).encrypt(nonce, data, b"pocketstudio")

    def _unseal(self, blob: bytes, what: str) -> bytes:
        if not blob.startswith(b"PSSEAL1") or len(blob) < 7 + 16 + 12 + 16:
            raise KeyMaterialError(f"{what} is not a sealed key file")
        salt, nonce, body = blob[7:23], blob[23:35], blob[35:]
        kek = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(self._secret())
        try:
            return AESGCM(kek).decrypt(nonce, body, b"pocketstudio")
        except Exception as exc:
            raise KeyMaterialError(f"cannot decrypt {what}: wrong passphrase or corrupt file") from exc

    def _sealed_secret(self, name: str) -> bytes:
        path = self.dir / name
        if not path.exists():
            raise KeyMaterialError(f"key {path} is missing; run 'pocketstudio init'")
        return self._unseal(path.read_bytes(), str(path))


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file atomically with mode 0600 from its first byte."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")  # one per writer: never a leftover or a link
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
            fh.write(data)
            fh.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_public(path: Path, data: bytes) -> None:
    """Certificates and public keys are no secret, but they live in the data directory, where
    every file is 0600 (core/config.py): its contents and listing are the user's alone."""
    write_private(path, data)
