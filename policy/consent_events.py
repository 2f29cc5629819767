"""Consent history in the audit log: enrolments, grants, revocations and removals as signed leaves.

The registry and grant rows are what the studio reads, but whoever runs the database can edit a
row (set ``revoked_at`` back to NULL, swap a person's pinned key, drop a face template). Each
change the program itself makes is therefore also a ``consent`` leaf of the audit log, carrying a
digest of the row as written; a grant is usable only while its row agrees with that history
(``grant_states``), and ``AuditLog.verify`` names every row that does not (``check_rows``).

Events (public fields of the leaf; ids are opaque random ids, no names):
- ``history-start``: from here on every consent row must have its leaf. Rows that existed before
  (a data directory from an earlier release) are adopted once, each as its own event.
- ``enrol`` {person_id, digest}: names, aliases, pinned key and face templates as registered.
- ``grant`` {person_id, grant_id, digest}: the signed grant row as written.
- ``revoke`` {person_id, grant_id}.
- ``remove`` {person_id}: the person, their templates and grants were deleted on request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import rfc8785
import sqlalchemy as sa

from pocketstudio.core.base.store import audit_log, consent_grants, face_templates, persons

HISTORY_START, ENROL, GRANT, REVOKE, REMOVE = "history-start", "enrol", "grant", "revoke", "remove"


def _sha(obj) -> str:
    return hashlib.sha256(rfc8785.dumps(obj)).hexdigest()


def person_digest(conn: sa.Connection, person_id: str) -> str | None:
    """Digest of a person's registry row and face templates as stored (None: no such row)."""
    row = conn.execute(sa.select(persons).where(persons.c.person_id == person_id)).first()
    if row is None:
        return None
    templates = sorted([t.template_id, hashlib.sha256(t.ciphertext).hexdigest()] for t in conn.execute(
        sa.select(face_templates.c.template_id, face_templates.c.ciphertext).where(
            face_templates.c.person_id == person_id)))
    return _sha({"person_id": row.person_id, "display_name": row.display_name, "aliases": json.loads(row.aliases),
                 "public_key": row.public_key, "templates": templates})


def grant_digest(row) -> str:
    """Digest of a grant row as written (everything but its revocation and creation time)."""
    return _sha({"grant_id": row.grant_id, "person_id": row.person_id, "grantee": row.grantee,
                 "purposes": json.loads(row.purposes), "not_before": row.not_before, "not_after": row.not_after,
                 "signature": row.signature})


def enrol_event(conn: sa.Connection, person_id: str, adopted: bool = False) -> dict:
    event = {"event": ENROL, "person_id": person_id, "digest": person_digest(conn, person_id)}
    return {**event, "adopted": True} if adopted else event


def grant_event(conn: sa.Connection, grant_id: str, adopted: bool = False) -> dict:
    row = conn.execute(sa.select(consent_grants).where(consent_grants.c.grant_id == grant_id)).one()
    event = {"event": GRANT, "person_id": row.person_id, "grant_id": grant_id, "digest": grant_digest(row)}
    return {**event, "adopted": True} if adopted else event


def revoke_event(person_id: str, grant_id: str, adopted: bool = False) -> dict:
    event = {"event": REVOKE, "person_id": person_id, "grant_id": grant_id}
    return {**event, "adopted": True} if adopted else event


def remove_event(person_id: str) -> dict:
    return {"event": REMOVE, "person_id": person_id}


def history_started(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(audit_log.c.leaf_index).where(
        audit_log.c.kind == "consent", audit_log.c.ref.is_(None)).limit(1)).first() is not None


def adoption_events(conn: sa.Connection) -> list[dict]:
    """The events that start the history of a store whose rows predate it: each existing person,
    grant and revocation adopted as found, then ``history-start``."""
    events = [enrol_event(conn, r.person_id, adopted=True)
              for r in conn.execute(sa.select(persons.c.person_id).order_by(persons.c.person_id))]
    for g in conn.execute(sa.select(consent_grants).order_by(consent_grants.c.grant_id)):
        events.append(grant_event(conn, g.grant_id, adopted=True))
        if g.revoked_at is not None:
            events.append(revoke_event(g.person_id, g.grant_id, adopted=True))
    return events + [{"event": HISTORY_START}]


@dataclass
class PersonHistory:
    """What the signed events say about one person."""

    enrolled_digest: str | None = None
    removed: bool = False
    grants: dict[str, str] = field(default_factory=dict)  # grant id → digest as granted
    revoked: set[str] = field(default_factory=set)


def _replay(records: list[dict]) -> dict[str, PersonHistory]:
    people: dict[str, PersonHistory] = {}
    for r in records:
        pid = r.get("person_id")
        if pid is None:
            continue
        h = people.setdefault(pid, PersonHistory())
        event = r.get("event")
        if event == ENROL:
            h.enrolled_digest, h.removed = r.get("digest"), False
        elif event == REMOVE:
            h.removed = True
        elif event == GRANT:
            h.grants[r["grant_id"]] = r.get("digest")
        elif event == REVOKE:
            h.revoked.add(r["grant_id"])
    return people


def person_history(conn: sa.Connection, person_id: str) -> PersonHistory | None:
    """The signed history of one person (None: the history has not started in this log)."""
    if not history_started(conn):
        return None
    rows = conn.execute(sa.select(audit_log.c.record).where(
        audit_log.c.kind == "consent", audit_log.c.ref == person_id).order_by(audit_log.c.leaf_index))
    return _replay([json.loads(r.record) for r in rows]).get(person_id, PersonHistory())


def grant_states(conn: sa.Connection, person_id: str, grant_rows: list) -> dict[str, bool | None]:
    """For each grant row of a person: False (usable, not revoked), True (revoked), or None
    (unusable: the row or the person's registry entry disagrees with the signed history, or there
    is no history). Only ``None`` differs from what the row says, and it can only deny."""
    history = person_history(conn, person_id)
    if history is None or history.removed or history.enrolled_digest != person_digest(conn, person_id):
        return {g.grant_id: None for g in grant_rows}
    states: dict[str, bool | None] = {}
    for g in grant_rows:
        if history.grants.get(g.grant_id) != grant_digest(g):
            states[g.grant_id] = None
        elif (g.grant_id in history.revoked) != (g.revoked_at is not None):
            states[g.grant_id] = None  # a revocation undone, or one without a signed event
        else:
            states[g.grant_id] = g.grant_id in history.revoked
    return states


def check_rows(conn: sa.Connection, leaves) -> list[str]:
    """Every registry and grant row against the consent leaves among ``leaves`` (AuditRecords)."""
    events = [leaf.record for leaf in leaves if leaf.kind == "consent"]
    started = any(e.get("event") == HISTORY_START for e in events)
    person_ids = [r.person_id for r in conn.execute(sa.select(persons.c.person_id))]
    grant_rows = list(conn.execute(sa.select(consent_grants)))
    if not started:
        if person_ids or grant_rows:
            return [f"{len(person_ids)} registered people and {len(grant_rows)} grants have no signed history yet "
                    "(open the studio once to adopt them)"]
        return []
    people = _replay(events)
    problems = []
    for pid in person_ids:
        h = people.get(pid)
        if h is None or h.enrolled_digest is None:
            problems.append(f"person {pid}: registered without a signed enrolment")
        elif h.removed:
            problems.append(f"person {pid}: present although their removal is recorded")
        elif h.enrolled_digest != person_digest(conn, pid):
            problems.append(f"person {pid}: names, key or face templates differ from the signed enrolment")
    rows_by_id = {g.grant_id: g for g in grant_rows}
    for g in grant_rows:
        h = people.get(g.person_id, PersonHistory())
        if g.grant_id not in h.grants:
            problems.append(f"grant {g.grant_id}: not in the signed history (inserted)")
        elif h.grants[g.grant_id] != grant_digest(g):
            problems.append(f"grant {g.grant_id}: differs from the signed grant (edited)")
        elif g.grant_id in h.revoked and g.revoked_at is None:
            problems.append(f"grant {g.grant_id}: revocation undone (revoked_at cleared)")
        elif g.grant_id not in h.revoked and g.revoked_at is not None:
            problems.append(f"grant {g.grant_id}: revoked in the database without a signed revocation")
    present = set(person_ids)
    for pid, h in people.items():
        if h.removed:
            continue
        if h.enrolled_digest is not None and pid not in present:
            problems.append(f"person {pid}: deleted without a signed removal")
        for gid in h.grants:
            if gid not in rows_by_id:
                problems.append(f"grant {gid}: deleted without a signed removal")
    return problems
