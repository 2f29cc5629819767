"""The audit log: every decision a leaf of an RFC 6962 Merkle tree, signed, checkpointed, provable.

- Record: RFC 8785 canonical JSON; leaf = SHA-256(0x00 ‖ record); each record also carries an
  Ed25519 signature by the log key (over a domain-separated copy of the canonical bytes).
- Tree: hashes of perfect subtrees are stored as the log grows, so inclusion and consistency
  proofs cost O(log n) lookups at any size.
- Checkpoints: C2SP tlog-checkpoint signed notes; consecutive checkpoints must be consistent.
- Privacy: prompt, requester and the policy inputs are salted commitments; salts and clear text
  live in ``audit_openings`` with an expiry, and ``forget`` deletes them while proofs still verify.
  No face embedding, name or image ever enters a record.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import rfc8785
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature

from ..core.errors import AuditError
from ..core.store import Store, audit_log, audit_openings, checkpoints, merkle_nodes
from . import merkle
from .checkpoint import Checkpoint, CheckpointError, NoteSigner, NoteVerifier
from .engine import Decision

RECORD_VERSION = 1
RECORD_SIG_CONTEXT = b"pocketstudio/audit-record/v1\n"
PROOF_FORMAT = "pocketstudio-audit-proof/v1"
DEFAULT_RETENTION = dt.timedelta(days=365)


def commit(value: str, salt: bytes) -> str:
    """A hiding, binding commitment to ``value``."""
    return hashlib.sha256(salt + value.encode("utf-8")).hexdigest()


def canonical(obj: Any) -> bytes:
    return rfc8785.dumps(obj)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    decision_id: str
    created_at: str
    effect: str
    asset_id: str | None
    record: dict
    signature: str
    leaf_hash: bytes

    @property
    def index(self) -> int:
        return self.seq - 1

    @property
    def outcome(self) -> str:
        return self.record.get("outcome", "")

    def to_json(self) -> dict:
        return {"seq": self.seq, "leaf_hash": self.leaf_hash.hex(), "signature": self.signature, **self.record}


@dataclass(frozen=True)
class PendingEntry:
    """What a caller appends; the log adds sequence, origin, commitments and signature."""

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
    findings: tuple = ()  # safety.likeness.Finding; person ids enter the log only as commitments
    image_checks: tuple = ()  # {"source", "faces", "too_small"} per checked image
    subject: dict | None = None  # {"subject_id", "embedding_sha256"} of a learned subject made or used


def verify_proof_bundle(bundle: dict, verifier: NoteVerifier) -> dict:
    """Check an offline proof bundle with nothing but the log's public key; return the record."""
    if bundle.get("format") != PROOF_FORMAT:
        raise AuditError(f"not a {PROOF_FORMAT} bundle")
    try:
        record_bytes = bundle["record"].encode()
        record = json.loads(record_bytes)
        checkpoint = Checkpoint.verify(bundle["checkpoint"], verifier, origin=record.get("log_origin"))
        signature = base64.b64decode(bundle["record_signature"], validate=True)
        proof = [base64.b64decode(p, validate=True) for p in bundle["inclusion_proof"]]
        index = int(bundle["leaf_index"])
    except (KeyError, TypeError, ValueError, CheckpointError) as exc:
        raise AuditError(f"proof bundle rejected: {exc}") from exc
    if canonical(record) != record_bytes:
        raise AuditError("proof bundle rejected: record is not in canonical form")
    if record.get("seq") != index + 1:
        raise AuditError("proof bundle rejected: record sequence does not match the leaf index")
    try:
        verifier.public_key.verify(signature, RECORD_SIG_CONTEXT + record_bytes)
    except InvalidSignature:
        raise AuditError("proof bundle rejected: record signature does not verify") from None
    try:
        merkle.verify_inclusion(index, checkpoint.size, merkle.hash_leaf(record_bytes), proof, checkpoint.root)
    except merkle.ProofError as exc:
        raise AuditError(f"proof bundle rejected: {exc}") from exc
    return record


class AuditLog:
    """Append-only access to the audit tree of one store."""

    def __init__(self, store: Store, signer: NoteSigner, retention: dt.timedelta = DEFAULT_RETENTION):
        self.store = store
        self.signer = signer
        self.origin = signer.name
        self.verifier = signer.verifier
        self.retention = retention

    # -- appending ----------------------------------------------------------------------------
    def append(self, decision: Decision, *, outcome: str, now: dt.datetime, prompt: str, requester: str,
               purpose: str, evaluations: Iterable[Decision] | None = None, asset_id: str | None = None,
               manifest_sha256: str | None = None, manifest_label: str | None = None,
               watermark: dict | None = None, model_sha256: str | None = None,
               failure: str | None = None, findings=(), image_checks=(), subject: dict | None = None,
               conn: sa.Connection | None = None) -> AuditRecord:
        """Append one record; inside ``conn``'s transaction if given, else in a transaction of its own."""
        entry = PendingEntry(decision, outcome, now, prompt, requester, purpose, tuple(evaluations or (decision,)),
                             asset_id, manifest_sha256, manifest_label, watermark, model_sha256, failure,
                             tuple(findings), tuple(image_checks), subject)
        return self.append_many([entry], conn=conn)[0]

    def append_many(self, entries: list[PendingEntry], conn: sa.Connection | None = None) -> list[AuditRecord]:
        """Append a batch in one transaction (one tree update pass, one commit)."""
        try:
            if conn is not None:
                return self._append(conn, entries)
            with self.store.begin() as own:
                return self._append(own, entries)
        except sa.exc.SQLAlchemyError as exc:
            raise AuditError(f"audit append failed: {exc}") from exc

    def _append(self, conn, entries: list[PendingEntry]) -> list[AuditRecord]:
        size = conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.seq), 0))).scalar()
        frontier = _Frontier(conn, size)
        rows, openings, out = [], [], []
        for entry in entries:
            size += 1
            record, opening = self._record(entry, size)
            body = canonical(record)
            signature = base64.b64encode(self.signer.private_key.sign(RECORD_SIG_CONTEXT + body)).decode()
            leaf = merkle.hash_leaf(body)
            rows.append(dict(seq=size, decision_id=entry.decision.decision_id, created_at=record["time"],
                             effect=entry.decision.effect, asset_id=entry.asset_id, record=body.decode(),
                             signature=signature, leaf_hash=leaf))
            openings.append(dict(decision_id=entry.decision.decision_id, openings=json.dumps(opening),
                                 expires_at=(entry.now + self.retention).astimezone(dt.timezone.utc).isoformat()))
            frontier.push(leaf)
            out.append(AuditRecord(size, entry.decision.decision_id, record["time"], entry.decision.effect,
                                   entry.asset_id, record, signature, leaf))
        conn.execute(audit_log.insert(), rows)
        conn.execute(audit_openings.insert(), openings)
        conn.execute(merkle_nodes.insert(), frontier.new_nodes)
        return out

    def _record(self, e: PendingEntry, seq: int) -> tuple[dict, dict]:
        salts = {k: secrets.token_bytes(16) for k in ("prompt", "requester", "inputs")}
        inputs = canonical([list(d.inputs) for d in e.evaluations]).decode()
        clear = {"prompt": e.prompt, "requester": e.requester, "inputs": inputs}
        person_salts = [secrets.token_bytes(16) for _ in e.findings]
        findings = [{"kind": f.kind, "stage": f.stage, "band": f.band, "source": f.source, "distance": f.distance,
                     "person": commit(f.person_id, salt)} for f, salt in zip(e.findings, person_salts)]
        d = e.decision
        record: dict[str, Any] = {
            "v": RECORD_VERSION,
            "seq": seq,
            "log_origin": self.origin,
            "decision_id": d.decision_id,
            "time": e.now.astimezone(dt.timezone.utc).isoformat(),
            "effect": d.effect,
            "outcome": e.outcome,
            "reason": d.reason,
            "rule_ids": list(d.rule_ids),
            "policy_set_hash": d.policy_set_hash,
            "evaluations": [{"stage": x.stage, "effect": x.effect, "rule_ids": list(x.rule_ids),
                             "persons_checked": x.persons_checked} for x in e.evaluations],
            "consent_grant_ids": list(d.consent_grant_ids),
            "purpose": e.purpose,
            "commitments": {k: commit(v, salts[k]) for k, v in clear.items()},
            "findings": findings,
            "image_checks": list(e.image_checks),
            "asset_id": e.asset_id,
            "manifest_sha256": e.manifest_sha256,
            "manifest_label": e.manifest_label,
            "watermark": e.watermark,
            "model_sha256": e.model_sha256,
            "failure": e.failure,
        }
        if e.subject is not None:  # only on records that involve a learned subject (older records lack it)
            record["subject"] = dict(e.subject)
        openings = {k: {"salt": salts[k].hex(), "value": v} for k, v in clear.items()}
        openings["findings"] = [{"salt": salt.hex(), "value": f.person_id} for f, salt in zip(e.findings, person_salts)]
        return record, openings

    # -- tree ---------------------------------------------------------------------------------
    def _node(self, conn):
        def node(level: int, index: int) -> bytes:
            value = conn.execute(sa.select(merkle_nodes.c.hash).where(
                merkle_nodes.c.level == level, merkle_nodes.c.idx == index)).scalar()
            if value is None:
                raise AuditError(f"audit tree node ({level}, {index}) is missing")
            return value
        return node

    def size(self) -> int:
        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.seq), 0))).scalar()

    def root(self, size: int | None = None) -> bytes:
        with self.store.connect() as conn:
            n = self.size() if size is None else size
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
            size = conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.seq), 0))).scalar()
            existing = conn.execute(sa.select(checkpoints).where(checkpoints.c.size == size)).first()
            if existing is not None:
                return Checkpoint.verify(existing.note, self.verifier, self.origin), existing.note
            cp = Checkpoint(self.origin, size, merkle.root_hash(self._node(conn), size))
            note = cp.sign(self.signer)
            conn.execute(checkpoints.insert().values(size=size, root=cp.root, note=note,
                                                     created_at=now.astimezone(dt.timezone.utc).isoformat()))
        return cp, note

    def latest_checkpoint(self) -> tuple[Checkpoint, str] | None:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
        return (Checkpoint.verify(row.note, self.verifier, self.origin), row.note) if row else None

    def prove(self, ref: str, now: dt.datetime) -> dict:
        """An offline proof bundle for one record: record, signature, inclusion proof, checkpoint."""
        record = self.get(ref)
        cp, note = self.checkpoint(now)
        proof = self.inclusion_proof(record.index, cp.size)
        return {
            "format": PROOF_FORMAT,
            "log_key": self.verifier.to_text(),
            "record": canonical(record.record).decode(),
            "record_signature": record.signature,
            "leaf_index": record.index,
            "tree_size": cp.size,
            "inclusion_proof": [base64.b64encode(p).decode() for p in proof],
            "checkpoint": note,
        }

    # -- privacy ----------------------------------------------------------------------------------
    def openings(self, decision_id: str) -> dict | None:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(audit_openings).where(audit_openings.c.decision_id == decision_id)).first()
        return json.loads(row.openings) if row else None

    def forget(self, ref: str) -> AuditRecord:
        """Delete the salts and clear text of a record: it can no longer be opened; proofs still hold."""
        record = self.get(ref)
        with self.store.begin() as conn:
            conn.execute(audit_openings.delete().where(audit_openings.c.decision_id == record.decision_id))
        return record

    def purge_expired(self, now: dt.datetime) -> int:
        with self.store.begin() as conn:
            return conn.execute(audit_openings.delete().where(
                audit_openings.c.expires_at < now.astimezone(dt.timezone.utc).isoformat())).rowcount

    # -- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _row(row) -> AuditRecord:
        return AuditRecord(row.seq, row.decision_id, row.created_at, row.effect, row.asset_id,
                           json.loads(row.record), row.signature, row.leaf_hash)

    def records(self, *, effect: str | None = None, since: str | None = None, until: str | None = None,
                rule: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        query = sa.select(audit_log).order_by(audit_log.c.seq)
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
                     or any(rule in e.get("rule_ids", []) for e in r.record.get("evaluations", []))]
        return found[:limit] if limit else found

    def get(self, ref: str) -> AuditRecord:
        """A record by decision id, asset id or sequence number."""
        cond = [audit_log.c.decision_id == ref, audit_log.c.asset_id == ref]
        if ref.isdigit():
            cond.append(audit_log.c.seq == int(ref))
        with self.store.connect() as conn:
            row = conn.execute(sa.select(audit_log).where(sa.or_(*cond)).order_by(audit_log.c.seq.desc())).first()
        if row is None:
            raise AuditError(f"no audit record for {ref!r}")
        return self._row(row)

    def iter_ids(self) -> Iterator[str]:
        with self.store.connect() as conn:
            yield from (r.decision_id for r in conn.execute(sa.select(audit_log.c.decision_id).order_by(audit_log.c.seq)))

    # -- verification -----------------------------------------------------------------------------
    def verify(self) -> dict:
        """Recompute everything from the records; raise AuditError naming the first problem.

        Checks, in order: sequence without gaps; each record's canonical form, signature and
        indexed columns; its leaf hash; the stored tree nodes against a recomputed tree; every
        stored checkpoint (signature, origin, root at its size); consistency between consecutive
        checkpoints.
        """
        tree = merkle.MemoryTree()
        with self.store.connect() as conn:
            for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
                expected = tree.size + 1
                if row.seq != expected:
                    raise AuditError(f"audit record {expected} is missing (found {row.seq} next)")
                body = row.record.encode()
                try:
                    record = json.loads(body)
                except ValueError:
                    raise AuditError(f"audit record {row.seq}: not JSON") from None
                if canonical(record) != body:
                    raise AuditError(f"audit record {row.seq}: not in canonical form (edited)")
                if record.get("seq") != row.seq:
                    raise AuditError(f"audit record {row.seq}: carries sequence {record.get('seq')} (moved)")
                try:
                    self.verifier.public_key.verify(base64.b64decode(row.signature), RECORD_SIG_CONTEXT + body)
                except (InvalidSignature, ValueError):
                    raise AuditError(f"audit record {row.seq}: signature does not verify (edited)") from None
                if (record.get("decision_id"), record.get("effect"), record.get("asset_id"), record.get("time")) != \
                        (row.decision_id, row.effect, row.asset_id, row.created_at):
                    raise AuditError(f"audit record {row.seq}: indexed columns disagree with the signed record")
                if merkle.hash_leaf(body) != row.leaf_hash:
                    raise AuditError(f"audit record {row.seq}: stored leaf hash does not match the record")
                tree.append_leaf_hash(row.leaf_hash)
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
                    try:
                        merkle.verify_consistency(previous.size, cp.size, previous.root, cp.root,
                                                  merkle.consistency_proof(tree.node, previous.size, cp.size))
                    except merkle.ProofError as exc:
                        raise AuditError(f"checkpoints {previous.size} → {cp.size} are inconsistent: {exc}") from exc
                previous = cp
        return {"records": tree.size, "root": tree.root().hex(), "checkpoints": count}


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
