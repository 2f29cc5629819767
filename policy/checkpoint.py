"""Checkpoints in the C2SP tlog-checkpoint format, as C2SP signed notes (Ed25519).

Note text: ``<origin>\\n<tree size>\\n<base64 root hash>\\n``; then a blank line and one
signature line ``— <key name> base64(key ID ‖ signature)``, where
key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4] (c2sp.org/signed-note).
The verifier key is written in the usual text form ``<name>+<key id hex>+<base64(0x01 ‖ pub)>``,
so that someone holding only that line can check a checkpoint offline.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pocketstudio.core.base.errors import AuditError

from .merkle import HASH_SIZE

ED25519_TYPE = b"\x01"
EM_DASH = "\u2014"


class CheckpointError(AuditError, ValueError):
    """A checkpoint or signed note is malformed or its signature does not verify."""


def _raw_public(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: ed25519.Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + _raw_public(public_key)).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise CheckpointError(f"key name {name!r} must be non-empty without spaces or '+'")


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    public_key: ed25519.Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def to_text(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519_TYPE + _raw_public(self.public_key)).decode()}"

    @classmethod
    def from_text(cls, text: str) -> "NoteVerifier":
        try:
            name, hex_id, b64 = text.strip().split("+", 2)  # the base64 key may itself contain "+"
            raw = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise CheckpointError(f"malformed verifier key: {exc}") from exc
        if len(raw) != 33 or raw[:1] != ED25519_TYPE:
            raise CheckpointError("verifier key is not an Ed25519 note key")
        verifier = cls(name, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != hex_id.lower():
            raise CheckpointError("verifier key id does not match its name and key")
        return verifier


@dataclass(frozen=True)
class NoteSigner:
    name: str
    private_key: ed25519.Ed25519PrivateKey

    def __post_init__(self):
        _check_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.private_key.public_key())

    def sign_note(self, text: str) -> str:
        if not text.endswith("\n"):
            raise CheckpointError("note text must end with a newline")
        sig = self.private_key.sign(text.encode())
        return f"{text}\n{EM_DASH} {self.name} {base64.b64encode(self.verifier.key_id + sig).decode()}\n"


def split_note(note: str) -> tuple[str, list[str]]:
    """(text ending in a newline, signature lines) of a signed note."""
    if "\n\n" not in note:
        raise CheckpointError("signed note has no signature block")
    text, _, block = note.rpartition("\n\n")
    return text + "\n", [line for line in block.splitlines() if line]


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The text of a signed note, only if ``verifier`` signed it; otherwise CheckpointError."""
    text, lines = split_note(note)
    verified = False
    for line in lines:
        if not line.startswith(EM_DASH + " "):
            raise CheckpointError("malformed signature line")
        try:
            name, b64 = line[2:].split(" ")
            blob = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise CheckpointError(f"malformed signature line: {exc}") from exc
        if name != verifier.name or blob[:4] != verifier.key_id:
            continue  # signatures from unknown keys are ignored, as the spec says
        try:
            verifier.public_key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError("checkpoint signature does not verify") from None
        verified = True
    if not verified:
        raise CheckpointError(f"no signature by {verifier.name} on this note")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, signer: NoteSigner) -> str:
        return signer.sign_note(self.text())

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise CheckpointError("checkpoint needs origin, size and root lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise CheckpointError("malformed checkpoint origin or size")
        try:
            raw = base64.b64decode(root, validate=True)
        except ValueError as exc:
            raise CheckpointError("checkpoint root is not base64") from exc
        if len(raw) != HASH_SIZE:
            raise CheckpointError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), raw)

    @classmethod
    def verify(cls, note: str, verifier: NoteVerifier, origin: str | None = None) -> "Checkpoint":
        checkpoint = cls.parse(open_note(note, verifier))
        if origin is not None and checkpoint.origin != origin:
            raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
        return checkpoint
