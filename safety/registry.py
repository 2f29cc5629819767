"""The likeness registry: people, their names and aliases, their face templates, their public key.

A person has an opaque random id. Face templates are 128-d descriptors from enrolment photos,
AES-256-GCM encrypted with the registry key (kept with the other keys); the photos themselves are
never stored. The person's Ed25519 public key is pinned at enrolment: consent grants must carry
a signature by the matching private key, which the person (not the operator) holds.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image

from pocketstudio.core.base.errors import InvalidImageError, PocketStudioError
from pocketstudio.core.base.files import MAX_IMAGE_BYTES, read_input, shown
from pocketstudio.core.base.store import Store, face_templates, persons
from pocketstudio.policy import consent_events
from .faces import FaceAnalyzer
from .prompt import ShortForm


class UnknownPerson(PocketStudioError):
    """No registered person has that id."""


class EnrollmentError(PocketStudioError):
    """An enrolment photo cannot make a template (no face, several faces, too small, unreadable)."""


@dataclass(frozen=True)
class Person:
    person_id: str
    display_name: str
    aliases: tuple[str, ...]
    public_key: str | None = None  # base64 raw Ed25519
    forms: tuple[ShortForm, ...] | None = None  # short forms the person chose; None: the defaults

    @property
    def names(self) -> tuple[str, ...]:
        return (self.display_name, *self.aliases)

    def verifying_key(self) -> ed25519.Ed25519PublicKey | None:
        if not self.public_key:
            return None
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))


def _names_json(aliases: tuple[str, ...], forms: tuple[ShortForm, ...] | None) -> str:
    """The ``aliases`` column: a list of aliases, or, once the person chose short forms, an object
    {"aliases": [...], "forms": ["initial-surname", "nickname:The Rock", ...]} (no schema change;
    rows written before forms existed read as "defaults")."""
    if forms is None:
        return json.dumps(list(aliases))
    return json.dumps({"aliases": list(aliases), "forms": [f.spec() for f in forms]})


def _person(r) -> Person:
    stored = json.loads(r.aliases)
    if isinstance(stored, dict):
        aliases, forms = tuple(stored.get("aliases", ())), tuple(ShortForm.parse(f) for f in stored.get("forms", ()))
    else:
        aliases, forms = tuple(stored), None
    return Person(r.person_id, r.display_name, aliases, r.public_key, forms)


def parse_forms(specs: list[str] | tuple[str, ...]) -> tuple[ShortForm, ...]:
    """``--form`` values: initial-surname, surname, nickname:TEXT; "none" alone chooses no short form."""
    if [s.strip().lower() for s in specs] == ["none"]:
        return ()
    return tuple(dict.fromkeys(ShortForm.parse(s) for s in specs))


MAX_INPUT_PIXELS = 8192 * 8192


def load_image(path: str | Path) -> Image.Image:
    """Open an input image file (reference, enrolment photo, subject image): a file that is not a
    regular one or is over ``MAX_IMAGE_BYTES`` is an InputFileError before it is read; bad or
    huge pixels an InvalidImageError."""
    data = read_input(path, MAX_IMAGE_BYTES)
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_INPUT_PIXELS:
            raise InvalidImageError(f"{shown(path)}: {image.width}x{image.height} pixels is more than {MAX_INPUT_PIXELS}")
        image.load()
        return image
    except InvalidImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"{shown(path)}: not a readable image ({exc})") from exc


def new_person_key() -> tuple[ed25519.Ed25519PrivateKey, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, base64.b64encode(public).decode()


class Registry:
    """``audit``: the log that receives enrolment and removal events (policy/consent_events.py);
    without it a person can be registered (their names and face still block) but no grant of
    theirs is ever usable, since consent needs a signed history."""

    def __init__(self, store: Store, template_key: bytes | None = None, analyzer: FaceAnalyzer | None = None,
                 audit=None):
        self.store = store
        self.audit = audit
        self._aead = AESGCM(template_key) if template_key else None
        self._analyzer = analyzer

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = FaceAnalyzer()
        return self._analyzer

    # -- enrolment ---------------------------------------------------------------------------------
    def register(self, display_name: str, aliases: list[str] | tuple[str, ...] = (), *,
                 public_key: str | None = None, photos: list[Image.Image] | None = None,
                 photo_names: list[str] | None = None, now: dt.datetime | None = None,
                 forms: tuple[ShortForm, ...] | None = None) -> Person:
        """Register a person; every photo must show exactly one judgeable face (else EnrollmentError).
        ``forms``: the short forms the person chose (None: the defaults, prompt.default_forms)."""
        if not display_name.strip():
            raise EnrollmentError("a registered person needs a display name")
        now = now or dt.datetime.now(dt.timezone.utc)
        descriptors = self._descriptors(photos or [], photo_names)
        person = Person("person_" + secrets.token_hex(8), display_name.strip(),
                        tuple(a.strip() for a in aliases if a.strip()), public_key, forms)
        with self.store.begin() as conn:
            if self.audit is not None:
                self.start_history(conn, now)
            conn.execute(persons.insert().values(
                person_id=person.person_id, display_name=person.display_name,
                aliases=_names_json(person.aliases, forms), public_key=public_key, created_at=now.isoformat()))
            for descriptor in descriptors:
                conn.execute(face_templates.insert().values(
                    template_id="tpl_" + secrets.token_hex(8), person_id=person.person_id,
                    ciphertext=self._seal(descriptor, person.person_id), created_at=now.isoformat()))
            if self.audit is not None:
                self.audit.append_consent(consent_events.enrol_event(conn, person.person_id), now, conn=conn)
        if self.audit is not None:
            self.audit.witness()
        return person

    def update(self, person_id: str, *, aliases: list[str] | tuple[str, ...] | None = None,
               forms: tuple[ShortForm, ...] | None = None, now: dt.datetime | None = None) -> Person:
        """Change a person's aliases and/or chosen short forms. The enrolment digest covers them, so
        the same transaction appends a re-enrolment event (policy/consent_events.py) and the
        person's grants stay usable."""
        current = self.get(person_id)
        now = now or dt.datetime.now(dt.timezone.utc)
        new_aliases = current.aliases if aliases is None else tuple(a.strip() for a in aliases if a.strip())
        new_forms = current.forms if forms is None else forms
        with self.store.begin() as conn:
            if self.audit is not None:
                self.start_history(conn, now)
            conn.execute(persons.update().where(persons.c.person_id == person_id).values(
                aliases=_names_json(new_aliases, new_forms)))
            if self.audit is not None:
                self.audit.append_consent(consent_events.enrol_event(conn, person_id), now, conn=conn)
        if self.audit is not None:
            self.audit.witness()
        return self.get(person_id)

    def start_history(self, conn, now: dt.datetime, adopt_only: bool = False) -> int:
        """Start the log's signed consent history if it has none yet, adopting the registry and
        grant rows an earlier release wrote (once: afterwards every row needs its own event).
        ``adopt_only``: start it only if there is something to adopt (otherwise the first
        enrolment starts it). Returns the number of events appended in ``conn``."""
        if consent_events.history_started(conn):
            return 0
        events = consent_events.adoption_events(conn)
        if adopt_only and len(events) == 1:
            return 0
        for event in events:
            self.audit.append_consent(event, now, conn=conn)
        return len(events)

    def _descriptors(self, photos: list[Image.Image], names: list[str] | None) -> list[np.ndarray]:
        if photos and self._aead is None:
            raise EnrollmentError("face templates need the registry key")
        out = []
        for i, photo in enumerate(photos):
            label = names[i] if names else f"photo {i + 1}"
            faces = self.analyzer.analyze(photo)
            if not faces:
                raise EnrollmentError(f"{label}: no face found; use a clear, frontal photo of one person")
            if len(faces) > 1:
                raise EnrollmentError(f"{label}: {len(faces)} faces found; an enrolment photo must show one person only")
            if faces[0].too_small:
                raise EnrollmentError(f"{label}: the face is too small ({faces[0].size_px} px); use a closer photo")
            out.append(faces[0].descriptor)
        return out

    def _seal(self, descriptor: np.ndarray, person_id: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, descriptor.astype("<f4").tobytes(), person_id.encode())

    def _open(self, blob: bytes, person_id: str) -> np.ndarray:
        return np.frombuffer(self._aead.decrypt(blob[:12], blob[12:], person_id.encode()), dtype="<f4")

    # -- reading ----------------------------------------------------------------------------------
    def all(self) -> list[Person]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(persons).order_by(persons.c.created_at, persons.c.person_id)).all()
        return [_person(r) for r in rows]

    def names_version(self) -> tuple:
        """Changes whenever a person is added, removed or renamed, by any process (row count, last
        enrolment, lengths of the names, and the last consent event: every change through this class
        with an audit log appends one): the likeness checker rebuilds its name index when it does."""
        from pocketstudio.core.base.store import audit_log

        with self.store.connect() as conn:
            rows = conn.execute(sa.select(
                sa.func.count(), sa.func.max(persons.c.created_at),  # coalesce(sum): SQLite and PostgreSQL alike
                sa.func.coalesce(sa.func.sum(sa.func.length(persons.c.display_name)), 0),
                sa.func.coalesce(sa.func.sum(sa.func.length(persons.c.aliases)), 0)).select_from(persons)).one()
            last_event = conn.execute(sa.select(sa.func.max(audit_log.c.leaf_index)).where(
                audit_log.c.kind == "consent")).scalar()
        return (*rows, last_event)

    def get(self, person_id: str) -> Person:
        with self.store.connect() as conn:
            r = conn.execute(sa.select(persons).where(persons.c.person_id == person_id)).first()
        if r is None:
            raise UnknownPerson(f"no registered person {person_id!r}")
        return _person(r)

    def templates(self) -> dict[str, np.ndarray]:
        """person id → (k, 128) matrix of that person's decrypted templates."""
        if self._aead is None:
            return {}
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(face_templates)).all()
        grouped: dict[str, list[np.ndarray]] = {}
        for r in rows:
            grouped.setdefault(r.person_id, []).append(self._open(r.ciphertext, r.person_id))
        return {pid: np.stack(v) for pid, v in grouped.items()}

    def template_count(self) -> int:
        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(face_templates)).scalar()

    def remove(self, person_id: str, now: dt.datetime | None = None) -> None:
        """Delete a person, their templates and grants (the right to be forgotten); the log keeps
        a removal event with the opaque id only."""
        from pocketstudio.core.base.store import consent_grants

        self.get(person_id)
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.store.begin() as conn:
            conn.execute(consent_grants.delete().where(consent_grants.c.person_id == person_id))
            conn.execute(face_templates.delete().where(face_templates.c.person_id == person_id))
            conn.execute(persons.delete().where(persons.c.person_id == person_id))
            if self.audit is not None:
                self.audit.append_consent(consent_events.remove_event(person_id), now, conn=conn)
        if self.audit is not None:
            self.audit.witness()
