"""The audit log: every decision a leaf of an RFC 6962 Merkle tree, signed, checkpointed, provable.

- Leaves: RFC 8785 canonical JSON; leaf = SHA-256(0x00 ‖ record); each record also carries an
  Ed25519 signature by the log key (over a domain-separated copy of the canonical bytes).
  Three kinds: exactly one ``decision`` leaf per decision id; ``amendment`` leaves that name the
  decision they follow up (a release whose file could not be published, a failure recorded late);
  ``consent`` events (enrolment, grant, revocation, removal: policy/consent_events.py).
- Public records: a decision leaf is meant to be published with its proof, so it carries only
  what anyone may see (version, log origin, decision id, time, effect, outcome, asset id,
  manifest sha256, policy-set hash, rule ids) plus salted commitments of everything else
  (prompt, requester, purpose, reason, findings and distances, consent ids, …). The clear text
  lives only in ``audit_openings``, with an expiry; ``forget`` deletes it while proofs still
  verify. Leaves written before (record version 1) keep their format.
- Tree: hashes of perfect subtrees are stored as the log grows, so inclusion and consistency
  proofs cost O(log n) lookups at any size.
- Checkpoints: C2SP tlog-checkpoint signed notes. After every append the newest one is also kept
  in a file beside the keys (``witness``), outside the database's control, like a
  transparency-log client's cache: deleting the log's tail, or its checkpoints, no longer passes
  ``verify``.
- A failure that cannot be written to the database (locked, corrupt, full) is spooled, signed, to
  a file beside the checkpoint and appended on the next open (``replay_spool``).
- Many writers (PostgreSQL, a fleet): leaf indices are assigned inside the appending transaction
  under the store's lock on the log's head (``Store.lock_audit_head``), held to commit. Within one
  process, concurrent appenders share transactions (``GroupCommit``): one leader writes every
  waiting appender's rows and leaves under one hold of the lock and one commit, and each returns
  only once that commit is done. On PostgreSQL, writers also store a signed checkpoint at most every
  ``checkpoint_every`` seconds, after commit (docs/fleet.md says why not in the transaction);
  read-only replicas prove against the newest stored one and call a newer leaf "not yet
  checkpointed".
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import rfc8785
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature

from pocketstudio.core.base.errors import AuditError
from pocketstudio.core.base.store import Store, audit_log, audit_openings, checkpoints, merkle_nodes
from . import consent_events, merkle
from .checkpoint import Checkpoint, CheckpointError, NoteSigner, NoteVerifier, split_note
from .cosignature import WitnessPolicy
from .engine import Decision

RECORD_VERSION = 2
LEGACY_RECORD_VERSION = 1  # decision records with their details in clear (before the public format)
RECORD_SIG_CONTEXT = b"pocketstudio/audit-record/v1\n"
SPOOL_SIG_CONTEXT = b"pocketstudio/audit-spool/v1\n"
PROOF_FORMAT = "pocketstudio-audit-proof/v1"
DEFAULT_RETENTION = dt.timedelta(days=365)
# On a shared database, how often (at most) writers store a signed checkpoint for the replicas.
FLEET_CHECKPOINT_EVERY_S = 2.0


class NotYetWitnessed(AuditError):
    """No stored checkpoint covering the leaf carries the cosignatures the witness policy needs
    (witnesses cosign published checkpoints after the fact): retry once they are added."""


class NotWitnessed(AuditError):
    """The leaves committed, but no checkpoint covering them could be kept outside the database:
    nothing may be published on them. ``records`` are the committed leaves."""

    def __init__(self, message: str, records: list):
        super().__init__(message)
        self.records = records


class NotYetCheckpointed(AuditError):
    """The leaf is in the log but no stored checkpoint covers it yet (a replica proves only
    against stored checkpoints): retry in a few seconds."""

DECISION, AMENDMENT, CONSENT = "decision", "amendment", "consent"
# Amendment events.
NOT_PUBLISHED = "not-published"  # the release was recorded, its file never reached the user
FAILED_AFTER_DECISION = "failed-after-decision"

# What a decision leaf shows to anyone; everything else is a salted commitment.
PUBLIC_FIELDS = ("v", "kind", "index", "log_origin", "decision_id", "time", "effect", "outcome", "asset_id",
                 "manifest_sha256", "policy_set_hash", "rule_ids")


def commit(value: str, salt: bytes) -> str:
    """A hiding, binding commitment to ``value``."""
    return hashlib.sha256(salt + value.encode("utf-8")).hexdigest()


def commit_value(value: Any, salt: bytes) -> str:
    """A commitment to a JSON value (its canonical form)."""
    return commit(canonical(value).decode(), salt)


_SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: integers beyond ±(2^53 - 1) are refused
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value.

    A value without floats whose object keys are ASCII serialises identically through the
    standard library's C encoder (sorted keys, no whitespace, the same minimal string escapes;
    tests/test_audit.py checks it against ``rfc8785`` on generated values), about ten times
    faster: this is most of an audit leaf's cost. Floats (ECMAScript number form), non-ASCII
    keys (UTF-16 key order) and anything unusual go through ``rfc8785``."""
    if _plain_json(obj):
        try:
            return _JSON.encode(obj).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 raises its own error for it
            pass
    return rfc8785.dumps(obj)


def _plain_json(obj: Any) -> bool:
    stack = [obj]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is str or t is bool or x is None:
            continue
        if t is int:
            if -_SAFE_INT < x < _SAFE_INT:
                continue
            return False
        if t is dict:
            for k, v in x.items():
                if type(k) is not str or not k.isascii():
                    return False
                stack.append(v)
            continue
        if t is list or t is tuple:
            stack.extend(x)
            continue
        return False
    return True


def _iso(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat()


@dataclass(frozen=True)
class AuditRecord:
    """One leaf as stored: ``record`` is the signed entry (public for v2 decision leaves)."""

    index: int
    kind: str
    entry_id: str
    decision_id: str | None
    created_at: str
    effect: str | None
    asset_id: str | None
    record: dict
    signature: str
    leaf_hash: bytes

    @property
    def outcome(self) -> str:
        return self.record.get("outcome", "")

    @property
    def version(self) -> int:
        return int(self.record.get("v", LEGACY_RECORD_VERSION))

    def to_json(self) -> dict:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex(), "signature": self.signature,
                **{k: v for k, v in self.record.items() if k not in ("seq", "index")}}


@dataclass(frozen=True)
class PendingEntry:
    """What a caller appends for a decision; the log adds position, origin, commitments and signature."""

    decision: Decision
    outcome: str
    now: dt.datetime
    prompt: str
    requester: str
    purpose: str
    evaluations: tuple[Decision, ...] = ()
    asset_id: str | None = None
    manifest_sha256: str | None = None
    manifest_label: str | None = None
    watermark: dict | None = None
    model_sha256: str | None = None
    failure: str | None = None
    findings: tuple = ()  # safety.likeness.Finding; person ids only ever in the openings
    image_checks: tuple = ()  # {"source", "faces", "too_small"} per checked image
    subject: dict | None = None  # {"subject_id", "embedding_sha256"} of a learned subject made or used
    prompt_report: dict | None = None  # what the text encoder kept of the prompt
    client: dict | None = None  # what an API client said about itself (OpenAI ``user``): committed only

    def split(self) -> tuple[dict, dict]:
        """(public fields, private fields) of the leaf this entry becomes."""
        d = self.decision
        public = {"v": RECORD_VERSION, "kind": DECISION, "decision_id": d.decision_id, "time": _iso(self.now),
                  "effect": d.effect, "outcome": self.outcome, "asset_id": self.asset_id,
                  "manifest_sha256": self.manifest_sha256, "policy_set_hash": d.policy_set_hash,
                  "rule_ids": list(d.rule_ids)}
        private = {
            "prompt": self.prompt,
            "requester": self.requester,
            "purpose": self.purpose,
            "reason": d.reason,
            "inputs": canonical([list(x.inputs) for x in (self.evaluations or (d,))]).decode(),
            "evaluations": [{"stage": x.stage, "effect": x.effect, "rule_ids": list(x.rule_ids),
                             "persons_checked": x.persons_checked,
                             "operator_notes": list(getattr(x, "operator_notes", ()))}
                            for x in (self.evaluations or (d,))],
            "consent_grant_ids": list(d.consent_grant_ids),
            "findings": [{"kind": f.kind, "stage": f.stage, "band": f.band, "source": f.source,
                          "distance": f.distance, "person_id": f.person_id} for f in self.findings],
            "image_checks": list(self.image_checks),
            "manifest_label": self.manifest_label,
            "watermark": self.watermark,
            "model_sha256": self.model_sha256,
            "failure": self.failure,
        }
        if self.subject is not None:
            private["subject"] = dict(self.subject)
        if self.prompt_report is not None:
            private["prompt_report"] = dict(self.prompt_report)
        if self.client is not None:
            private["client"] = dict(self.client)
        return public, private


@dataclass(frozen=True)
class _Sealed:
    """A leaf ready for the log but for its position: public fields plus the commitments of the
    private ones, and their openings. Sealing costs most of a leaf's CPU, so it happens in the
    appender's own thread, before the log's lock is taken."""

    record: dict
    opening: dict


def _seal(public: dict, private: dict) -> _Sealed:
    if not private:
        return _Sealed(dict(public), {})
    salts = {k: secrets.token_bytes(16) for k in private}
    return _Sealed({**public, "commitments": {k: commit_value(v, salts[k]) for k, v in private.items()}},
                   {k: {"salt": salts[k].hex(), "value": v} for k, v in private.items()})


@dataclass(frozen=True)
class _Head:
    """The log after an append: its size and the roots of the perfect subtrees on its right edge
    (the only nodes the next append and the root need)."""

    size: int
    nodes: dict  # (level, index) -> hash

    def root(self) -> bytes:
        """RFC 6962 root from the right edge: the subtrees folded from the smallest up."""
        if self.size == 0:
            return hashlib.sha256(b"").digest()
        acc = None
        for level in range(self.size.bit_length()):
            if self.size >> level & 1:
                node = self.nodes[(level, (self.size >> level) - 1)]
                acc = node if acc is None else merkle.hash_children(node, acc)
        return acc


def _amendment(decision_id: str, event: str, reason: str, now: dt.datetime,
               manifest_sha256: str | None = None) -> tuple[dict, dict]:
    public = {"v": RECORD_VERSION, "kind": AMENDMENT, "entry_id": "amd_" + secrets.token_hex(12),
              "amends": decision_id, "event": event, "time": _iso(now)}
    if manifest_sha256 is not None:  # the stored manifest replaced (time-stamped later): public, so a proof shows it
        public["manifest_sha256"] = manifest_sha256
    return public, {"reason": reason}


def verify_proof_bundle(bundle: dict, verifier: NoteVerifier) -> dict:
    """Check an offline proof bundle with nothing but the log's public key; return the record.

    Amendment leaves the bundle carries (``amendments``) are checked against the same checkpoint;
    ``proven_amendments`` returns them."""
    return _verify_bundle(bundle, verifier)[0]


def proven_amendments(bundle: dict, verifier: NoteVerifier) -> list[dict]:
    """The amendment records of a proof bundle, each proven against the bundle's checkpoint."""
    return _verify_bundle(bundle, verifier)[1]


def _verify_bundle(bundle: dict, verifier: NoteVerifier) -> tuple[dict, list[dict]]:
    if bundle.get("format") != PROOF_FORMAT:
        raise AuditError(f"not a {PROOF_FORMAT} bundle")
    try:
        record = json.loads(bundle["record"].encode())
        checkpoint = Checkpoint.verify(bundle["checkpoint"], verifier, origin=record.get("log_origin"))
        main = _verify_leaf(bundle, checkpoint, verifier)
        amendments = [_verify_leaf(a, checkpoint, verifier) for a in bundle.get("amendments", [])]
    except (KeyError, TypeError, ValueError, AttributeError, CheckpointError) as exc:
        raise AuditError(f"proof bundle rejected: {exc}") from exc
    for a in amendments:
        if a.get("kind") != AMENDMENT or a.get("amends") != main.get("decision_id"):
            raise AuditError("proof bundle rejected: an amendment does not amend this decision")
    return main, amendments


def _verify_leaf(part: dict, checkpoint: Checkpoint, verifier: NoteVerifier) -> dict:
    return check_leaf(part["record"].encode(), base64.b64decode(part["record_signature"], validate=True),
                      int(part["leaf_index"]), [base64.b64decode(p, validate=True) for p in part["inclusion_proof"]],
                      checkpoint, verifier, "proof bundle")


def check_leaf(record_bytes: bytes, signature: bytes, index: int, proof: list[bytes], checkpoint: Checkpoint,
               verifier: NoteVerifier, what: str) -> dict:
    """The record of a leaf proven offline (a proof bundle's, a tlog-proof's): canonical, at its
    index, signed by the log, included in ``checkpoint``; AuditError("<what> rejected: …")."""
    record = json.loads(record_bytes)
    if canonical(record) != record_bytes:
        raise AuditError(f"{what} rejected: record is not in canonical form")
    if _position(record) != index:
        raise AuditError(f"{what} rejected: the record's position does not match the leaf index")
    try:
        verifier.public_key.verify(signature, RECORD_SIG_CONTEXT + record_bytes)
    except InvalidSignature:
        raise AuditError(f"{what} rejected: record signature does not verify") from None
    try:
        merkle.verify_inclusion(index, checkpoint.size, merkle.hash_leaf(record_bytes), proof, checkpoint.root)
    except merkle.ProofError as exc:
        raise AuditError(f"{what} rejected: {exc}") from exc
    return record


def _position(record: dict) -> int | None:
    """The leaf index a record says it sits at (version 1 records counted from 1, as ``seq``)."""
    if "index" in record:
        return record["index"]
    return record["seq"] - 1 if isinstance(record.get("seq"), int) else None


class AuditLog:
    """Append-only access to the audit tree of one store.

    ``checkpoint_file``: where the newest signed checkpoint is kept outside the database (None:
    not kept, e.g. a read-only verifier). The spool of failures that could not be written lives
    next to it."""

    def __init__(self, store: Store, signer: NoteSigner, retention: dt.timedelta = DEFAULT_RETENTION,
                 checkpoint_file: Path | None = None, checkpoint_every: float | None = None):
        self.store = store
        self.signer = signer
        self.origin = signer.name
        self.verifier = signer.verifier
        self.retention = retention
        self.checkpoint_file = Path(checkpoint_file) if checkpoint_file is not None else None
        # A shared database gets stored checkpoints for its replicas; one device's file needs none.
        self.checkpoint_every = checkpoint_every if checkpoint_every is not None else (
            FLEET_CHECKPOINT_EVERY_S if store.is_postgres else None)
        self._last_stored = 0.0
        self._group: GroupCommit | None = None
        self._edge: _Head | None = None  # the right edge this process last committed
        self._edge_lock = threading.Lock()
        self._kept: tuple[tuple, Checkpoint] | None = None  # the kept checkpoint as last read (file stat, value)

    @property
    def spool_file(self) -> Path | None:
        return self.checkpoint_file.with_name("audit-spool.jsonl") if self.checkpoint_file else None

    # -- appending ----------------------------------------------------------------------------
    def append(self, decision: Decision, *, outcome: str, now: dt.datetime, prompt: str, requester: str,
               purpose: str, evaluations: Iterable[Decision] | None = None, asset_id: str | None = None,
               manifest_sha256: str | None = None, manifest_label: str | None = None,
               watermark: dict | None = None, model_sha256: str | None = None,
               failure: str | None = None, findings=(), image_checks=(), subject: dict | None = None,
               prompt_report: dict | None = None, client: dict | None = None,
               conn: sa.Connection | None = None) -> AuditRecord:
        """Append one decision leaf; inside ``conn``'s transaction if given, else in one of its own."""
        entry = PendingEntry(decision, outcome, now, prompt, requester, purpose, tuple(evaluations or (decision,)),
                             asset_id, manifest_sha256, manifest_label, watermark, model_sha256, failure,
                             tuple(findings), tuple(image_checks), subject, prompt_report, client)
        return self.append_many([entry], conn=conn)[0]

    def append_many(self, entries: list[PendingEntry], conn: sa.Connection | None = None) -> list[AuditRecord]:
        """Append a batch of decision leaves in one transaction (one tree update pass, one commit)."""
        return self._write([e.split() for e in entries], conn)

    def amend(self, decision_id: str, event: str, reason: str, now: dt.datetime,
              conn: sa.Connection | None = None, manifest_sha256: str | None = None) -> AuditRecord:
        """Append an amendment leaf that follows up ``decision_id`` (its reason is committed;
        ``manifest_sha256``, the hash of a stored manifest that replaces the released one, is public)."""
        return self._write([_amendment(decision_id, event, reason, now, manifest_sha256)], conn)[0]

    def append_consent(self, event: dict, now: dt.datetime, conn: sa.Connection | None = None) -> AuditRecord:
        """Append a consent event (policy/consent_events.py builds ``event``)."""
        public = {"v": RECORD_VERSION, "kind": CONSENT, "entry_id": "cev_" + secrets.token_hex(12),
                  "time": _iso(now), **event}
        return self._write([(public, {})], conn)[0]

    def _write(self, items: list[tuple[dict, dict]], conn: sa.Connection | None) -> list[AuditRecord]:
        sealed = [_seal(public, private) for public, private in items]
        try:
            if conn is not None:
                return self._append(conn, sealed)[0]
            with self.store.begin() as own:
                out, head = self._append(own, sealed)
        except sa.exc.SQLAlchemyError as exc:
            raise _append_failed(exc) from exc
        self._committed(head)
        try:
            self.witness(head)
        except AuditError as exc:
            raise NotWitnessed(f"the audit records committed, but {exc}", out) from exc
        self.store_checkpoint_if_due()
        return out

    @property
    def group(self) -> "GroupCommit":
        """This process's group commit for this log (made on first use)."""
        if self._group is None:
            self._group = GroupCommit(self)
        return self._group

    def submit(self, entries: list[PendingEntry], work: Callable[[sa.Connection], Any] | None = None,
               amendments: Iterable[tuple[str, str, str, dt.datetime]] = ()) -> list[AuditRecord]:
        """Append decision leaves (then ``amendments``: decision id, event, reason, time) through
        the group commit: ``work(conn)`` (e.g. the manifest row of a release) runs in the same
        transaction as the leaves, in a savepoint of its own, and the call returns once that
        transaction has committed and a kept checkpoint covers it. Its error if the transaction
        failed; ``NotWitnessed`` (carrying the records) if it committed but no checkpoint could
        be kept: the caller must not publish, and amends instead."""
        return self.group.submit([e.split() for e in entries] + [_amendment(*a) for a in amendments], work)

    def store_checkpoint_if_due(self, now: dt.datetime | None = None) -> Checkpoint | None:
        """On a shared database: store a signed checkpoint when the newest is older than
        ``checkpoint_every`` seconds (any writer may; the same size is stored once)."""
        if self.checkpoint_every is None or self.store.readonly:
            return None
        if time.monotonic() - self._last_stored < self.checkpoint_every:
            return None
        self._last_stored = time.monotonic()
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.store.connect() as conn:
            newest = conn.execute(sa.select(checkpoints.c.created_at).order_by(checkpoints.c.size.desc())
                                  .limit(1)).scalar()
        if newest is not None and (now - dt.datetime.fromisoformat(newest)).total_seconds() < self.checkpoint_every:
            return None
        try:
            return self.checkpoint(now)[0]
        except sa.exc.IntegrityError:  # another writer stored this size at the same moment
            return None

    def _committed(self, head: "_Head") -> None:
        """Remember the right edge of the tree this process just committed: the next append
        at that size needs no node reads (another writer's append changes the size, and the
        edge is read from the database again)."""
        with self._edge_lock:
            if self._edge is None or head.size >= self._edge.size:
                self._edge = head

    def _append(self, conn, items: list["_Sealed"], locked: bool = False) -> tuple[list[AuditRecord], "_Head"]:
        """Write sealed leaves at the end of the log inside ``conn``'s transaction (``locked``:
        it already holds the log's head); the new head (size, root, right edge) is valid once
        that transaction commits."""
        if not locked:
            self.store.lock_audit_head(conn)  # held to commit: the next appender sees these leaves
        size = conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.leaf_index) + 1, 0))).scalar()
        frontier = _Frontier(conn, size)
        edge = self._edge
        if edge is not None and edge.size == size:
            frontier.cache.update(edge.nodes)
        else:  # another writer moved the head: its right edge, in one query
            frontier.prefetch_edge()
        rows, openings, out = [], [], []
        for item in items:
            index = size
            size += 1
            record = {**item.record, "index": index, "log_origin": self.origin}
            opening = item.opening
            body = canonical(record)
            signature = base64.b64encode(self.signer.private_key.sign(RECORD_SIG_CONTEXT + body)).decode()
            leaf = merkle.hash_leaf(body)
            kind = record["kind"]
            entry_id = record.get("entry_id") or record["decision_id"]
            decision_id = record.get("decision_id") or record.get("amends")
            ref = record.get("person_id") if kind == CONSENT else None
            rows.append(dict(leaf_index=index, kind=kind, entry_id=entry_id, decision_id=decision_id, ref=ref,
                             created_at=record["time"], effect=record.get("effect"), asset_id=record.get("asset_id"),
                             record=body.decode(), signature=signature, leaf_hash=leaf))
            if opening:
                expires = dt.datetime.fromisoformat(record["time"]) + self.retention
                openings.append(dict(entry_id=entry_id, openings=json.dumps(opening), expires_at=_iso(expires)))
            frontier.push(leaf)
            out.append(AuditRecord(index, kind, entry_id, decision_id, record["time"], record.get("effect"),
                                   record.get("asset_id"), record, signature, leaf))
        self.store.insert_many(conn, audit_log, rows)
        self.store.insert_many(conn, audit_openings, openings)
        self.store.insert_many(conn, merkle_nodes, frontier.new_nodes)
        return out, frontier.head()

    # -- the checkpoint kept outside the database ---------------------------------------------
    def witness(self, head: _Head | None = None) -> Checkpoint | None:
        """Sign a checkpoint of the log as committed now (or at ``head``, the state an append of
        this process just committed: no reads) and keep it in ``checkpoint_file`` if it is
        larger than the one kept there (under a file lock: concurrent writers only move it
        forward). A log that no longer contains the kept checkpoint fails ``verify``."""
        if self.checkpoint_file is None:
            return None
        path = self.checkpoint_file
        try:
            with open(path.with_name(path.name + ".lock"), "a") as lock:
                os.chmod(lock.name, 0o600)
                fcntl.flock(lock, fcntl.LOCK_EX)
                kept = self._kept_under_lock()
                if head is not None:
                    if kept is not None and kept.size >= head.size:
                        return kept
                    cp = Checkpoint(self.origin, head.size, head.root())
                else:
                    with self.store.connect() as conn:
                        size = self._size(conn)
                        if kept is not None and kept.size >= size:
                            return kept
                        cp = Checkpoint(self.origin, size, merkle.root_hash(self._node(conn), size))
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(cp.sign(self.signer))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
                self._kept = (_stat_key(path), cp)
                return cp
        except OSError as exc:
            raise AuditError(f"cannot keep the audit checkpoint in {path}: {exc.strerror or exc}; "
                             "check that the keys folder is writable") from exc

    def _kept_under_lock(self) -> Checkpoint | None:
        """``kept_checkpoint``, without reading and verifying the file again when it is the one
        this process last read or wrote (same inode, size and mtime): writers witness after
        every commit. ``verify`` always reads the file afresh."""
        try:
            key = _stat_key(self.checkpoint_file)
        except FileNotFoundError:
            return None
        if self._kept is not None and self._kept[0] == key:
            return self._kept[1]
        kept = self.kept_checkpoint()
        if kept is not None:
            self._kept = (key, kept)
        return kept

    def kept_checkpoint(self) -> Checkpoint | None:
        """The checkpoint kept in ``checkpoint_file``; a file that does not verify is an AuditError."""
        if self.checkpoint_file is None or not self.checkpoint_file.exists():
            return None
        try:
            return Checkpoint.verify(self.checkpoint_file.read_text(), self.verifier, self.origin)
        except (OSError, UnicodeDecodeError, CheckpointError) as exc:
            raise AuditError(f"the checkpoint kept in {self.checkpoint_file} does not verify: {exc}") from exc

    # -- failures that cannot reach the database ----------------------------------------------
    def spool(self, public: dict, private: dict) -> Path:
        """Keep a leaf that could not be appended (a signed JSON line, fsynced) for the next open."""
        if self.spool_file is None:
            raise AuditError("no spool file: the failure could not be recorded anywhere")
        body = canonical({"public": public, "private": private})
        line = json.dumps({"entry": body.decode(), "signature": base64.b64encode(
            self.signer.private_key.sign(SPOOL_SIG_CONTEXT + body)).decode()})
        fd = os.open(self.spool_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return self.spool_file

    def spool_failure(self, entry: PendingEntry | None, amendment: tuple[str, str, str] | None,
                      now: dt.datetime) -> Path:
        """Spool a decision leaf (``entry``) or an amendment (decision id, event, reason)."""
        public, private = entry.split() if entry is not None else _amendment(*amendment, now)
        return self.spool(public, private)

    def spooled(self) -> list[tuple[dict, dict]]:
        """Spooled leaves whose signature verifies (a line that does not is an AuditError)."""
        if self.spool_file is None or not self.spool_file.exists():
            return []
        out = []
        for n, line in enumerate(self.spool_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                body = item["entry"].encode()
                self.verifier.public_key.verify(base64.b64decode(item["signature"]), SPOOL_SIG_CONTEXT + body)
                entry = json.loads(body)
                out.append((entry["public"], entry["private"]))
            except (ValueError, KeyError, TypeError, InvalidSignature):
                raise AuditError(f"{self.spool_file} line {n} is not a spooled record signed by this log") from None
        return out

    def replay_spool(self) -> int:
        """Append what the spool holds (leaves already in the log are skipped), then empty it."""
        items = self.spooled()
        if not items:
            return 0
        with self.store.begin() as conn:
            known = {r.entry_id for r in conn.execute(sa.select(audit_log.c.entry_id).where(
                audit_log.c.entry_id.in_([p.get("entry_id") or p.get("decision_id") for p, _ in items])))}
            todo = [(p, q) for p, q in items if (p.get("entry_id") or p.get("decision_id")) not in known]
            if todo:
                self._append(conn, [_seal(p, q) for p, q in todo])
        self.witness()
        os.replace(self.spool_file, self.spool_file.with_name(self.spool_file.name + ".replayed"))
        return len(todo)

    # -- tree ---------------------------------------------------------------------------------
    def _node(self, conn):
        def node(level: int, index: int) -> bytes:
            value = conn.execute(sa.select(merkle_nodes.c.hash).where(
                merkle_nodes.c.level == level, merkle_nodes.c.idx == index)).scalar()
            if value is None:
                raise AuditError(f"audit tree node ({level}, {index}) is missing")
            return value
        return node

    @staticmethod
    def _size(conn) -> int:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.leaf_index) + 1, 0))).scalar()

    def size(self) -> int:
        with self.store.connect() as conn:
            return self._size(conn)

    def root(self, size: int | None = None) -> bytes:
        with self.store.connect() as conn:
            n = self._size(conn) if size is None else size
            return merkle.root_hash(self._node(conn), n)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.store.connect() as conn:
            return merkle.inclusion_proof(self._node(conn), index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.store.connect() as conn:
            return merkle.consistency_proof(self._node(conn), size1, size2)

    # -- checkpoints and proofs -------------------------------------------------------------------
    def checkpoint(self, now: dt.datetime) -> tuple[Checkpoint, str]:
        """Sign (and store) a checkpoint of the current tree; reuse the stored one at the same size."""
        with self.store.begin() as conn:
            self.store.lock_audit_head(conn)  # the size and its nodes, as no appender is midway
            size = self._size(conn)
            existing = conn.execute(sa.select(checkpoints).where(checkpoints.c.size == size)).first()
            if existing is not None:
                return Checkpoint.verify(existing.note, self.verifier, self.origin), existing.note
            cp = Checkpoint(self.origin, size, merkle.root_hash(self._node(conn), size))
            note = cp.sign(self.signer)
            conn.execute(checkpoints.insert().values(size=size, root=cp.root, note=note, created_at=_iso(now)))
        return cp, note

    def current_checkpoint(self) -> tuple[Checkpoint, str]:
        """A checkpoint of the tree as committed now, signed in memory: nothing is written."""
        with self.store.connect() as conn:
            size = self._size(conn)
            cp = Checkpoint(self.origin, size, merkle.root_hash(
                self._prefetched(conn, lambda node: merkle.root_hash(node, size)), size))
        return cp, cp.sign(self.signer)

    @staticmethod
    def _prefetched(conn, *walks):
        """A node source holding, from one query, every tree node that ``walks`` (functions of a
        node source) read: which nodes a proof or root needs depends on sizes and indices only,
        so a dry run that records the keys finds them. On a networked database this replaces
        one round trip per node (about 40 at 10^6 leaves) with one."""
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return bytes(merkle.HASH_SIZE)

        for walk in walks:
            walk(record)
        found = {}
        if wanted:
            key = sa.tuple_(merkle_nodes.c.level, merkle_nodes.c.idx)
            found = {(r.level, r.idx): r.hash for r in conn.execute(
                sa.select(merkle_nodes.c.level, merkle_nodes.c.idx, merkle_nodes.c.hash).where(key.in_(sorted(wanted))))}

        def node(level: int, index: int) -> bytes:
            value = found.get((level, index))
            if value is None:
                raise AuditError(f"audit tree node ({level}, {index}) is missing")
            return value
        return node

    def latest_checkpoint(self) -> tuple[Checkpoint, str] | None:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
        return (Checkpoint.verify(row.note, self.verifier, self.origin), row.note) if row else None

    def prove(self, ref: str, now: dt.datetime | None = None,  # noqa: ARG002 — signed at the log's now
              witnessed: WitnessPolicy | None = None) -> dict:
        """An offline proof bundle for one leaf: record, signature, inclusion proof, a checkpoint
        signed in memory (nothing is written, so proving needs no write lock), and for a decision
        the amendment leaves that follow it up. ``witnessed``: prove against the newest stored
        checkpoint that covers the leaf and carries the cosignatures this witness policy needs
        (``NotYetWitnessed`` when none does)."""
        record = self.get(ref)
        cp, note = self._witnessed_checkpoint(record, witnessed) if witnessed else self._proving_checkpoint(record)
        with self.store.connect() as conn:
            amendments = [] if record.kind != DECISION else [
                self._row(r) for r in conn.execute(sa.select(audit_log).where(
                    audit_log.c.kind == AMENDMENT, audit_log.c.decision_id == record.decision_id,
                    audit_log.c.leaf_index < cp.size).order_by(audit_log.c.leaf_index))]
            node = self._prefetched(conn, *(functools.partial(_inclusion_walk, index=r.index, size=cp.size)
                                            for r in (record, *amendments)))

            def part(r: AuditRecord) -> dict:
                return {"record": canonical(r.record).decode(), "record_signature": r.signature,
                        "leaf_index": r.index,
                        "inclusion_proof": [base64.b64encode(p).decode()
                                            for p in merkle.inclusion_proof(node, r.index, cp.size)]}

            bundle = {"format": PROOF_FORMAT, "log_key": self.verifier.to_text(), **part(record),
                      "tree_size": cp.size, "checkpoint": note}
            if amendments:
                bundle["amendments"] = [part(a) for a in amendments]
        return bundle

    def _proving_checkpoint(self, record: AuditRecord) -> tuple[Checkpoint, str]:
        """A writer, or one device reading its own file, signs the log as it is now; a read-only
        replica of a shared database (PostgreSQL) takes the newest checkpoint the writers stored,
        so that all replicas answer from the same signed tree heads and serving needs no signing, and
        a leaf beyond it is not yet checkpointed."""
        if not (self.store.readonly and self.checkpoint_every is not None):
            return self.current_checkpoint()
        latest = self.latest_checkpoint()
        if latest is None or latest[0].size <= record.index:
            covered = latest[0].size if latest else 0
            raise NotYetCheckpointed(f"audit leaf {record.index} is not yet checkpointed (the newest stored checkpoint "
                                     f"covers {covered} leaves; writers store one every few seconds): retry shortly")
        return latest

    def _witnessed_checkpoint(self, record: AuditRecord, policy: WitnessPolicy) -> tuple[Checkpoint, str]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(checkpoints.c.note).where(checkpoints.c.size > record.index)
                                .order_by(checkpoints.c.size.desc()).limit(WITNESSED_SEARCH)).scalars().all()
        for note in rows:
            try:
                cp = Checkpoint.verify(note, self.verifier, self.origin)
                signed = policy.cosigners(note)
            except CheckpointError as exc:
                raise AuditError(f"a stored checkpoint of size {_note_size(note)} does not verify: {exc}") from exc
            if policy.witnessed(signed):
                return cp, note
        raise NotYetWitnessed(f"audit leaf {record.index} is in the log, but no stored checkpoint over it carries "
                              f"the cosignatures the witness policy needs ({policy.describe()}): add them with "
                              "'pocketstudio audit add-cosignatures' once the witnesses have cosigned")

    def add_cosignatures(self, note: str, now: dt.datetime | None = None) -> tuple[Checkpoint, int]:
        """Keep witnesses' cosignatures of one of this log's checkpoints (the note a witness
        returned): it must carry the log's own signature and name the log's root at its size;
        its signature lines join those of the stored checkpoint of that size (stored now if it
        was not). Returns the checkpoint and how many lines were new."""
        try:
            cp = Checkpoint.verify(note, self.verifier, self.origin)
            _, lines = split_note(note)
        except CheckpointError as exc:
            raise AuditError(f"not a checkpoint signed by this log ({self.origin}): {exc}") from exc
        if len(lines) > MAX_NOTE_SIGNATURES:
            raise AuditError(f"the note carries {len(lines)} signature lines; at most {MAX_NOTE_SIGNATURES} are kept")
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.store.begin() as conn:
            size = self._size(conn)
            if cp.size > size:
                raise AuditError(f"the checkpoint is of {cp.size} leaves, the log has {size}: not this log's history")
            if merkle.root_hash(self._node(conn), cp.size) != cp.root:
                raise AuditError(f"the checkpoint's root is not this log's root at size {cp.size}: a different "
                                 "history (a fork) was cosigned; keep the note as evidence")
            stored = conn.execute(sa.select(checkpoints.c.note).where(checkpoints.c.size == cp.size)).scalar()
            if stored is None:
                conn.execute(checkpoints.insert().values(size=cp.size, root=cp.root, note=note, created_at=_iso(now)))
                return cp, len(lines) - 1
            body, kept = split_note(stored)
            new = [line for line in lines if line not in kept]
            if new:
                conn.execute(checkpoints.update().where(checkpoints.c.size == cp.size).values(
                    note=body + "\n" + "".join(line + "\n" for line in kept + new)))
        return cp, len(new)

    def amendments(self, decision_id: str) -> list[AuditRecord]:
        with self.store.connect() as conn:
            return [self._row(r) for r in conn.execute(sa.select(audit_log).where(
                audit_log.c.kind == AMENDMENT, audit_log.c.decision_id == decision_id).order_by(audit_log.c.leaf_index))]

    # -- privacy ----------------------------------------------------------------------------------
    def openings(self, entry_id: str) -> dict | None:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(audit_openings).where(audit_openings.c.entry_id == entry_id)).first()
        return json.loads(row.openings) if row else None

    def details(self, record: AuditRecord) -> dict | None:
        """The whole record: public fields plus the opened commitments (each checked against its
        commitment); None once forgotten. Version 1 records hold their details in clear."""
        opened = self.openings(record.entry_id)
        if record.version == LEGACY_RECORD_VERSION:
            full = dict(record.record)
            if opened is not None:
                full.update({k: v["value"] for k, v in opened.items() if k in ("prompt", "requester")})
                for f, o in zip(full.get("findings", []), opened.get("findings", [])):
                    f["person_id"] = o["value"]
            return full
        if opened is None:
            return None if record.record.get("commitments") else dict(record.record)
        commitments = record.record.get("commitments", {})
        full = dict(record.record)
        for key, o in opened.items():
            if commitments.get(key) != commit_value(o["value"], bytes.fromhex(o["salt"])):
                raise AuditError(f"audit entry {record.entry_id}: the opening of {key!r} does not match its commitment")
            full[key] = o["value"]
        return full

    def forget(self, ref: str) -> AuditRecord:
        """Delete the salts and clear text of a record: it can no longer be opened; proofs still hold."""
        record = self.get(ref)
        with self.store.begin() as conn:
            conn.execute(audit_openings.delete().where(audit_openings.c.entry_id == record.entry_id))
        return record

    def purge_expired(self, now: dt.datetime) -> int:
        with self.store.begin() as conn:
            return conn.execute(audit_openings.delete().where(audit_openings.c.expires_at < _iso(now))).rowcount

    # -- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _row(row) -> AuditRecord:
        return AuditRecord(row.leaf_index, row.kind, row.entry_id, row.decision_id, row.created_at, row.effect,
                           row.asset_id, json.loads(row.record), row.signature, row.leaf_hash)

    def records(self, *, effect: str | None = None, since: str | None = None, until: str | None = None,
                rule: str | None = None, kind: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        query = sa.select(audit_log).order_by(audit_log.c.leaf_index)
        if kind:
            query = query.where(audit_log.c.kind == kind)
        if effect:
            query = query.where(audit_log.c.effect == effect)
        if since:
            query = query.where(audit_log.c.created_at >= since)
        if until:
            query = query.where(audit_log.c.created_at < until)
        with self.store.connect() as conn:
            found = [self._row(r) for r in conn.execute(query)]
        if rule:
            found = [r for r in found if rule in r.record.get("rule_ids", [])
                     or any(rule in e.get("rule_ids", []) for e in self._evaluations(r))]
        return found[:limit] if limit else found

    def _evaluations(self, record: AuditRecord) -> list[dict]:
        if record.kind != DECISION:
            return []
        if "evaluations" in record.record:
            return record.record["evaluations"]
        opened = self.openings(record.entry_id) or {}
        return (opened.get("evaluations") or {}).get("value") or []

    def get(self, ref: str) -> AuditRecord:
        """A leaf by decision id (its decision leaf), entry id, asset id, or a unique prefix of
        the decision or entry id of at least 8 characters (as ``audit list`` shows them)."""
        with self.store.connect() as conn:
            row = conn.execute(sa.select(audit_log).where(sa.or_(
                audit_log.c.entry_id == ref, audit_log.c.asset_id == ref)).order_by(
                (audit_log.c.kind != DECISION), audit_log.c.leaf_index.desc())).first()
            if row is None and len(ref) >= 8 and all(c.isalnum() or c in "_-" for c in ref):
                rows = conn.execute(sa.select(audit_log).where(audit_log.c.entry_id.startswith(ref))
                                    .limit(2)).all()
                if len(rows) > 1:
                    raise AuditError(f"{ref!r} is the start of several audit entries; give more of the id")
                row = rows[0] if rows else None
        if row is None:
            raise AuditError(f"no audit record for {ref!r}")
        return self._row(row)

    def iter_ids(self) -> Iterator[str]:
        with self.store.connect() as conn:
            yield from (r.entry_id for r in conn.execute(sa.select(audit_log.c.entry_id).order_by(audit_log.c.leaf_index)))

    # -- verification -----------------------------------------------------------------------------
    def verify(self, trusted_checkpoints: Iterable[str] = ()) -> dict:
        """Recompute everything from the records; raise AuditError naming what broke.

        Checks, in order: positions without gaps; each record's canonical form, signature and
        indexed columns; its leaf hash; the stored tree nodes against a recomputed tree; every
        stored checkpoint (signature, origin, root at its size) and the consistency between
        consecutive ones; the checkpoint kept outside the database and any ``trusted_checkpoints``
        (signed notes a verifier saved): the log must still contain each (no truncation, no
        rewrite); every stored manifest has its released decision leaf; consent rows agree with
        their signed history (policy/consent_events.py); nothing waits in the spool.
        """
        tree = merkle.MemoryTree()
        leaves: list[AuditRecord] = []
        with self.store.connect() as conn:
            for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.leaf_index)):
                where = f"audit leaf {row.leaf_index}"
                if row.leaf_index != tree.size:
                    raise AuditError(f"audit leaf {tree.size} is missing (found {row.leaf_index} next)")
                body = row.record.encode()
                try:
                    record = json.loads(body)
                except ValueError:
                    raise AuditError(f"{where}: not JSON") from None
                if canonical(record) != body:
                    raise AuditError(f"{where}: not in canonical form (edited)")
                if _position(record) != row.leaf_index:
                    raise AuditError(f"{where}: carries position {_position(record)} (moved)")
                try:
                    self.verifier.public_key.verify(base64.b64decode(row.signature), RECORD_SIG_CONTEXT + body)
                except (InvalidSignature, ValueError):
                    raise AuditError(f"{where}: signature does not verify (edited)") from None
                kind = record.get("kind", DECISION)
                expected = (kind, record.get("entry_id") or record.get("decision_id"),
                            record.get("decision_id") or record.get("amends"),
                            record.get("person_id") if kind == CONSENT else None, record.get("effect"),
                            record.get("asset_id"), record.get("time"))
                if expected != (row.kind, row.entry_id, row.decision_id, row.ref, row.effect, row.asset_id,
                                row.created_at):
                    raise AuditError(f"{where}: indexed columns disagree with the signed record")
                if merkle.hash_leaf(body) != row.leaf_hash:
                    raise AuditError(f"{where}: stored leaf hash does not match the record")
                tree.append_leaf_hash(row.leaf_hash)
                leaves.append(self._row(row))
            stored = {(r.level, r.idx): r.hash for r in conn.execute(sa.select(merkle_nodes))}
            expected_nodes = {(lvl, i): h for lvl, level in enumerate(tree.levels) for i, h in enumerate(level)}
            for key in sorted(set(stored) | set(expected_nodes)):
                if stored.get(key) != expected_nodes.get(key):
                    raise AuditError(f"audit tree node (level {key[0]}, index {key[1]}) does not match the records")
            previous = None
            count = 0
            for row in conn.execute(sa.select(checkpoints).order_by(checkpoints.c.size)):
                count += 1
                try:
                    cp = Checkpoint.verify(row.note, self.verifier, self.origin)
                except CheckpointError as exc:
                    raise AuditError(f"checkpoint at size {row.size}: {exc}") from exc
                if cp.size != row.size or cp.root != row.root:
                    raise AuditError(f"checkpoint at size {row.size}: note disagrees with its row")
                if cp.size > tree.size or tree.root(cp.size) != cp.root:
                    raise AuditError(f"checkpoint at size {row.size}: root does not match the log")
                if previous is not None:
                    _check_consistent(tree, previous, cp, f"checkpoints {previous.size} → {cp.size}")
                previous = cp
            outside = []
            kept = self.kept_checkpoint()
            if kept is not None:
                outside.append((f"the checkpoint kept in {self.checkpoint_file}", kept))
            for n, note in enumerate(trusted_checkpoints, start=1):
                try:
                    outside.append((f"the given checkpoint {n}", Checkpoint.verify(note, self.verifier, self.origin)))
                except CheckpointError as exc:
                    raise AuditError(f"the given checkpoint {n} is not a checkpoint of this log: {exc}") from exc
            for name, cp in outside:
                if cp.size > tree.size:
                    raise AuditError(f"log truncated: {name} covers {cp.size} leaves, the log now holds {tree.size}")
                _check_consistent(tree, cp, None, f"{name} (size {cp.size})")
            problems = _manifests_without_leaves(conn, leaves) + consent_events.check_rows(conn, leaves)
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise AuditError(f"the database disagrees with the signed log: {shown}")
        waiting = len(self.spooled())
        if waiting:
            raise AuditError(f"{waiting} failure record(s) wait in {self.spool_file}: open the studio once "
                             "(any generate) to append them")
        return {"records": tree.size, "root": tree.root().hex(), "checkpoints": count,
                "kept_checkpoint": kept.size if kept is not None else None}


WITNESSED_SEARCH = 100  # stored checkpoints searched, newest first, for one the witness policy accepts
MAX_NOTE_SIGNATURES = 64  # signature lines kept on one stored checkpoint


def _note_size(note: str) -> str:
    parts = note.split("\n", 2)
    return parts[1] if len(parts) > 2 else "?"


def _stat_key(path: Path) -> tuple:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _inclusion_walk(node, index: int, size: int) -> None:
    merkle.inclusion_proof(node, index, size)


def _append_failed(exc: sa.exc.SQLAlchemyError) -> AuditError:
    orig = getattr(exc, "orig", None) or exc
    return AuditError(f"audit append failed: {type(orig).__name__}: {(str(orig).splitlines() or [''])[0]}")


@dataclass
class _Ticket:
    items: list["_Sealed"]
    work: Callable[[sa.Connection], Any] | None
    done: bool = False
    result: list[AuditRecord] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    """Group commit across the writers of one process.

    An appender queues its leaves (and ``work``: rows that must commit with them); if no leader
    is writing, it becomes the leader: it opens a transaction and takes the log's lock first,
    and only then takes every ticket queued by then (so the appenders that arrived while another
    process held the lock ride along), writes each ticket's work in its own savepoint (a failing
    one is rolled back alone and gets its error), then the leaves of the others, then commits
    once, and witnesses the batch (the kept checkpoint) before handing the lead over: appenders
    that arrive meanwhile wait and ride in the next batch. (Handing the lead over before the
    witness overlaps the two, but measured smaller batches and no gain.) Each returns only after
    the commit that holds its leaves and the checkpoint that covers them, so a release's record
    is durable and witnessed before its file is published."""

    def __init__(self, log: AuditLog, max_batch: int = 512):
        self.log = log
        self.max_batch = max_batch
        self.cv = threading.Condition()
        self.queue: list[_Ticket] = []
        self.leading = False

    def submit(self, items: list[tuple[dict, dict]], work: Callable[[sa.Connection], Any] | None = None
               ) -> list[AuditRecord]:
        ticket = _Ticket([_seal(public, private) for public, private in items], work)  # sealed before the queue
        with self.cv:
            self.queue.append(ticket)
            while not ticket.done:
                if self.leading:
                    self.cv.wait()
                    continue
                self.leading = True
                self.cv.release()
                batch: list[_Ticket] = []
                try:
                    batch, head = self._commit_next()
                    self._witness(batch, head)
                finally:
                    self.cv.acquire()
                    self.leading = False
                    for t in batch:
                        t.done = True
                    self.cv.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def _take(self) -> list[_Ticket]:
        with self.cv:
            batch, self.queue = self.queue[:self.max_batch], self.queue[self.max_batch:]
        return batch

    def _commit_next(self) -> tuple[list[_Ticket], "_Head | None"]:
        """Lead one batch: lock, take the queue, write, commit. A ticket gets its records or
        its error; nothing here raises."""
        log = self.log
        batch: list[_Ticket] = []
        head = None
        try:
            try:
                with log.store.begin() as conn:
                    log.store.lock_audit_head(conn)
                    batch = self._take()
                    good = []
                    for t in batch:
                        if t.work is None:
                            good.append(t)
                            continue
                        savepoint = conn.begin_nested()
                        try:
                            t.work(conn)
                            savepoint.commit()
                            good.append(t)
                        except Exception as exc:  # noqa: BLE001 — that writer's own failure, handed back to it
                            savepoint.rollback()
                            t.error = exc
                    records, head = (log._append(conn, [i for t in good for i in t.items], locked=True) if good
                                     else ([], None))
                    for t in good:
                        t.result, records = records[:len(t.items)], records[len(t.items):]
            except sa.exc.SQLAlchemyError as exc:
                raise _append_failed(exc) from exc
        except BaseException as exc:  # nothing of this batch committed
            batch = batch or self._take()  # the database failed before the batch was taken: tell them
            for t in batch:
                if t.error is None:
                    t.error, t.result = exc, []
            head = None
        if head is not None:
            log._committed(head)
        return batch, head

    def _witness(self, batch: list[_Ticket], head: "_Head | None") -> None:
        """Keep a checkpoint covering the batch before any of its appenders returns."""
        if not any(t.error is None for t in batch):
            return
        try:
            self.log.witness(head)
            self.log.store_checkpoint_if_due()
        except Exception as exc:  # noqa: BLE001 — committed, but not witnessed: the appenders must not publish
            for t in batch:
                if t.error is None:
                    t.error = NotWitnessed(f"the audit records committed, but {exc}", t.result)


def _check_consistent(tree: merkle.MemoryTree, old: Checkpoint, new: Checkpoint | None, name: str) -> None:
    """``old`` (a checkpoint) is a prefix of ``new`` (or of the log as it is)."""
    size2 = new.size if new is not None else tree.size
    root2 = new.root if new is not None else tree.root()
    try:
        merkle.verify_consistency(old.size, size2, old.root, root2, merkle.consistency_proof(tree.node, old.size, size2))
    except merkle.ProofError as exc:
        raise AuditError(f"{name} is inconsistent with the log (rewritten): {exc}") from exc


def _manifests_without_leaves(conn, leaves: list[AuditRecord]) -> list[str]:
    """Every stored manifest must have the released decision leaf that names it, and its hash
    must be the one of that leaf or of the last amendment that replaced it (a later time-stamp)."""
    from pocketstudio.core.base.store import manifests

    released = {r.decision_id: r for r in leaves if r.kind == DECISION}
    replaced = {r.decision_id: r.record["manifest_sha256"] for r in leaves
                if r.kind == AMENDMENT and r.record.get("manifest_sha256")}
    problems = []
    for m in conn.execute(sa.select(manifests.c.asset_id, manifests.c.decision_id, manifests.c.manifest_sha256)):
        leaf = released.get(m.decision_id)
        if leaf is None:
            problems.append(f"manifest of asset {m.asset_id} has no decision leaf ({m.decision_id})")
        elif (leaf.outcome, leaf.asset_id, replaced.get(m.decision_id, leaf.record.get("manifest_sha256"))) != (
                "released", m.asset_id, m.manifest_sha256):
            problems.append(f"manifest of asset {m.asset_id} does not match the leaf of decision {m.decision_id}")
    return problems


class _Frontier:
    """The right edge of the tree during a batch append: new perfect-subtree nodes to insert."""

    def __init__(self, conn, size: int):
        self.conn = conn
        self.size = size
        self.cache: dict[tuple[int, int], bytes] = {}
        self.new_nodes: list[dict] = []

    def _get(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self.cache:
            value = self.conn.execute(sa.select(merkle_nodes.c.hash).where(
                merkle_nodes.c.level == level, merkle_nodes.c.idx == index)).scalar()
            if value is None:
                raise AuditError(f"audit tree node ({level}, {index}) is missing")
            self.cache[key] = value
        return self.cache[key]

    @staticmethod
    def _edge_keys(n: int) -> list[tuple[int, int]]:
        return [(level, (n >> level) - 1) for level in range(n.bit_length()) if n >> level & 1]

    def prefetch_edge(self) -> None:
        keys = self._edge_keys(self.size)
        if keys:
            for level, idx, value in self.conn.execute(sa.select(
                    merkle_nodes.c.level, merkle_nodes.c.idx, merkle_nodes.c.hash).where(
                    sa.tuple_(merkle_nodes.c.level, merkle_nodes.c.idx).in_(keys))):
                self.cache[(level, idx)] = value

    def head(self) -> _Head:
        """The right edge after the pushes (nodes read or written in this batch)."""
        return _Head(self.size, {key: self._get(*key) for key in self._edge_keys(self.size)})

    def push(self, leaf: bytes) -> None:
        level, index, value = 0, self.size, leaf
        self.size += 1
        while True:
            self.cache[(level, index)] = value
            self.new_nodes.append(dict(level=level, idx=index, hash=value))
            if not index & 1:
                break
            value = merkle.hash_children(self._get(level, index - 1), value)
            level, index = level + 1, index >> 1
