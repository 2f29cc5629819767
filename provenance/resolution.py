"""Soft-binding resolution: the manifest store keyed by the asset id the watermark carries.

The release flow puts each signed manifest here in the same transaction as its audit record; the
verifier looks a watermark id up here when an image arrives without its manifest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from ..core.store import Store, manifests


@dataclass(frozen=True)
class StoredManifest:
    asset_id: str
    watermark_alg: str
    manifest: bytes
    manifest_sha256: str
    manifest_label: str
    mime_type: str
    decision_id: str
    model_sha256: str
    created_at: str


class ManifestRepository:
    def __init__(self, store: Store):
        self.store = store

    def put(self, conn: sa.Connection, item: StoredManifest) -> None:
        conn.execute(manifests.insert().values(**item.__dict__))

    def get(self, asset_id: str) -> StoredManifest | None:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(manifests).where(manifests.c.asset_id == asset_id)).first()
        return StoredManifest(**row._mapping) if row else None

    @staticmethod
    def stamp(now: dt.datetime) -> str:
        return now.astimezone(dt.timezone.utc).isoformat()
