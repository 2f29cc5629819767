"""The likeness registry, first version: people with a display name and aliases.

Person ids are opaque (random); the display name is used for matching only and never appears
in a decision, a manifest or the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from ..core.errors import PocketStudioError
from ..core.store import Store, persons


class UnknownPerson(PocketStudioError):
    """No registered person has that id."""


@dataclass(frozen=True)
class Person:
    person_id: str
    display_name: str
    aliases: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.display_name, *self.aliases)


class Registry:
    def __init__(self, store: Store):
        self.store = store

    def register(self, display_name: str, aliases: list[str] | tuple[str, ...] = (), now: dt.datetime | None = None) -> Person:
        if not display_name.strip():
            raise ValueError("a registered person needs a display name")
        now = now or dt.datetime.now(dt.timezone.utc)
        person = Person("person_" + secrets.token_hex(8), display_name.strip(), tuple(a.strip() for a in aliases if a.strip()))
        with self.store.begin() as conn:
            conn.execute(persons.insert().values(person_id=person.person_id, display_name=person.display_name,
                                                 aliases=json.dumps(list(person.aliases)), created_at=now.isoformat()))
        return person

    def all(self) -> list[Person]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(persons).order_by(persons.c.created_at)).all()
        return [Person(r.person_id, r.display_name, tuple(json.loads(r.aliases))) for r in rows]

    def get(self, person_id: str) -> Person:
        for person in self.all():
            if person.person_id == person_id:
                return person
        raise UnknownPerson(f"no registered person {person_id!r}")
