"""Consent grants, first version: rows a person's grant becomes; revocation applies to the next request."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import sqlalchemy as sa

from ..core.store import Store, consent_grants
from ..policy.engine import ConsentFacts
from .registry import Registry


class ConsentBook:
    def __init__(self, store: Store):
        self.store = store

    def grant(self, person_id: str, grantee: str, purposes: list[str], not_before: dt.datetime,
              not_after: dt.datetime) -> str:
        Registry(self.store).get(person_id)
        if not_after <= not_before:
            raise ValueError("not_after must be later than not_before")
        grant_id = "grant_" + secrets.token_hex(8)
        with self.store.begin() as conn:
            conn.execute(consent_grants.insert().values(
                grant_id=grant_id, person_id=person_id, grantee=grantee, purposes=json.dumps(sorted(purposes)),
                not_before=not_before.isoformat(), not_after=not_after.isoformat()))
        return grant_id

    def revoke(self, grant_id: str, now: dt.datetime) -> None:
        with self.store.begin() as conn:
            done = conn.execute(consent_grants.update().where(consent_grants.c.grant_id == grant_id)
                                .values(revoked_at=now.isoformat())).rowcount
        if not done:
            raise KeyError(f"no consent grant {grant_id!r}")

    def facts_for(self, person_id: str) -> tuple[ConsentFacts, ...]:
        """The person's grants as the policy engine sees them; the engine decides validity."""
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(consent_grants).where(consent_grants.c.person_id == person_id)).all()
        return tuple(
            ConsentFacts(r.grant_id, r.grantee, tuple(json.loads(r.purposes)),
                         int(dt.datetime.fromisoformat(r.not_before).timestamp()),
                         int(dt.datetime.fromisoformat(r.not_after).timestamp()), r.revoked_at is not None)
            for r in rows)
