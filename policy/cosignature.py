"""Witness cosignatures on checkpoints (C2SP tlog-cosignature, Ed25519 type) and the policy that
says how many of which witnesses a checkpoint needs.

A cosignature is one more signed-note line under the checkpoint: ``— <witness name>
base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)``, key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖
public key)[:4], over ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body.
A witness states that this is the largest tree consistent with everything it has seen of the log:
a log that shows one history to some and another to others cannot get both cosigned.

Which cosignatures a checkpoint needs is a :class:`WitnessPolicy`, written as a Sigsum policy file
(sigsum-go doc/policy.md, whose Appendix A applies it to C2SP cosigned checkpoints)::

    log   <key> [url]                    # optional: the log this policy is for
    witness <name> <key> [url]           # key: 64 hex (Sigsum) or the vkey name+keyid+base64(0x04 ‖ pub)
    group <name> all|any|<k> <member>…   # k of the members (witnesses or earlier groups)
    quorum <name>|none                   # exactly once

A name is defined before it is used (which rules out cycles), a name is a member at most once in
the file, and a witness's name is the key name its cosignature lines carry.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .checkpoint import EM_DASH, CheckpointError, NoteVerifier, split_note

COSIGNATURE_TYPE = b"\x04"
HEADER = "cosignature/v1\n"
NONE = "none"  # the predefined name of the empty quorum
MAX_POLICY_BYTES = 1024 * 1024


class WitnessPolicyError(CheckpointError):
    """A witness policy (file) is malformed; ``line`` is the 1-based line of the file, when known."""

    def __init__(self, reason: str, line: int | None = None, path: str | Path | None = None):
        where = " ".join(["witness policy", *([str(path)] if path else []), *([f"line {line}"] if line else [])])
        super().__init__(f"{where}: {reason}")
        self.reason, self.line, self.path = reason, line, path


def _raw(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _message(body: str, timestamp: int) -> bytes:
    return f"{HEADER}time {timestamp}\n{body}".encode()


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
        Every line with its name and key ID must verify: one that does not is a CheckpointError,
        never skipped (a forged line next to a good one is an attack, not noise)."""
        body, lines = split_note(note)
        found = None
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
            if blob[:4] != self.key_id:
                continue  # another key under this name: unknown keys are ignored (c2sp.org/signed-note)
            if len(blob) != 4 + 8 + 64:
                raise CheckpointError(f"cosignature of witness {name} is not an Ed25519 cosignature/v1")
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            try:
                self.public_key.verify(blob[12:], _message(body, timestamp))
            except InvalidSignature:
                raise CheckpointError(f"cosignature of witness {name} does not verify") from None
            found = timestamp if found is None else max(found, timestamp)
        return found


def cosign(note: str, name: str, private_key: ed25519.Ed25519PrivateKey, timestamp: int) -> str:
    """``note`` with one more line: ``name``'s cosignature at ``timestamp`` (what a witness returns)."""
    body, _ = split_note(note)
    witness = Witness(name, private_key.public_key())
    blob = witness.key_id + struct.pack(">Q", timestamp) + private_key.sign(_message(body, timestamp))
    return note + f"{EM_DASH} {name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Group:
    """``k`` of ``members`` (names of witnesses or of groups defined before it) must have witnessed."""

    name: str
    k: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses count and which of them must have cosigned: ``quorum`` names a witness or a
    group (None: no cosignature needed). ``logs``: the raw Ed25519 keys of the logs this policy is
    for (empty: any). Checked when built, so a policy object is always well-formed."""

    witnesses: tuple[Witness, ...] = ()
    groups: tuple[Group, ...] = ()
    quorum: str | None = None
    logs: tuple[bytes, ...] = ()
    urls: dict = field(default_factory=dict, compare=False, repr=False)  # name -> URL, unused offline

    def __post_init__(self):
        build = _Builder()
        for log in self.logs:
            build.log(log)
        for w in self.witnesses:
            build.witness(w)
        for g in self.groups:
            build.group(g)
        build.set_quorum(self.quorum if self.quorum is not None else NONE)

    def check(self, note: str, log: NoteVerifier | None = None) -> list[str]:
        """The names of the policy's witnesses that cosigned ``note``; CheckpointError below the quorum."""
        # 1. The log: a policy that names logs is for those logs only.
        if log is not None and self.logs and _raw(log.public_key) not in self.logs:
            raise WitnessPolicyError(f"the policy is for other logs, not {log.name}: check the log key "
                                     "or the policy's log lines")
        # 2. Every cosignature of a policy witness, verified (one that does not verify is an error).
        #    Lines of keys the policy does not name are never counted.
        signed = self.cosigners(note)
        # 3. The quorum: groups only name earlier names, so one pass in order decides each.
        if not self.witnessed(signed):
            raise CheckpointError(f"checkpoint carries {len(signed)} valid witness cosignature(s)"
                                  f"{' (' + ', '.join(sorted(signed)) + ')' if signed else ''}, the policy needs "
                                  f"{self.describe()}")
        return [w.name for w in self.witnesses if w.name in signed]

    def cosigners(self, note: str) -> set[str]:
        """The names of the policy's witnesses with a valid cosignature on ``note`` (a line under
        a policy witness's name and key id that does not verify is a CheckpointError)."""
        return {w.name for w in self.witnesses if w.verify(note) is not None}

    def witnessed(self, signed: set[str]) -> bool:
        """Whether the witnesses named in ``signed`` meet the quorum."""
        if self.quorum is None:
            return True
        ok = {w.name: w.name in signed for w in self.witnesses}
        for g in self.groups:
            ok[g.name] = sum(ok[m] for m in g.members) >= g.k
        return ok[self.quorum]

    def describe(self) -> str:
        """The quorum in words, e.g. ``all of (2 of (a, b, c), d)`` (built in definition order, so
        a deeply nested policy needs no recursion)."""
        if self.quorum is None:
            return "no cosignature"
        text = {w.name: w.name for w in self.witnesses}
        for g in self.groups:
            k = "all" if g.k == len(g.members) else "any" if g.k == 1 else str(g.k)
            text[g.name] = f"{k} of ({', '.join(text[m] for m in g.members)})"
        return text[self.quorum]

    @classmethod
    def from_keys(cls, keys: list[str], quorum: int | None = None) -> "WitnessPolicy":
        """The policy of ``--witness`` keys and ``--quorum``: one group, ``quorum`` of them (default all)."""
        witnesses = tuple(Witness.from_text(k) for k in keys)
        quorum = len(witnesses) if quorum is None else quorum
        if not 0 <= quorum <= len(witnesses):
            raise CheckpointError(f"a quorum of {quorum} cannot be met by {len(witnesses)} witness(es)")
        if quorum == 0:
            return cls(witnesses)
        group = Group("--quorum", quorum, tuple(w.name for w in witnesses))
        return cls(witnesses, (group,), group.name)

    @classmethod
    def parse(cls, text: str) -> "WitnessPolicy":
        """A policy file's text (Sigsum policy format); WitnessPolicyError names the line."""
        build = _Builder()
        quorum_line = None
        defined = _definitions(text)
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in line):
                raise WitnessPolicyError("control character (only tab and newline are allowed)", number)
            words = _words(line)
            if not words:
                continue
            keyword, args = words[0], words[1:]
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise WitnessPolicyError("a log line is: log KEY [URL]", number)
                build.log(_log_key(args[0], number), number)
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise WitnessPolicyError("a witness line is: witness NAME KEY [URL]", number)
                build.witness(_witness_key(args[0], args[1], number), number, args[2] if len(args) == 3 else None)
            elif keyword == "group":
                if len(args) < 3:
                    raise WitnessPolicyError("a group line is: group NAME all|any|K MEMBER...", number)
                name, threshold, members = args[0], args[1], tuple(args[2:])
                if threshold in ("all", "any"):
                    k = len(members) if threshold == "all" else 1
                elif threshold.isascii() and threshold.isdigit() and len(threshold) <= 6:
                    k = int(threshold)
                else:
                    raise WitnessPolicyError(f"group {name}: the threshold is all, any or a number, not {threshold!r}",
                                             number)
                build.group(Group(name, k, members), number, defined)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise WitnessPolicyError("a quorum line is: quorum NAME (or quorum none)", number)
                if quorum_line is not None:
                    raise WitnessPolicyError(f"a second quorum line (the first is line {quorum_line})", number)
                build.set_quorum(args[0], number, defined)
                quorum_line = number
            else:
                raise WitnessPolicyError(f"unknown keyword {keyword!r} (log, witness, group, quorum)", number)
        if quorum_line is None:
            raise WitnessPolicyError("no quorum line: add 'quorum NAME' (a witness or group) or 'quorum none'")
        return cls(tuple(build.witnesses.values()), tuple(build.groups.values()), build.quorum,
                   tuple(build.logs), dict(build.urls))

    @classmethod
    def load(cls, path: str | Path) -> "WitnessPolicy":
        """The policy in the file at ``path`` (UTF-8, at most 1 MiB)."""
        from pocketstudio.core.base.files import read_input

        data = read_input(path, MAX_POLICY_BYTES)
        try:
            return cls.parse(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise WitnessPolicyError("not UTF-8 text", path=path) from None
        except WitnessPolicyError as exc:
            raise WitnessPolicyError(exc.reason, exc.line, path) from None


def _words(line: str) -> list[str]:
    """The items of a policy line: separated by ASCII spaces and tabs, a comment cut off at ``#``."""
    return [w for w in re.split(r"[ \t]+", line.split("#", 1)[0].rstrip("\r")) if w]


def _definitions(text: str) -> dict[str, int]:
    """Each witness or group name with the line defining it: to say "defined later" (and why that
    is refused) instead of "unknown" when a file refers forward, as a cycle must."""
    lines: dict[str, int] = {}
    for n, raw in enumerate(text.split("\n"), start=1):
        words = _words(raw)
        if len(words) >= 2 and words[0] in ("witness", "group"):
            lines.setdefault(words[1], n)
    return lines


def _log_key(text: str, line: int) -> bytes:
    """A log key: 64 hex (Sigsum) or the log's signed-note verifier key (name+keyid+base64(0x01 ‖ pub))."""
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        return _raw(NoteVerifier.from_text(text).public_key)
    except CheckpointError as exc:
        raise WitnessPolicyError(f"log key: {exc} (write 64 hex digits or the log's key file line)", line) from None


def _witness_key(name: str, text: str, line: int) -> Witness:
    """A witness: 64 hex (Sigsum) under ``name``, or a vkey whose own name must be ``name``."""
    _check_witness_name(name, line)
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return Witness(name, ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(text)))
    try:
        witness = Witness.from_text(text)
    except CheckpointError as exc:
        raise WitnessPolicyError(f"witness {name}: {exc} (write 64 hex digits or name+keyid+base64)", line) from None
    if witness.name != name:
        raise WitnessPolicyError(f"witness {name}: its key is named {witness.name!r}; name the witness as its key "
                                 "(cosignature lines carry that name)", line)
    return witness


def _check_witness_name(name: str, line: int | None) -> None:
    if name == NONE:
        raise WitnessPolicyError("'none' is the predefined empty quorum, not a name to define", line)
    if "+" in name or any(c.isspace() for c in name):
        raise WitnessPolicyError(f"name {name!r} may not contain '+' or spaces (it is a signed-note key name)", line)


class _Builder:
    """The rules of a policy, checked one definition at a time (the file's and the object's)."""

    def __init__(self):
        self.logs: list[bytes] = []
        self.witnesses: dict[str, Witness] = {}
        self.groups: dict[str, Group] = {}
        self.urls: dict[str, str] = {}
        self.members: set[str] = set()
        self.quorum: str | None = None

    def _new_name(self, name: str, line: int | None) -> None:
        if name in self.witnesses or name in self.groups:
            raise WitnessPolicyError(f"duplicate name {name!r}", line)

    def log(self, key: bytes, line: int | None = None) -> None:
        if len(key) != 32:
            raise WitnessPolicyError("a log key is a 32-byte Ed25519 public key", line)
        if key in self.logs:
            raise WitnessPolicyError("duplicate log key", line)
        self.logs.append(key)

    def witness(self, w: Witness, line: int | None = None, url: str | None = None) -> None:
        _check_witness_name(w.name, line)
        self._new_name(w.name, line)
        raw = _raw(w.public_key)
        twin = next((o.name for o in self.witnesses.values() if _raw(o.public_key) == raw), None)
        if twin is not None:
            raise WitnessPolicyError(f"witness {w.name} has the same key as witness {twin}", line)
        self.witnesses[w.name] = w
        if url:
            self.urls[w.name] = url

    def _defined(self, name: str, line: int | None, later: dict[str, int], what: str) -> None:
        if name in self.witnesses or name in self.groups:
            return
        if name == NONE:
            raise WitnessPolicyError(f"{what} names 'none', which is only a quorum", line)
        if name in later:
            raise WitnessPolicyError(f"{what} names {name}, defined on line {later[name]}: a name must be defined on "
                                     "an earlier line (this also rules out cycles)", line)
        raise WitnessPolicyError(f"{what} names {name!r}, which is no witness or group of this policy", line)

    def group(self, g: Group, line: int | None = None, later: dict[str, int] | None = None) -> None:
        _check_witness_name(g.name, line)
        self._new_name(g.name, line)
        what = f"group {g.name}"
        if not g.members:
            raise WitnessPolicyError(f"{what} has no members", line)
        if not 1 <= g.k <= len(g.members):
            raise WitnessPolicyError(f"{what}: a threshold of {g.k} is out of range 1 to {len(g.members)}", line)
        for m in g.members:
            if m == g.name:
                raise WitnessPolicyError(f"{what} names itself (a cycle)", line)
            self._defined(m, line, later or {}, what)
            if m in self.members:
                raise WitnessPolicyError(f"{what}: {m} is already a member (each name may be a member once, "
                                         "so no witness counts twice)", line)
            self.members.add(m)
        self.groups[g.name] = g

    def set_quorum(self, name: str, line: int | None = None, later: dict[str, int] | None = None) -> None:
        if name != NONE:
            self._defined(name, line, later or {}, "the quorum")
        self.quorum = None if name == NONE else name
