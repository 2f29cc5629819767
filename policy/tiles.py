"""The audit log as static files others can watch (C2SP tlog-tiles), offline proofs in the C2SP
tlog-proof format, and the monitor that checks a published log only grew.

- ``publish(log, DIR)`` writes ``checkpoint`` (a signed checkpoint, stored in the database too),
  hash tiles ``tile/<L>/<N>[.p/<W>]`` (level L holds the Merkle tree hashes at height 8·L, 256 to
  a full tile) and entry bundles ``tile/entries/<N>[.p/<W>]`` (uint16-length-prefixed leaf
  records: exactly the public records the leaf hashes cover, never an opening). Full tiles are
  immutable, so a later publish writes only what is new; the checkpoint is replaced last.
- ``tlog_proof(log, ref)`` is ``c2sp.org/tlog-proof@v1`` text: the record (and its log
  signature) travels in the ``extra`` line, which the checker never trusts as such: it must hash
  to the leaf that the inclusion proof places under the signed checkpoint.
- ``monitor(saved, source, …)`` verifies the published checkpoint (and its witness cosignatures
  against a policy), rebuilds the tree hashes it needs from the tiles, proves the saved checkpoint
  a prefix of the new one (a truncated or rewritten log fails here, from outside the database),
  and checks every new entry: it hashes to its level-0 tile and is a canonical record of the log
  at its position.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from pocketstudio.core.base.errors import AuditError
from pocketstudio.core.base.store import audit_log, merkle_nodes
from . import merkle
from .checkpoint import Checkpoint, CheckpointError, NoteVerifier
from .cosignature import WitnessPolicy

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_FETCH = 1 << 24


def _index_path(index: int) -> str:
    """Tile index as 3-digit path elements, all but the last prefixed with x (1234067 → x001/x234/067)."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    parts = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{p}" for p in parts[:-1]] + [parts[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    return f"tile/{level}/{_index_path(index)}" + (f".p/{width}" if width < TILE_WIDTH else "")


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return f"tile/entries/{_index_path(index)}" + (f".p/{width}" if width < TILE_WIDTH else "")


def _tiles_of(size: int) -> list[tuple[int, int, int]]:
    """(level, index, width) of every tile a tree of ``size`` has, full and partial."""
    out, level = [], 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)  # perfect subtrees of height 8·level
        for n in range(hashes // TILE_WIDTH):
            out.append((level, n, TILE_WIDTH))
        if hashes % TILE_WIDTH:
            out.append((level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level += 1
    return out


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Published:
    size: int
    tiles_written: int
    bundles_written: int


def publish(log, directory: Path, now) -> Published:
    """Write (or bring up to date) the tiles, entry bundles and checkpoint of ``log`` in ``directory``."""
    directory = Path(directory)
    cp, note = log.checkpoint(now)  # signed and stored: the size the files describe
    tiles = bundles = 0
    with log.store.connect() as conn:
        for level, n, width in _tiles_of(cp.size):
            rel = tile_path(level, n, width)
            if width == TILE_WIDTH and (directory / rel).is_file() and (directory / rel).stat().st_size == 8192:
                continue  # full tiles never change
            start = n * TILE_WIDTH
            rows = conn.execute(sa.select(merkle_nodes.c.idx, merkle_nodes.c.hash).where(
                merkle_nodes.c.level == TILE_HEIGHT * level, merkle_nodes.c.idx >= start,
                merkle_nodes.c.idx < start + width).order_by(merkle_nodes.c.idx)).all()
            if [r.idx for r in rows] != list(range(start, start + width)):
                raise AuditError(f"audit tree nodes of tile {rel} are missing: run 'pocketstudio audit verify'")
            _write(directory, rel, b"".join(r.hash for r in rows))
            tiles += 1
            if level == 0:
                records = conn.execute(sa.select(audit_log.c.record).where(
                    audit_log.c.leaf_index >= start, audit_log.c.leaf_index < start + width)
                    .order_by(audit_log.c.leaf_index)).scalars().all()
                body = bytearray()
                for record in records:
                    data = record.encode()
                    if len(data) > 0xFFFF:
                        raise AuditError("an audit record is longer than an entry bundle can hold (65535 bytes)")
                    body += struct.pack(">H", len(data)) + data
                _write(directory, entries_path(n, width), bytes(body))
                bundles += 1
    _write(directory, "checkpoint", note.encode())
    return Published(cp.size, tiles, bundles)


class TileSource:
    """Reads a published log from a folder or an http(s) URL prefix; what it fetched is cached."""

    def __init__(self, where: str | Path, timeout: float = 20.0):
        text = str(where)
        self.url = text.rstrip("/") + "/" if text.startswith(("http://", "https://")) else None
        self.dir = None if self.url else Path(where)
        self.timeout = timeout
        self.cache: dict[str, bytes] = {}

    def fetch(self, rel: str) -> bytes:
        if rel in self.cache:
            return self.cache[rel]
        try:
            if self.url:
                with urllib.request.urlopen(self.url + rel, timeout=self.timeout) as response:  # noqa: S310 — http(s) only
                    data = response.read(MAX_FETCH + 1)
            else:
                data = (self.dir / rel).read_bytes()
        except (OSError, urllib.error.URLError) as exc:
            raise AuditError(f"cannot fetch {rel} from {self.url or self.dir}: {exc}") from exc
        if len(data) > MAX_FETCH:
            raise AuditError(f"{rel} is larger than any tile")
        if rel != "checkpoint":
            self.cache[rel] = data
        return data

    def checkpoint(self) -> str:
        try:
            return self.fetch("checkpoint").decode()
        except UnicodeDecodeError:
            raise AuditError("the published checkpoint is not text") from None


class TileTree:
    """The hashes of a tree of ``size`` leaves, rebuilt from its tiles (a merkle.PerfectNode)."""

    def __init__(self, source: TileSource, size: int):
        self.source, self.size = source, size
        self.nodes: dict[tuple[int, int], bytes] = {}

    def _tile_hash(self, level: int, j: int) -> bytes:
        """Hash j of the tiles at ``level`` (a perfect subtree of height 8·level)."""
        hashes = self.size >> (TILE_HEIGHT * level)
        if j >= hashes:
            raise AuditError(f"tile level {level} has no hash {j} in a tree of size {self.size}")
        n = j // TILE_WIDTH
        width = min(TILE_WIDTH, hashes - n * TILE_WIDTH)
        data = self.source.fetch(tile_path(level, n, width))
        if len(data) != 32 * width:
            raise AuditError(f"tile {tile_path(level, n, width)} has {len(data)} bytes, not {32 * width}")
        k = j % TILE_WIDTH
        return data[32 * k:32 * k + 32]

    def node(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self.nodes:
            tile_level, height = divmod(level, TILE_HEIGHT)
            if height == 0:
                value = self._tile_hash(tile_level, index)
            else:
                value = merkle.hash_children(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))
            self.nodes[key] = value
        return self.nodes[key]

    def entries(self, start: int, end: int) -> list[bytes]:
        """The entries [start, end), from the entry bundles, each checked against its level-0 hash."""
        out: list[bytes] = []
        for n in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, self.size - n * TILE_WIDTH)
            data, pos, bundle = self.source.fetch(entries_path(n, width)), 0, []
            while pos < len(data):
                if pos + 2 > len(data):
                    raise AuditError(f"entry bundle {n} is truncated")
                (length,) = struct.unpack(">H", data[pos:pos + 2])
                bundle.append(data[pos + 2:pos + 2 + length])
                pos += 2 + length
            if len(bundle) != width or pos != len(data):
                raise AuditError(f"entry bundle {n} holds {len(bundle)} entries, its tile {width}")
            for k, entry in enumerate(bundle):
                index = n * TILE_WIDTH + k
                if start <= index < end:
                    if merkle.hash_leaf(entry) != self.node(0, index):
                        raise AuditError(f"entry {index} does not hash to its leaf in the tiles")
                    out.append(entry)
        return out


@dataclass(frozen=True)
class MonitorResult:
    old_size: int
    checkpoint: Checkpoint
    note: str
    new_entries: int
    witnesses: tuple[str, ...]


def monitor(saved_note: str | None, source: TileSource, verifier: NoteVerifier,
            policy: WitnessPolicy = WitnessPolicy()) -> MonitorResult:
    """Check that the log published at ``source`` extends the checkpoint ``saved_note`` (None: the
    first look) and that its new entries are canonical records of this log, each at its position
    (the log's signature covers them through the checkpoint); AuditError says what broke."""
    from .audit import _position, canonical

    note = source.checkpoint()
    try:
        new = Checkpoint.verify(note, verifier, verifier.name)
        witnesses = tuple(policy.check(note, verifier))
    except CheckpointError as exc:
        raise AuditError(f"the published checkpoint is not acceptable: {exc}") from exc
    old = None
    if saved_note is not None:
        try:
            old = Checkpoint.verify(saved_note, verifier, verifier.name)
        except CheckpointError as exc:
            raise AuditError(f"the saved checkpoint is not one of this log: {exc}") from exc
        if new.size < old.size:
            raise AuditError(f"log truncated: the saved checkpoint covers {old.size} leaves, the published one {new.size}")
    tree = TileTree(source, new.size)
    try:
        if merkle.root_hash(tree.node, new.size) != new.root:
            raise AuditError("the published tiles do not hash to the checkpoint's root")
        if old is not None:
            proof = merkle.consistency_proof(tree.node, old.size, new.size)
            merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except merkle.ProofError as exc:
        raise AuditError(f"log rewritten: the published log does not extend the saved checkpoint ({exc})") from exc
    start = old.size if old is not None else 0
    for index, entry in enumerate(tree.entries(start, new.size), start=start):
        try:
            record = json.loads(entry)
        except ValueError:
            raise AuditError(f"entry {index} is not a JSON record") from None
        if canonical(record) != entry or _position(record) != index or record.get("log_origin") != verifier.name:
            raise AuditError(f"entry {index} is not a canonical record of this log at its position")
    return MonitorResult(start, new, note, new.size - start, witnesses)


# -- c2sp.org/tlog-proof@v1 ---------------------------------------------------------------------------
def tlog_proof(log, ref: str) -> str:
    """The offline proof of one leaf in tlog-proof form; ``extra`` carries the record and its
    log signature (base64 of JSON), which the checker re-derives the leaf hash from."""
    bundle = log.prove(ref)
    extra = json.dumps({"record": bundle["record"], "record_signature": bundle["record_signature"]},
                       separators=(",", ":")).encode()
    lines = [PROOF_HEADER, "extra " + base64.b64encode(extra).decode(), f"index {bundle['leaf_index']}",
             *bundle["inclusion_proof"]]
    return "\n".join(lines) + "\n\n" + bundle["checkpoint"]


def verify_tlog_proof(text: str, verifier: NoteVerifier, policy: WitnessPolicy = WitnessPolicy()) -> dict:
    """Check a tlog-proof with nothing but the log's public key (and a witness policy); the record."""
    from .audit import check_leaf

    try:
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or lines[0] != PROOF_HEADER:
            raise ValueError(f"not a {PROOF_HEADER} proof")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = json.loads(base64.b64decode(rest.pop(0)[6:], validate=True))
        if not rest or not rest[0].startswith("index ") or not rest[0][6:].isdigit():
            raise ValueError("no index line")
        index = int(rest.pop(0)[6:])
        proof = [base64.b64decode(p, validate=True) for p in rest]
        if extra is None:
            raise ValueError("no extra line: this proof does not carry its record")
        record_bytes = extra["record"].encode()
        signature = base64.b64decode(extra["record_signature"], validate=True)
        checkpoint = Checkpoint.verify(note, verifier, verifier.name)
        witnesses = policy.check(note, verifier)
    except (ValueError, KeyError, TypeError, AttributeError, CheckpointError) as exc:
        raise AuditError(f"tlog-proof rejected: {exc}") from exc
    record = check_leaf(record_bytes, signature, index, proof, checkpoint, verifier, "tlog-proof")
    return {"record": record, "index": index, "tree_size": checkpoint.size, "witnesses": witnesses}
