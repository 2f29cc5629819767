"""Consent grants: a person says who may depict them, for what, until when — and signs it.

Each grant is an RFC 8785 canonical payload signed with the person's Ed25519 key (pinned in the
registry at enrolment), so whoever runs the database cannot forge or widen one: a grant whose
signature does not verify is ignored, which can only deny. Revocation needs no signature (it
can only take permission away) and applies to the next request. Whether a grant fits a request
(requester, purpose, time window, revoked) is decided by the Cedar policy, not here.

Every grant and revocation is also a signed event of the audit log, written in the same
transaction (policy/consent_events.py); a grant whose row no longer agrees with that history (a
revocation undone by editing the row, say) is not usable, and ``audit verify`` names it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass

import rfc8785
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from pocketstudio.core.base.errors import PocketStudioError
from pocketstudio.core.base.store import Store, consent_grants
from pocketstudio.policy import consent_events
from pocketstudio.policy.audit import AuditLog
from pocketstudio.policy.engine import ConsentFacts
from .registry import Registry

GRANT_CONTEXT = b"pocketstudio/consent-grant/v1\n"


class ConsentError(PocketStudioError):
    """A grant cannot be made or found (unknown person, no key, bad window, wrong signer)."""


@dataclass(frozen=True)
class ConsentGrant:
    grant_id: str
    person_id: str
    grantee: str  # a requester id, or "*" for anyone
    purposes: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    signature: str
    revoked_at: dt.datetime | None = None

    def payload(self) -> bytes:
        return grant_payload(self.grant_id, self.person_id, self.grantee, self.purposes, self.not_before, self.not_after)

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now < self.not_before:
            return "not yet valid"
        if now >= self.not_after:
            return "expired"
        return "valid"


def grant_payload(grant_id, person_id, grantee, purposes, not_before, not_after) -> bytes:
    return GRANT_CONTEXT + rfc8785.dumps({
        "v": 1, "grant_id": grant_id, "person_id": person_id, "grantee": grantee,
        "purposes": sorted(purposes), "not_before": int(not_before.timestamp()), "not_after": int(not_after.timestamp())})


class ConsentBook:
    def __init__(self, store: Store, audit: AuditLog):
        self.store = store
        self.audit = audit
        self.registry = Registry(store, audit=audit)

    def ensure_history(self, now: dt.datetime) -> int:
        """Adopt the rows of an earlier release into the signed consent history (Registry.start_history)."""
        with self.store.connect() as conn:
            if consent_events.history_started(conn):
                return 0
        with self.store.begin() as conn:
            written = self.registry.start_history(conn, now, adopt_only=True)
        if written:
            self.audit.witness()
        return written

    def grant(self, person_id: str, person_key: ed25519.Ed25519PrivateKey, *, grantee: str, purposes: list[str],
              not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime | None = None) -> ConsentGrant:
        """Record a grant signed by the person's own key."""
        person = self.registry.get(person_id)
        pinned = person.verifying_key()
        if pinned is None:
            raise ConsentError("this person has no key on file; re-enrol with a key to grant consent")
        if not grantee.strip() or not purposes or any(not p.strip() for p in purposes):
            raise ConsentError("a grant needs a grantee (requester id or '*') and at least one purpose")
        if not_before.tzinfo is None or not_after.tzinfo is None:
            raise ConsentError("grant times must be timezone-aware")
        if not_after <= not_before:
            raise ConsentError("not_after must be later than not_before")
        grant_id = "grant_" + secrets.token_hex(8)
        payload = grant_payload(grant_id, person_id, grantee, purposes, not_before, not_after)
        signature = person_key.sign(payload)
        try:
            pinned.verify(signature, payload)
        except InvalidSignature:
            raise ConsentError("that key is not the key this person enrolled with") from None
        now = now or dt.datetime.now(dt.timezone.utc)
        grant = ConsentGrant(grant_id, person_id, grantee, tuple(sorted(purposes)), not_before, not_after,
                             base64.b64encode(signature).decode())
        self.ensure_history(now)
        with self.store.begin() as conn:
            conn.execute(consent_grants.insert().values(
                grant_id=grant_id, person_id=person_id, grantee=grantee, purposes=json.dumps(list(grant.purposes)),
                not_before=not_before.isoformat(), not_after=not_after.isoformat(), signature=grant.signature,
                created_at=now.isoformat()))
            self.audit.append_consent(consent_events.grant_event(conn, grant_id), now, conn=conn)
        self.audit.witness()
        return grant

    def revoke(self, grant_id: str, now: dt.datetime) -> ConsentGrant:
        self.ensure_history(now)
        with self.store.begin() as conn:
            done = conn.execute(consent_grants.update().where(consent_grants.c.grant_id == grant_id,
                                                              consent_grants.c.revoked_at.is_(None))
                                .values(revoked_at=now.isoformat())).rowcount
            if done:
                person_id = conn.execute(sa.select(consent_grants.c.person_id).where(
                    consent_grants.c.grant_id == grant_id)).scalar()
                self.audit.append_consent(consent_events.revoke_event(person_id, grant_id), now, conn=conn)
        if done:
            self.audit.witness()
        grant = self.get(grant_id)
        if not done and grant.revoked_at is None:
            raise ConsentError(f"grant {grant_id!r} could not be revoked")
        return grant

    @staticmethod
    def _row(r) -> ConsentGrant:
        return ConsentGrant(r.grant_id, r.person_id, r.grantee, tuple(json.loads(r.purposes)),
                            dt.datetime.fromisoformat(r.not_before), dt.datetime.fromisoformat(r.not_after),
                            r.signature, dt.datetime.fromisoformat(r.revoked_at) if r.revoked_at else None)

    def get(self, grant_id: str) -> ConsentGrant:
        with self.store.connect() as conn:
            r = conn.execute(sa.select(consent_grants).where(consent_grants.c.grant_id == grant_id)).first()
        if r is None:
            raise ConsentError(f"no consent grant {grant_id!r}")
        return self._row(r)

    def list(self, person_id: str | None = None) -> list[ConsentGrant]:
        query = sa.select(consent_grants).order_by(consent_grants.c.created_at, consent_grants.c.grant_id)
        if person_id:
            query = query.where(consent_grants.c.person_id == person_id)
        with self.store.connect() as conn:
            return [self._row(r) for r in conn.execute(query)]

    def verified(self, person_id: str) -> list[ConsentGrant]:
        """The person's grants whose signature verifies against their pinned key and whose row
        agrees with the signed consent history (revocation taken from that history); others are
        ignored, which can only deny."""
        try:
            key = self.registry.get(person_id).verifying_key()
        except PocketStudioError:
            return []
        if key is None:
            return []
        with self.store.connect() as conn:
            rows = list(conn.execute(sa.select(consent_grants).where(consent_grants.c.person_id == person_id)
                                     .order_by(consent_grants.c.created_at, consent_grants.c.grant_id)))
            states = consent_events.grant_states(conn, person_id, rows)
        good = []
        for row in rows:
            if states.get(row.grant_id) is None:
                continue
            grant = self._row(row)
            try:
                key.verify(base64.b64decode(grant.signature), grant.payload())
                good.append(grant)
            except (InvalidSignature, ValueError):
                continue
        return good

    def facts_for(self, person_id: str) -> tuple[ConsentFacts, ...]:
        """Verified grants as the policy engine sees them; the engine decides whether one fits."""
        return tuple(ConsentFacts(g.grant_id, g.grantee, g.purposes, int(g.not_before.timestamp()),
                                  int(g.not_after.timestamp()), g.revoked_at is not None)
                     for g in self.verified(person_id))
