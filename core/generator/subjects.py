"""Learned subjects of a data directory: embedding files plus one database row each.

A subject's vectors are a safetensors file ``<home>/subjects/<subject_id>.safetensors`` holding
``{"<subject_id>": (k, dim) float32}`` (the layout diffusers' ``load_textual_inversion`` reads),
written atomically and read back only when its sha256 equals the one recorded in the ``subjects``
table (migration 4). The row also records the model the subject was learned on (it works with
that model only), the sha256 of every reference image (the images themselves are not kept), the
registered people the likeness check found in them (consent for them is decided again on every
generation, so a revoked grant stops the subject too), the creating decision and how it was
trained. The subject's *name* is what prompts say; manifests and audit records carry only its
opaque ``subject_id`` and the embedding's sha256.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..base.config import Settings
from ..base.errors import SubjectError, SubjectExists, UnknownSubject
from .subject import NAME_RE, SubjectEmbedding, embedding_bytes, read_embedding
from ..base.store import Store, stage_file, subjects

FILE_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class SubjectRecord:
    """What the data directory knows about one learned subject."""

    subject_id: str
    name: str
    token: str
    vectors: int
    dim: int
    embedding_file: str
    embedding_sha256: str
    model_name: str
    model_sha256: str
    reference_sha256s: tuple[str, ...]
    person_ids: tuple[str, ...]
    consent_grant_ids: tuple[str, ...]
    decision_id: str
    requester: str
    training: dict
    created_at: str

    def to_json(self) -> dict:
        return {"name": self.name, "subject_id": self.subject_id, "token": self.token, "vectors": self.vectors,
                "dim": self.dim, "embedding_sha256": self.embedding_sha256, "embedding_file": self.embedding_file,
                "model": {"name": self.model_name, "sha256": self.model_sha256},
                "reference_sha256s": list(self.reference_sha256s), "registered_people": len(self.person_ids),
                "consent_grant_ids": list(self.consent_grant_ids), "decision_id": self.decision_id,
                "requester": self.requester, "created_at": self.created_at,
                # the seed as a string, like every 64-bit number in our JSON
                "training": {k: str(v) if k == "seed" else v for k, v in self.training.items()}}


def check_name(name: str) -> str:
    """A subject name as prompts will say it: lower case, 2-32 of a-z 0-9 _ -, starting with a letter."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SubjectError(f"subject name {name!r} must be 2-32 characters of a-z, 0-9, '_' or '-', "
                           "starting with a letter (lower case: prompts name it as a word)")
    return name


def new_subject_id() -> str:
    return "subj_" + secrets.token_hex(8)


class SubjectBook:
    """The subjects of one data directory."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store

    @property
    def folder(self) -> Path:
        return self.settings.subjects_dir

    @staticmethod
    def _row(r) -> SubjectRecord:
        return SubjectRecord(r.subject_id, r.name, r.token, r.vectors, r.dim, r.embedding_file, r.embedding_sha256,
                             r.model_name, r.model_sha256, tuple(json.loads(r.reference_sha256s)),
                             tuple(json.loads(r.person_ids)), tuple(json.loads(r.consent_grant_ids)), r.decision_id,
                             r.requester, json.loads(r.training), r.created_at)

    # -- reading ----------------------------------------------------------------------------------
    def find(self, name: str) -> SubjectRecord | None:
        with self.store.connect() as conn:
            r = conn.execute(sa.select(subjects).where(subjects.c.name == name)).first()
        return None if r is None else self._row(r)

    def get(self, name: str) -> SubjectRecord:
        record = self.find(name)
        if record is None:
            known = ", ".join(r.name for r in self.list()) or "none yet"
            raise UnknownSubject(f"no learned subject named {name!r} (known: {known}); "
                                 "create one with 'pocketstudio subject create NAME --image FILE'")
        return record

    def list(self) -> list[SubjectRecord]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(subjects).order_by(subjects.c.created_at, subjects.c.name)).all()
        return [self._row(r) for r in rows]

    def load(self, name: str) -> tuple[SubjectRecord, SubjectEmbedding]:
        """The record and its vectors; a missing, changed or damaged file is a SubjectError."""
        record = self.get(name)
        path = self.folder / record.embedding_file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SubjectError(f"subject {name!r}: cannot read its embedding file {path}: {exc.strerror or exc}") from exc
        vectors = read_embedding(data, record.token, record.embedding_sha256)
        if tuple(vectors.shape) != (record.vectors, record.dim):
            raise SubjectError(f"subject {name!r}: its embedding file holds {tuple(vectors.shape)} vectors, "
                               f"not the recorded ({record.vectors}, {record.dim})")
        return record, SubjectEmbedding(record.subject_id, record.name, vectors, record.embedding_sha256,
                                        record.model_sha256)

    # -- writing ----------------------------------------------------------------------------------
    def stage(self, subject_id: str, token: str, vectors, metadata: dict[str, str]) -> tuple[Path, str, str]:
        """Write the embedding under a temporary name (synced, not yet visible); returns the
        temporary path, the final file name and the file's sha256."""
        import hashlib

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = embedding_bytes(token, vectors, metadata)
        return stage_file(self.folder, subject_id, data), subject_id + FILE_SUFFIX, hashlib.sha256(data).hexdigest()

    def insert(self, conn: sa.Connection, record: SubjectRecord) -> None:
        """The subject's row, inside the caller's transaction (a name clash raises SubjectExists)."""
        taken = conn.execute(sa.select(subjects.c.subject_id).where(subjects.c.name == record.name)).first()
        if taken is not None:
            raise SubjectExists(f"a subject named {record.name!r} exists already; delete it first or pick another name")
        conn.execute(subjects.insert().values(
            subject_id=record.subject_id, name=record.name, token=record.token, vectors=record.vectors, dim=record.dim,
            embedding_file=record.embedding_file, embedding_sha256=record.embedding_sha256,
            model_name=record.model_name, model_sha256=record.model_sha256,
            reference_sha256s=json.dumps(list(record.reference_sha256s)), person_ids=json.dumps(list(record.person_ids)),
            consent_grant_ids=json.dumps(list(record.consent_grant_ids)), decision_id=record.decision_id,
            requester=record.requester, training=json.dumps(record.training, sort_keys=True),
            created_at=record.created_at))

    def delete(self, name: str) -> SubjectRecord:
        """Delete the row, then the file (a crash in between leaves an orphan file, never a row
        without its file)."""
        record = self.get(name)
        with self.store.begin() as conn:
            conn.execute(subjects.delete().where(subjects.c.subject_id == record.subject_id))
        try:
            (self.folder / record.embedding_file).unlink()
        except FileNotFoundError:
            pass
        return record


def stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat()
