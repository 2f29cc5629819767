"""Soft-binding resolution: the manifest store keyed by the asset id the watermark carries.

The release flow puts each signed manifest here in the same transaction as its audit record; the
verifier looks a watermark id up here when an image arrives without its manifest. Two sources
answer the same questions (``ManifestSource``): the local store (``ManifestRepository``) and a
remote C2PA Soft Binding Resolution API (``RemoteResolver``, e.g. another ``pocketstudio serve``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from pocketstudio.core.base.errors import PocketStudioError
from pocketstudio.core.base.store import Store, fingerprints, iscc_codes, manifests
from . import iscc as iscc_code
from .fingerprint import ALG as FINGERPRINT_ALG
from .fingerprint import hamming

# Fingerprint lookups: stored pHashes within this many bits of the query are candidates.
FINGERPRINT_MAX_DISTANCE = 10


class ResolutionError(PocketStudioError):
    """A remote resolution service could not be reached or answered nonsense."""


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
    fingerprint: str | None = None  # soft-binding value of ``FINGERPRINT_ALG``, if one was stored
    time_stamp: str = "none"  # the signature's RFC 3161 time-stamp: none, pending or stamped
    iscc: str | None = None  # soft-binding value of ``io.iscc.v0`` (base64 of the code), if one was stored


@dataclass(frozen=True)
class Match:
    """One answer of a soft-binding query (the Resolution API's ``matches[]`` item)."""

    manifest_id: str
    similarity: int  # 0..100
    asset_id: str | None = None


class ManifestSource(Protocol):
    """Where the verifier recovers a manifest from a watermark id.

    A source may also offer ``issued_watermark_algs() -> set[str] | None``: the watermark
    algorithms of the manifests it holds (None: it cannot tell). The verifier skips an older
    engine's detector when the source holds none of that engine's manifests.
    """

    def get(self, asset_id: str) -> StoredManifest | None: ...


def asset_id_from_value(value: str) -> str | None:
    """The watermark soft-binding value as an asset id: base64 of the 8 id bytes (the Resolution
    API's form), or the 16 hex digits our manifests carry."""
    value = value.strip()
    if len(value) == 16 and all(c in "0123456789abcdef" for c in value.lower()):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 8 else None


def asset_id_to_value(asset_id: str) -> str:
    return base64.b64encode(bytes.fromhex(asset_id)).decode()


class ManifestRepository:
    def __init__(self, store: Store):
        self.store = store

    def put(self, conn: sa.Connection, item: StoredManifest) -> None:
        row = {k: v for k, v in item.__dict__.items() if k not in ("fingerprint", "iscc")}
        conn.execute(manifests.insert().values(**row))
        if item.iscc is not None:
            code = iscc_code.from_value(item.iscc)
            conn.execute(iscc_codes.insert().values(asset_id=item.asset_id, code=code,
                                                    body=f"{iscc_code.body(code):016x}", created_at=item.created_at))
        if item.fingerprint is not None:
            from .fingerprint import Fingerprint

            fp = Fingerprint.from_value(item.fingerprint)
            conn.execute(fingerprints.insert().values(asset_id=item.asset_id, alg=FINGERPRINT_ALG,
                                                      phash=fp.phash_hex, value=item.fingerprint,
                                                      created_at=item.created_at))

    def _select(self):
        return sa.select(manifests, fingerprints.c.value.label("fingerprint"), iscc_codes.c.code.label("iscc")).select_from(
            manifests.outerjoin(fingerprints, fingerprints.c.asset_id == manifests.c.asset_id)
            .outerjoin(iscc_codes, iscc_codes.c.asset_id == manifests.c.asset_id))

    @staticmethod
    def _stored(row) -> StoredManifest | None:
        if row is None:
            return None
        values = dict(row._mapping)
        if values.get("iscc"):
            values["iscc"] = iscc_code.to_value(values["iscc"])
        return StoredManifest(**values)

    def get(self, asset_id: str) -> StoredManifest | None:
        with self.store.connect() as conn:
            row = conn.execute(self._select().where(manifests.c.asset_id == asset_id)).first()
        return self._stored(row)

    def match_iscc(self, code: str, max_results: int = 10,
                   max_distance: int = iscc_code.MAX_DISTANCE) -> list[Match]:
        """Stored ISCC image codes equal to ``code`` or within ``max_distance`` bits of its body,
        nearest first (an index lookup for the exact code, a scan of the 16-hex bodies otherwise)."""
        query = iscc_code.body(code)
        found = []
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(iscc_codes.c.asset_id, iscc_codes.c.body, manifests.c.manifest_label)
                                .join(manifests, manifests.c.asset_id == iscc_codes.c.asset_id))
            for asset_id, stored, label in rows:
                d = hamming(int(stored, 16), query)
                if d <= max_distance:
                    found.append((d, label, asset_id))
        found.sort()
        return [Match(label, round(100 * (1 - d / 64)), asset_id) for d, label, asset_id in found[:max_results]]

    def pending_time_stamps(self) -> list[StoredManifest]:
        """Stored manifests released without their RFC 3161 time-stamp (the TSA was unreachable)."""
        with self.store.connect() as conn:
            rows = conn.execute(self._select().where(manifests.c.time_stamp == "pending")
                                .order_by(manifests.c.created_at)).all()
        return [self._stored(r) for r in rows]

    def replace_time_stamped(self, conn: sa.Connection, asset_id: str, manifest: bytes) -> str:
        """Store the time-stamped manifest store that follows up a pending one; returns its sha256.
        The label stays the released manifest's (the one the watermark's soft binding is in)."""
        sha256 = hashlib.sha256(manifest).hexdigest()
        done = conn.execute(manifests.update().where(manifests.c.asset_id == asset_id,
                                                     manifests.c.time_stamp == "pending")
                            .values(manifest=manifest, manifest_sha256=sha256, time_stamp="stamped"))
        if done.rowcount != 1:
            raise PocketStudioError(f"manifest {asset_id} is no longer waiting for a time-stamp")
        return sha256

    def issued_watermark_algs(self) -> set[str]:
        """The watermark algorithms named by the manifests in this store (an index-only scan)."""
        with self.store.connect() as conn:
            return set(conn.execute(sa.select(manifests.c.watermark_alg).distinct()).scalars())

    def by_label(self, manifest_label: str) -> StoredManifest | None:
        with self.store.connect() as conn:
            row = conn.execute(self._select().where(manifests.c.manifest_label == manifest_label)).first()
        return self._stored(row)

    def match_fingerprint(self, phash: int, max_results: int = 10,
                          max_distance: int = FINGERPRINT_MAX_DISTANCE) -> list[Match]:
        """Stored fingerprints within ``max_distance`` bits of ``phash``, nearest first.

        A linear scan over the phash column (16 bytes a row): fine for one studio's store; a
        shared deployment would index bands of the hash instead.
        """
        found = []
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(fingerprints.c.asset_id, fingerprints.c.phash, manifests.c.manifest_label)
                                .join(manifests, manifests.c.asset_id == fingerprints.c.asset_id))
            for asset_id, stored, label in rows:
                d = hamming(int(stored, 16), phash)
                if d <= max_distance:
                    found.append((d, label, asset_id))
        found.sort()
        return [Match(label, round(100 * (1 - d / 64)), asset_id) for d, label, asset_id in found[:max_results]]

    def match_watermark(self, asset_id: str) -> list[Match]:
        stored = self.get(asset_id)
        return [Match(stored.manifest_label, 100, asset_id)] if stored else []

    @staticmethod
    def stamp(now: dt.datetime) -> str:
        return now.astimezone(dt.timezone.utc).isoformat()


class RemoteResolver:
    """A C2PA Soft Binding Resolution API over HTTP (``/matches/byBinding``, ``/manifests/{id}``).

    Nothing it returns is trusted as such: the manifest it hands back is validated by the
    verifier exactly like a local one (signature, trust, soft binding, fingerprint).
    """

    def __init__(self, base_url: str, timeout: float = 10.0):
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ResolutionError(f"resolver URL must be http:// or https:// with a host (e.g. http://127.0.0.1:8000), not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict | None = None) -> tuple[bytes, str]:
        url = f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=self.timeout) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise _NotFound() from None
            if exc.code in (401, 403):
                raise ResolutionError(f"{self.base_url} serves {path} to its operator only ({exc.code})") from None
            raise ResolutionError(f"resolver {self.base_url} answered {exc.code} for {path}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ResolutionError(f"resolver {self.base_url} unreachable: {getattr(exc, 'reason', exc)}") from None

    def supported_algorithms(self) -> dict:
        body, _ = self._get("/services/supportedAlgorithms")
        return _json(body, self.base_url)

    def matches(self, alg: str, value: str, max_results: int = 10) -> list[Match]:
        try:
            body, _ = self._get("/matches/byBinding", {"alg": alg, "value": value, "maxResults": max_results})
        except _NotFound:
            return []
        doc = _json(body, self.base_url)
        out = []
        for m in doc.get("matches") or []:
            if isinstance(m, dict) and isinstance(m.get("manifestId"), str):
                out.append(Match(m["manifestId"], int(m.get("similarityScore", 100))))
        return out

    def manifest(self, manifest_id: str) -> bytes | None:
        try:
            body, ctype = self._get(f"/manifests/{urllib.parse.quote(manifest_id, safe='')}")
        except _NotFound:
            return None
        if not ctype.startswith("application/c2pa"):
            raise ResolutionError(f"resolver returned {ctype or 'no content type'} for a manifest, not application/c2pa")
        return body

    def get(self, asset_id: str) -> StoredManifest | None:
        """Resolve a watermark id: byBinding with our watermark algorithms, then fetch the manifest."""
        from .watermark import ENGINES

        value = asset_id_to_value(asset_id)
        for alg in _watermark_algs(ENGINES):
            for match in self.matches(alg, value, max_results=1):
                data = self.manifest(match.manifest_id)
                if data is None:
                    continue
                return StoredManifest(
                    asset_id=asset_id, watermark_alg=alg, manifest=data,
                    manifest_sha256=hashlib.sha256(data).hexdigest(), manifest_label=match.manifest_id,
                    mime_type="application/c2pa", decision_id="", model_sha256="",
                    created_at="", fingerprint=None)
        return None


class _NotFound(Exception):
    pass


def _json(body: bytes, where: str) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ResolutionError(f"resolver {where} did not answer JSON") from None
    if not isinstance(doc, dict):
        raise ResolutionError(f"resolver {where} answered {type(doc).__name__}, not an object")
    return doc


def _watermark_algs(engines: dict) -> list[str]:
    """The soft-binding ``alg`` names of our watermark engines (as the manifests carry them)."""
    algs = []
    for cls in engines.values():
        alg = getattr(cls, "alg", None)
        if isinstance(alg, str):
            algs.append(alg)
    return algs


class RemoteAuditLog:
    """The audit log behind a remote ``pocketstudio serve`` (``GET /v1/audit/proof/{decision_id}``).

    The bundle it returns is checked with *our* copy of the log's public key (``verifier``), so
    the remote side cannot forge inclusion; if it cannot answer, the audit check is "not
    reachable", never a pass.
    """

    def __init__(self, base_url: str, verifier, origin: str, timeout: float = 10.0):
        self._remote = RemoteResolver(base_url, timeout)
        self.verifier = verifier
        self.origin = origin

    def prove(self, decision_id: str, now: dt.datetime) -> dict:  # noqa: ARG002 — the remote signs at its now
        try:
            body, _ = self._remote._get(f"/v1/audit/proof/{urllib.parse.quote(decision_id, safe='')}")
        except _NotFound:
            raise ResolutionError(f"the remote audit log has no record of decision {decision_id}") from None
        return _json(body, self._remote.base_url)
