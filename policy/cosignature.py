"""Witness cosignatures on checkpoints (C2SP tlog-cosignature, Ed25519 type) and the policy that
says how many of which witnesses a checkpoint needs.

A cosignature is one more signed-note line under the checkpoint: ``— <witness name>
base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)``, key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖
public key)[:4], over ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body.
A witness states that this is the largest tree consistent with everything it has seen of the log:
a log that shows one history to some and another to others cannot get both cosigned.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .checkpoint import EM_DASH, CheckpointError

COSIGNATURE_TYPE = b"\x04"
HEADER = "cosignature/v1\n"


def _raw(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _message(body: str, timestamp: int) -> bytes:
    return f"{HEADER}time {timestamp}\n{body}".encode()


def _body_and_lines(note: str) -> tuple[str, list[str]]:
    if "\n\n" not in note:
        raise CheckpointError("signed note has no signature block")
    body, _, block = note.rpartition("\n\n")
    return body + "\n", [line for line in block.splitlines() if line]


@dataclass(frozen=True)
class Witness:
    """A witness's name and Ed25519 public key, as a policy names it."""

    name: str
    public_key: ed25519.Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + COSIGNATURE_TYPE + _raw(self.public_key)).digest()[:4]

    def to_text(self) -> str:
        """The verifier key (vkey) form: ``<name>+<key id hex>+base64(0x04 ‖ public key)``."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(COSIGNATURE_TYPE + _raw(self.public_key)).decode()}"

    @classmethod
    def from_text(cls, text: str) -> "Witness":
        try:
            name, hex_id, b64 = text.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise CheckpointError(f"malformed witness key {text.strip()[:40]!r}: {exc}") from exc
        if len(raw) != 33 or raw[:1] != COSIGNATURE_TYPE:
            raise CheckpointError(f"witness key {name!r} is not an Ed25519 cosignature key (type 0x04)")
        witness = cls(name, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]))
        if witness.key_id.hex() != hex_id.lower():
            raise CheckpointError(f"witness key {name!r}: key id does not match its name and key")
        return witness

    def verify(self, note: str) -> int | None:
        """The timestamp of this witness's valid cosignature on ``note``; None when it has none.
        A line with its name and key ID whose signature does not verify is a CheckpointError."""
        body, lines = _body_and_lines(note)
        for line in lines:
            if not line.startswith(EM_DASH + " "):
                raise CheckpointError("malformed signature line")
            name, _, b64 = line[2:].partition(" ")
            if name != self.name:
                continue
            try:
                blob = base64.b64decode(b64, validate=True)
            except ValueError:
                raise CheckpointError(f"cosignature of {name} is not base64") from None
            if blob[:4] != self.key_id or len(blob) != 4 + 8 + 64:
                continue
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            try:
                self.public_key.verify(blob[12:], _message(body, timestamp))
            except InvalidSignature:
                raise CheckpointError(f"cosignature of witness {name} does not verify") from None
            return timestamp
        return None


def cosign(note: str, name: str, private_key: ed25519.Ed25519PrivateKey, timestamp: int) -> str:
    """``note`` with one more line: ``name``'s cosignature at ``timestamp`` (what a witness returns)."""
    body, _ = _body_and_lines(note)
    witness = Witness(name, private_key.public_key())
    blob = witness.key_id + struct.pack(">Q", timestamp) + private_key.sign(_message(body, timestamp))
    return note + f"{EM_DASH} {name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses count, and how many of them must have cosigned (``quorum``)."""

    witnesses: tuple[Witness, ...] = ()
    quorum: int = 0

    def check(self, note: str) -> list[str]:
        """The names of the witnesses that cosigned ``note``; CheckpointError below the quorum."""
        signed = [w.name for w in self.witnesses if w.verify(note) is not None]
        if len(signed) < self.quorum:
            raise CheckpointError(f"checkpoint carries {len(signed)} valid witness cosignature(s), the policy needs "
                                  f"{self.quorum} of {', '.join(w.name for w in self.witnesses) or 'none'}")
        return signed

    @classmethod
    def from_keys(cls, keys: list[str], quorum: int | None = None) -> "WitnessPolicy":
        witnesses = tuple(Witness.from_text(k) for k in keys)
        quorum = len(witnesses) if quorum is None else quorum
        if not 0 <= quorum <= len(witnesses):
            raise CheckpointError(f"a quorum of {quorum} cannot be met by {len(witnesses)} witness(es)")
        return cls(witnesses, quorum)
