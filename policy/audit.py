"""The audit log, first version: one hash-linked, canonical-JSON record per decision.

record_hash = SHA-256(prev_hash ‖ RFC 8785 canonical JSON of the record); the first record
links to 64 zeros. Prompt and requester are stored only as salted commitments
(SHA-256(salt ‖ value)); salts and clear text live in a separate table so that they can be
forgotten while the chain still verifies. No face embedding, name or image ever enters a record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterator

import rfc8785
import sqlalchemy as sa

from ..core.errors import AuditError
from ..core.store import Store, audit_log, audit_openings
from .engine import Decision

GENESIS = "0" * 64
RECORD_VERSION = 1


def commit(value: str, salt: bytes) -> str:
    """A hiding, binding commitment to ``value``."""
    return hashlib.sha256(salt + value.encode("utf-8")).hexdigest()


def canonical(record: dict) -> bytes:
    return rfc8785.dumps(record)


def chain_hash(prev_hash: str, record: dict) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(record)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    decision_id: str
    created_at: str
    effect: str
    asset_id: str | None
    record: dict
    prev_hash: str
    record_hash: str

    @property
    def outcome(self) -> str:
        return self.record.get("outcome", "")

    def to_json(self) -> dict:
        return {"seq": self.seq, "prev_hash": self.prev_hash, "record_hash": self.record_hash, **self.record}


class AuditLog:
    """Append-only access to the audit table of one store."""

    def __init__(self, store: Store, origin: str):
        self.store = store
        self.origin = origin

    def append(self, decision: Decision, *, outcome: str, now: dt.datetime, prompt: str, requester: str,
               purpose: str, evaluations: list[Decision] | None = None, asset_id: str | None = None,
               manifest_sha256: str | None = None, manifest_label: str | None = None,
               watermark: dict | None = None, model_sha256: str | None = None,
               failure: str | None = None, conn: sa.Connection | None = None) -> AuditRecord:
        """Append one record; inside ``conn``'s transaction if given, else in a transaction of its own."""
        prompt_salt, requester_salt = secrets.token_bytes(16), secrets.token_bytes(16)
        record: dict[str, Any] = {
            "v": RECORD_VERSION,
            "log_origin": self.origin,
            "decision_id": decision.decision_id,
            "time": now.astimezone(dt.timezone.utc).isoformat(),
            "effect": decision.effect,
            "outcome": outcome,
            "reason": decision.reason,
            "rule_ids": list(decision.rule_ids),
            "policy_set_hash": decision.policy_set_hash,
            "evaluations": [{"stage": d.stage, "effect": d.effect, "rule_ids": list(d.rule_ids),
                             "persons_checked": d.persons_checked} for d in (evaluations or [decision])],
            "consent_grant_ids": list(decision.consent_grant_ids),
            "purpose": purpose,
            "commitments": {"prompt": commit(prompt, prompt_salt), "requester": commit(requester, requester_salt)},
            "asset_id": asset_id,
            "manifest_sha256": manifest_sha256,
            "manifest_label": manifest_label,
            "watermark": watermark,
            "model_sha256": model_sha256,
            "failure": failure,
        }
        openings = {"prompt": {"salt": prompt_salt.hex(), "value": prompt},
                    "requester": {"salt": requester_salt.hex(), "value": requester}}
        try:
            if conn is not None:
                return self._append(conn, record, openings, decision, asset_id)
            with self.store.begin() as own:
                return self._append(own, record, openings, decision, asset_id)
        except sa.exc.SQLAlchemyError as exc:
            raise AuditError(f"audit append failed: {exc}") from exc

    def _append(self, conn, record, openings, decision, asset_id) -> AuditRecord:
        last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.record_hash)
                            .order_by(audit_log.c.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.record_hash) if last else (1, GENESIS)
        record = dict(record, seq=seq)
        digest = chain_hash(prev, record)
        conn.execute(audit_log.insert().values(
            seq=seq, decision_id=decision.decision_id, created_at=record["time"], effect=decision.effect,
            asset_id=asset_id, record=canonical(record).decode(), prev_hash=prev, record_hash=digest))
        conn.execute(audit_openings.insert().values(decision_id=decision.decision_id, openings=json.dumps(openings)))
        return AuditRecord(seq, decision.decision_id, record["time"], decision.effect, asset_id, record, prev, digest)

    # -- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _row(row) -> AuditRecord:
        return AuditRecord(row.seq, row.decision_id, row.created_at, row.effect, row.asset_id,
                           json.loads(row.record), row.prev_hash, row.record_hash)

    def records(self, *, effect: str | None = None, since: str | None = None, until: str | None = None,
                limit: int | None = None) -> list[AuditRecord]:
        query = sa.select(audit_log).order_by(audit_log.c.seq)
        if effect:
            query = query.where(audit_log.c.effect == effect)
        if since:
            query = query.where(audit_log.c.created_at >= since)
        if until:
            query = query.where(audit_log.c.created_at < until)
        if limit:
            query = query.limit(limit)
        with self.store.connect() as conn:
            return [self._row(r) for r in conn.execute(query)]

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

    def verify_chain(self) -> int:
        """Recompute every link; raise AuditError naming the first broken record. Returns the count."""
        prev, count = GENESIS, 0
        with self.store.connect() as conn:
            for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
                count += 1
                record = json.loads(row.record)
                if row.seq != count or record.get("seq") != row.seq:
                    raise AuditError(f"audit record {row.seq}: sequence broken (expected {count})")
                if row.prev_hash != prev:
                    raise AuditError(f"audit record {row.seq}: link to previous record broken")
                if chain_hash(prev, record) != row.record_hash:
                    raise AuditError(f"audit record {row.seq}: content does not match its hash")
                if record.get("decision_id") != row.decision_id or record.get("effect") != row.effect \
                        or record.get("asset_id") != row.asset_id:
                    raise AuditError(f"audit record {row.seq}: indexed columns disagree with the record")
                prev = row.record_hash
        return count

    def head(self) -> tuple[int, str]:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(audit_log.c.seq, audit_log.c.record_hash)
                               .order_by(audit_log.c.seq.desc()).limit(1)).first()
        return (row.seq, row.record_hash) if row else (0, GENESIS)

    def iter_ids(self) -> Iterator[str]:
        with self.store.connect() as conn:
            yield from (r.decision_id for r in conn.execute(sa.select(audit_log.c.decision_id).order_by(audit_log.c.seq)))
