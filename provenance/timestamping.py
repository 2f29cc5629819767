"""Trusted time added later: ``pocketstudio timestamp --pending`` (issue 19).

A release whose TSA could not be reached goes out untimestamped (``time_stamp=pending``). Its
claim signature cannot be changed afterwards, but the C2PA 2.2 update-manifest mechanism can
vouch for its time: an update manifest whose only ingredient is the release (``parentOf``) and
whose ``c2pa.time-stamp`` assertion holds an RFC 3161 token over the release's claim signature
(c2pa-rs' ``auto_timestamp_assertion``). Validators then check that signature's certificate at
the token's time, so the recovered manifest stays valid after the certificate expires.

c2pa-rs builds that ingredient from the signed asset (whose hard binding it checks). The image
leaves the studio at release, so the release keeps, while its time-stamp is pending, the
asset as a C2PA *ingredient archive*: its manifest store and validation results, no pixels, no
thumbnail (``PendingArchives``, one 0600 file per asset id in the data directory).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import c2pa

from pocketstudio.core.base.errors import SigningError, TimeStampUnavailable
from pocketstudio.core.base.config import PRIVATE_DIR_MODE
from pocketstudio.core.base.store import stage_file
from .keys import ACCEPTED_SIGNER_EKUS, ClaimSigner
from .manifest import GENERATOR_NAME, GENERATOR_VERSION, SPEC_VERSION
from .sign import TIME_STAMPED, to_c2pa_signer

TIME_STAMP_LABEL = "c2pa.time-stamp"
PENDING_FOLDER = "time-stamps-pending"
_PARENT = "released"  # the ingredient's id inside the archive
_ASSET_ID = re.compile(r"[0-9a-f]{16,32}")


def _context(**builder) -> c2pa.Context:
    return c2pa.Context(settings=c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}, **builder},
                                                          "trust": {"trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n"}}))


def parent_archive(signed_data: bytes, mime_type: str, title: str) -> bytes:
    """The signed release as a C2PA ingredient archive (manifest store + validation, no pixels)."""
    try:
        builder = c2pa.Builder.from_json(json.dumps({"claim_generator_info": [_agent()]}), context=_context())
        builder.add_ingredient_from_stream({"title": title, "relationship": "parentOf", "label": _PARENT},
                                           mime_type, io.BytesIO(signed_data))
        out = io.BytesIO()
        builder.write_ingredient_archive(_PARENT, out)
    except c2pa.C2paError as exc:
        raise SigningError(f"cannot keep the release for a later time-stamp: {exc}") from exc
    return out.getvalue()


def _agent() -> dict:
    return {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "specVersion": SPEC_VERSION}


@dataclass(frozen=True)
class TimeStamped:
    manifest: bytes  # the manifest store: the release's manifest and the update manifest over it
    label: str  # the update manifest's label
    parent_label: str  # the release's manifest label (the one time-stamped)


def time_stamp_update(archive: bytes, mime_type: str, title: str, signer: ClaimSigner, tsa_url: str) -> TimeStamped:
    """Sign an update manifest over the archived release whose ``c2pa.time-stamp`` assertion
    carries the TSA's token for the release's claim signature (its own signature is time-stamped
    too). ``TimeStampUnavailable`` when the TSA cannot answer."""
    try:
        builder = c2pa.Builder.from_json(
            json.dumps({"claim_generator_info": [_agent()], "title": title, "format": mime_type}),
            context=_context(auto_timestamp_assertion={"enabled": True, "skip_existing": True,
                                                       "fetch_scope": "parent"}))
        builder.set_intent(c2pa.C2paBuilderIntent.UPDATE)
        builder.add_ingredient_from_archive(io.BytesIO(archive))
        manifest = bytes(builder.sign(to_c2pa_signer(signer, tsa_url), "application/c2pa", io.BytesIO(b""),
                                      io.BytesIO()))
        reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(manifest))
        store = json.loads(reader.json()) if reader is not None else {}
    except c2pa.C2paError as exc:
        raise TimeStampUnavailable(f"the time-stamp authority {tsa_url} could not time-stamp the manifest ({exc}); "
                                   "it stays pending: run 'pocketstudio timestamp --pending' again later") from exc
    label = store.get("active_manifest")
    active = (store.get("manifests") or {}).get(label) or {}
    parents = [i.get("active_manifest") for i in active.get("ingredients") or [] if i.get("relationship") == "parentOf"]
    stamped = next((a.get("data") for a in active.get("assertions") or [] if a.get("label") == TIME_STAMP_LABEL), None)
    if len(parents) != 1 or not parents[0] or not stamped:
        raise TimeStampUnavailable(f"the time-stamp authority {tsa_url} gave no token for the released manifest; "
                                   "it stays pending")
    return TimeStamped(manifest, label, parents[0])


class PendingArchives:
    """The kept ingredient archives of releases waiting for their time-stamp, by asset id."""

    def __init__(self, home: Path):
        self.dir = home / PENDING_FOLDER

    def _path(self, asset_id: str) -> Path:
        if not _ASSET_ID.fullmatch(asset_id):
            raise ValueError(f"not an asset id: {asset_id!r}")
        return self.dir / f"{asset_id}.c2pa"

    def keep(self, asset_id: str, archive: bytes) -> None:
        path = self._path(asset_id)
        self.dir.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.replace(stage_file(self.dir, path.name, archive), path)

    def get(self, asset_id: str) -> bytes | None:
        try:
            return self._path(asset_id).read_bytes()
        except FileNotFoundError:
            return None

    def drop(self, asset_id: str) -> None:
        self._path(asset_id).unlink(missing_ok=True)


@dataclass(frozen=True)
class StampOutcome:
    asset_id: str
    decision_id: str
    status: str  # stamped, unreachable (TSA down: still pending), expired (too late), unkept (no archive)
    detail: str
    manifest_sha256: str | None = None
    audit_index: int | None = None


def _certificate_expired(manifest: bytes, trust: c2pa.Context) -> bool:
    reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(manifest), None, trust)
    results = reader.get_validation_results() if reader is not None else {}
    failures = {c.get("code") for c in ((results or {}).get("activeManifest") or {}).get("failure", [])}
    return bool(failures & {"signingCredential.expired", "claimSignature.outsideValidity"})


def stamp_pending(manifests, audit, pending: PendingArchives, signer: ClaimSigner, tsa_url: str,
                  trust: c2pa.Context, now: dt.datetime | None = None) -> list[StampOutcome]:
    """Time-stamp every pending stored manifest whose signing certificate is still valid: store
    the update manifest store in its place (``time_stamp=stamped``) and append, in the same
    transaction, a ``time-stamped`` amendment naming the decision and the new manifest hash."""
    now = now or dt.datetime.now(dt.timezone.utc)
    outcomes = []
    for stored in manifests.pending_time_stamps():
        def outcome(status: str, detail: str, **kw) -> StampOutcome:
            return StampOutcome(stored.asset_id, stored.decision_id, status, detail, **kw)

        archive = pending.get(stored.asset_id)
        if archive is None:
            outcomes.append(outcome("unkept", "the release kept nothing to time-stamp (released by an older version)"))
            continue
        if _certificate_expired(stored.manifest, trust):
            outcomes.append(outcome("expired", "its signing certificate has expired: a time-stamp now would not "
                                               "vouch for a time when it was valid"))
            continue
        reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(stored.manifest))
        title = ((reader.get_active_manifest() if reader is not None else None) or {}).get("title") or stored.asset_id
        try:
            stamped = time_stamp_update(archive, stored.mime_type, title, signer, tsa_url)
        except TimeStampUnavailable as exc:
            outcomes.append(outcome("unreachable", str(exc)))
            continue
        if stamped.parent_label != stored.manifest_label:
            outcomes.append(outcome("unkept", f"the kept archive holds manifest {stamped.parent_label}, "
                                              f"not {stored.manifest_label}"))
            continue
        with manifests.store.begin() as conn:
            sha256 = manifests.replace_time_stamped(conn, stored.asset_id, stamped.manifest)
            record = audit.amend(stored.decision_id, TIME_STAMPED,
                                 f"RFC 3161 time-stamp from {tsa_url} added by update manifest {stamped.label}",
                                 now, conn=conn, manifest_sha256=sha256)
        audit.witness()
        pending.drop(stored.asset_id)
        outcomes.append(outcome("stamped", f"time-stamped by update manifest {stamped.label}",
                                manifest_sha256=sha256, audit_index=record.index))
    return outcomes
