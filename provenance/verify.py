"""Verification: one ``Verdict`` for any image, joining C2PA, watermark and the manifest store.

The plan, in order:
1. Decode the image (bounded size) — corrupt or huge input is an ``InvalidImageError``.
2. Read and validate the embedded C2PA manifest with our trust settings (local root + user
   anchors, claim-signing EKU configured, no remote fetches, no OCSP).
3. Detect the watermark with every engine, so images marked by an older default still verify.
   When the embedded manifest names its watermark engine, that engine goes first (the others
   run only if it finds nothing), so a signed image costs one detector, not all of them. An
   older engine (any but the first) runs only if the manifest store holds manifests naming it
   or cannot say: the watermark key belongs to the store's data directory, so an id that engine
   found could not lead to a manifest, and an unmarked image need not pay for its detector.
4. If the embedded manifest is missing, look the watermark id up in the manifest store (local,
   or a remote Soft Binding Resolution API) and validate the recovered manifest (its hard
   binding cannot match a re-encoded copy; its signature and trust still must).
5. Cross-check: the manifest's soft binding must name the watermark id found in the pixels.
6. Cross-check the fingerprint soft binding against the pixels: a recovered manifest whose
   fingerprint describes another picture means the watermark was transplanted (or the picture
   was edited beyond a crop / re-encode).
7. Audit: when the manifest's decision belongs to the audit log we can reach, its record must be
   in the log with a valid inclusion proof under a signed checkpoint, naming the same asset.
   Not checking it is a choice the caller spells: ``audit=UnsafeSkipAudit(…)``.
8. Decide the status.

What a manifest states is read once into a frozen :class:`ManifestSummary`, the reading side of
what the release flow signs (provenance/manifest.py's ``ManifestFacts``); checks are named by
:class:`CheckName`. ``Verifier.open(home)`` is how a verifier of a data directory is made.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import re
import os
import struct
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import c2pa
from PIL import Image, ImageOps, UnidentifiedImageError

from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import AuditError, InvalidImageError, PocketStudioError, StoreError
from pocketstudio.core.base.files import MAX_IMAGE_BYTES, read_input  # one limit for every image file read
from . import fingerprint as fp
from .keys import ACCEPTED_SIGNER_EKUS, KeyStore
from .iscc import ALG as ISCC_ALG
from .manifest import DECISION_LABEL, GENERATION_LABEL, INGREDIENT_SHA256, assertion, soft_bindings
from .resolution import ManifestSource, ResolutionError, asset_id_from_value
from .watermark import Detection, Watermarker
from .compliance import Disclosure, Evidence, assess, pixels_sha256
from .manifest import DISCLOSURE_LABEL
from .xmp import RESERVED_CODE_PREFIX, XmpFacts, check_reserved_code, label_key, read_xmp

MAX_PIXELS = 8192 * 8192
# Codes that mean the content no longer matches what was signed.
TAMPER_CODES = {"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
                "assertion.hashedURI.mismatch", "claimSignature.mismatch", "assertion.hashedURI.missing",
                "claim.missing", "assertion.missing", "assertion.dataHash.malformed"}
HARD_BINDING_CODES = {"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch"}
ORIENTATION_TAG = 0x0112  # EXIF Orientation
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff", "GIF": "image/gif"}


class CheckName(str, enum.Enum):
    """The checks a verdict can hold, in the order the plan above runs them."""

    FORMAT = "format"  # the file's structure is damaged, its manifest read from the store chunk
    C2PA = "c2pa"
    INGREDIENTS = "ingredients"
    SIGNER = "signer"  # evidence only: who signed, with what
    WATERMARK = "watermark"
    RECOVERY = "recovery"
    SOFT_BINDING = "soft-binding"
    FINGERPRINT = "fingerprint"
    AUDIT = "audit"
    XMP = "xmp"  # evidence only: the IPTC digital source type and the TC260 label, anyone's
    PIXELS = "pixels"  # after a hard binding failure: are the pixels those the manifest was signed over?


class Status(str, enum.Enum):
    TRUSTED = "trusted"
    VALID_UNTRUSTED = "valid-untrusted-signer"
    TAMPERED = "tampered"
    INVALID = "invalid"
    RECOVERED = "recovered-via-watermark"
    TRANSPLANTED = "transplanted-watermark"
    WATERMARK_ONLY = "watermark-only"
    NO_PROVENANCE = "no-provenance"
    # Only the hard binding fails, and the watermark and the fingerprint show the pixels are the
    # ones the (trusted) manifest was signed over: a metadata edit (ExifTool, a platform) detached it.
    METADATA_EDITED = "metadata-edited"


METADATA_EDITED_SUMMARY = "credentials detached by a metadata edit; pixels unchanged"
TIME_STAMP_CODES = {"timeStamp.validated", "timeStamp.trusted"}


@dataclass(frozen=True)
class CheckResult:
    name: CheckName
    ok: bool | None  # None: not applicable / nothing to check
    summary: str
    evidence: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "name", CheckName(self.name))  # a name that is no check is a bug: ValueError

    def to_json(self) -> dict:
        return {"name": self.name.value, "ok": self.ok, "summary": self.summary, "evidence": self.evidence}


def _text(value: Any) -> str | None:
    """A manifest's string field; anything else an image's author wrote there reads as absent."""
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class SoftBinding:
    """A soft-binding assertion's algorithm and its first block's value (watermark id, fingerprint)."""

    alg: str | None
    value: str | None

    @classmethod
    def read(cls, data: dict) -> "SoftBinding":
        block = (_items(data.get("blocks")) or [{}])[0]
        return cls(_text(data.get("alg")), _text(_mapping(block).get("value")))

    def to_json(self) -> dict:
        return {"alg": self.alg, "value": self.value}


def _as_asset_id(binding: SoftBinding) -> SoftBinding:
    """The watermark binding with its value as the asset id the pixels carry (16 hex digits): the
    manifest states it in base64 (older releases in hex; both read the same)."""
    asset_id = asset_id_from_value(binding.value) if binding.value else None
    return SoftBinding(binding.alg, asset_id or binding.value)


@dataclass(frozen=True)
class ModelIdentity:
    """The model a manifest names: ``ManifestFacts.model_name``, ``model_sha256`` and ``model_components``."""

    name: str | None
    sha256: str | None
    components: tuple[tuple[str | None, str | None, str | None], ...] = ()
    family: str | None = None  # ``ManifestFacts.model_family``: lcm, sd-turbo, flux2-klein, …

    @classmethod
    def read(cls, data: dict) -> "ModelIdentity":
        parts = tuple((_text(c.get("role")), _text(c.get("name")), _text(c.get("sha256")))
                      for c in map(_mapping, _items(data.get("components"))))
        return cls(_text(data.get("name")), _text(data.get("sha256")), parts, _text(data.get("family")))

    def to_json(self) -> dict:
        out: dict = {"name": self.name, "sha256": self.sha256}
        if self.components:
            out["components"] = [{"role": r, "name": n, "sha256": h} for r, n, h in self.components]
        if self.family is not None:
            out["family"] = self.family
        return out


@dataclass(frozen=True)
class ManifestSummary:
    """What a manifest states, read once: the fields the release flow signs (``ManifestFacts``)
    and the signature's facts. A field the manifest does not state (another generator's image) is
    None or empty, never a guess."""

    label: str | None = None
    claim_generator: tuple[str | None, ...] = ()
    signer: str | None = None
    issuer: str | None = None
    signed_at: str | None = None
    alg: str | None = None
    actions: tuple[str | None, ...] = ()
    digital_source_type: str | None = None
    model: ModelIdentity | None = None
    steps: int | None = None
    sampler: str | None = None  # ``ManifestFacts.sampler``
    seed: str | None = None  # 64-bit: a string, which every JSON reader keeps exact
    decision_id: str | None = None
    audit_log_origin: str | None = None
    created: str | None = None
    disclosure: Disclosure | None = None  # California's fields (io.pocketstudio.disclosure)
    soft_binding: SoftBinding | None = None  # the watermark's (value: the asset id, 16 hex digits)
    fingerprint: SoftBinding | None = None
    iscc: SoftBinding | None = None  # the ISCC image code (io.iscc.v0)
    spec_version: str | None = None  # claim_generator_info's specVersion
    ingredients: tuple[tuple[str | None, str | None, str | None], ...] = ()  # (title, relationship, sha256)

    @classmethod
    def read(cls, active: dict) -> "ManifestSummary":
        """From a c2pa reader's active manifest (``Reader.get_active_manifest()``)."""
        gen = _mapping(assertion(active, GENERATION_LABEL))
        dec = _mapping(assertion(active, DECISION_LABEL))
        bindings = [SoftBinding.read(_mapping(b)) for b in soft_bindings(active)]
        actions = [_mapping(a) for a in _items(_mapping(assertion(active, "c2pa.actions")).get("actions"))]
        sig = _mapping(active.get("signature_info"))
        created = next((a for a in actions if a.get("action") == "c2pa.created"), {})
        seed, steps = gen.get("seed"), gen.get("steps")
        return cls(
            label=_text(active.get("label")),
            claim_generator=tuple(_text(_mapping(g).get("name")) for g in _items(active.get("claim_generator_info"))),
            signer=_text(sig.get("common_name")), issuer=_text(sig.get("issuer")), signed_at=_text(sig.get("time")),
            alg=_text(sig.get("alg")),
            actions=tuple(_text(a.get("action")) for a in actions),
            digital_source_type=next((_text(a["digitalSourceType"]) for a in actions if a.get("digitalSourceType")),
                                     None),
            model=ModelIdentity.read(gen["model"]) if isinstance(gen.get("model"), dict) else None,
            steps=steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
            sampler=_text(gen.get("sampler")),
            seed=str(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None,
            decision_id=_text(dec.get("decision_id")), audit_log_origin=_text(dec.get("audit_log_origin")),
            created=_text(created.get("when")) or _text(sig.get("time")),
            disclosure=Disclosure.read(assertion(active, DISCLOSURE_LABEL)),
            soft_binding=next((_as_asset_id(b) for b in bindings if b.alg not in (fp.ALG, ISCC_ALG)), None),
            fingerprint=next((b for b in bindings if b.alg == fp.ALG), None),
            iscc=next((b for b in bindings if b.alg == ISCC_ALG), None),
            spec_version=next((_text(_mapping(g).get("specVersion")) for g in _items(active.get("claim_generator_info"))
                               if _mapping(g).get("specVersion")), None),
            ingredients=tuple((_text(i.get("title")), _text(i.get("relationship")),
                               _text(_mapping(i.get("metadata")).get(INGREDIENT_SHA256)))
                              for i in map(_mapping, _items(active.get("ingredients")))),
        )

    def to_json(self) -> dict:
        return {
            "label": self.label, "claim_generator": list(self.claim_generator),
            "signer": self.signer, "issuer": self.issuer, "signed_at": self.signed_at, "alg": self.alg,
            "actions": list(self.actions), "digital_source_type": self.digital_source_type,
            "model": self.model.to_json() if self.model else None, "steps": self.steps, "sampler": self.sampler,
            "seed": self.seed,
            "decision_id": self.decision_id, "audit_log_origin": self.audit_log_origin, "created": self.created,
            "disclosure": self.disclosure.to_json() if self.disclosure else None,
            "soft_binding": self.soft_binding.to_json() if self.soft_binding else None,
            "fingerprint": self.fingerprint.to_json() if self.fingerprint else None,
            "iscc": self.iscc.to_json() if self.iscc else None, "spec_version": self.spec_version,
            "ingredients": [{"title": t, "relationship": r, "sha256": h} for t, r, h in self.ingredients],
        }


@dataclass(frozen=True)
class Verdict:
    status: Status
    summary: str
    checks: tuple[CheckResult, ...]
    asset_id: str | None = None
    manifest: ManifestSummary | None = None
    recovered: bool = False
    # Which marking rules the image meets (provenance/compliance.py): eu_ai_act_art50, ca_sb942,
    # cn_gb45438, each {status, requirements}.
    compliance: dict | None = None

    def check(self, name: CheckName | str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict:
        return {"status": self.status.value, "summary": self.summary, "asset_id": self.asset_id,
                "recovered": self.recovered, "manifest": self.manifest.to_json() if self.manifest else None,
                "checks": [c.to_json() for c in self.checks], "compliance": self.compliance,
                "signed_thumbnail": _signed_thumbnail(self.manifest)}


def _signed_thumbnail(manifest: ManifestSummary | None) -> dict | None:
    """What the manifest's fingerprint kept of the signed picture (a 32×32 luminance PNG as a
    ``data:`` URL, and the picture's size), so a person can see whether the picture in hand is it."""
    if manifest is None or manifest.fingerprint is None or not manifest.fingerprint.value:
        return None
    try:
        reference = fp.Fingerprint.from_value(manifest.fingerprint.value)
    except InvalidImageError:
        return None
    return {"data_url": reference.thumbnail_data_url(), "width": reference.width, "height": reference.height}


class AuditSource(Protocol):
    """An audit log the verifier can reach (policy.audit.AuditLog, resolution.RemoteAuditLog)."""

    origin: str
    verifier: Any

    def prove(self, ref: str, now: dt.datetime | None = None) -> dict: ...


@dataclass(frozen=True)
class UnsafeSkipAudit:
    """The verifier's ``audit`` when no audit log is consulted: a manifest's decision is then not
    proven to be in any log, and the audit check says so (``ok`` None, never True). ``reason`` is
    shown in that check. Safe only where no log can be reached (no data directory) or where the
    caller checks the log itself."""

    reason: str = "the audit check was skipped (UnsafeSkipAudit)"


def trust_context(keys: KeyStore, online: bool = False) -> c2pa.Context:
    """c2pa settings for verification against our anchors (DESIGN.md §3).

    Offline unless ``online``: no remote manifest fetches and no OCSP requests, so verifying an
    image tells nobody that it is being verified. ``online`` (the user's explicit choice) lets
    c2pa fetch manifests referenced by URL and check certificate revocation by OCSP. No anchors
    at all (no data directory, no ``--trust``): every signer is untrusted, which c2pa says when
    it is given no anchor list (an empty one is a parse error to it).
    """
    trust = {"trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n"}
    anchors = keys.trust_anchors_pem()
    if anchors.strip():
        trust["trust_anchors"] = anchors
    return c2pa.Context.from_dict({"trust": trust, "verify": {"remote_manifest_fetch": online, "ocsp_fetch": online}})


def _released_manifest(reader: c2pa.Reader) -> dict:
    """The manifest a release was signed with: the active one, or, in a stored manifest that
    ``pocketstudio timestamp --pending`` followed up, the parent of the update manifest that
    only carries its ``c2pa.time-stamp`` (provenance/timestamping.py)."""
    active = reader.get_active_manifest() or {}
    parents = [i.get("active_manifest") for i in active.get("ingredients") or [] if i.get("relationship") == "parentOf"]
    if len(parents) == 1 and parents[0] and any(a.get("label") == "c2pa.time-stamp" for a in active.get("assertions") or []):
        try:
            return reader.get_manifest(parents[0]) or active
        except c2pa.C2paError:
            return active
    return active


def _codes(results: dict | None, kind: str) -> list[str]:
    active = (results or {}).get("activeManifest") or {}
    return [item.get("code", "") for item in active.get(kind, [])]


_FAILURE_SUFFIXES = (".mismatch", ".missing", ".malformed", ".invalid", ".expired", ".revoked", ".outsideValidity")


def _ingredient_failures(reader: c2pa.Reader) -> list[str]:
    """Failure codes recorded for the active manifest's ingredients (their own provenance).

    An untrusted ingredient signer is not a failure of the ingredient (it is reported for the
    active manifest already); a signature, hash or claim problem inside an ingredient is.
    """
    results = reader.get_validation_results() or {}
    out = []
    for delta in results.get("ingredientDeltas", []) or []:
        out += [i.get("code", "") for i in (delta.get("validationDeltas") or {}).get("failure", [])]
    store = json.loads(reader.json())
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    for ingredient in active.get("ingredients", []) or []:
        for status in ingredient.get("validation_status") or []:
            code = status.get("code", "")
            if code.endswith(_FAILURE_SUFFIXES):
                out.append(f"{code} (ingredient {ingredient.get('title', '?')})")
    return [c for c in dict.fromkeys(out) if not c.startswith("signingCredential.untrusted")]


def open_image(data: bytes) -> tuple[Image.Image, str]:
    """The image's header only (format, size), checked against the limits; the pixels are not
    decoded, so that what needs only the bytes (C2PA) runs even when they would not decode."""
    if not data:
        raise InvalidImageError("the file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImageError(f"the file is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:  # its message names the in-memory buffer, which says nothing
        raise InvalidImageError("not a readable image: no image format recognised") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"not a readable image: {exc}") from exc
    if image.width * image.height > MAX_PIXELS:
        raise InvalidImageError(f"the image has {image.width}x{image.height} pixels, more than {MAX_PIXELS}")
    mime = _FORMATS.get(image.format or "")
    if mime is None:
        raise InvalidImageError(f"unsupported image format {image.format}")
    return image, mime


def decode_pixels(image: Image.Image) -> Image.Image:
    """The picture as it is displayed: decoded, and turned by its EXIF orientation tag. A copy
    stored turned with the tag set shows the original; the watermark and the fingerprint must
    see what a viewer sees."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"not a readable image: {exc}") from exc
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, struct.error):
        return image  # unreadable EXIF: there is no orientation to honour
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        image = ImageOps.exif_transpose(image)
    return image


def load_image(data: bytes) -> tuple[Image.Image, str]:
    """Header checks, then the pixels as displayed (the one place verification decodes images)."""
    image, mime = open_image(data)
    return decode_pixels(image), mime


def _png_manifest_store(data: bytes) -> bytes | None:
    """The C2PA manifest store (``caBX`` chunk) of a PNG whose structure c2pa cannot parse (a
    truncated file, a missing IEND): the chunks are walked until the data runs out."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"caBX":
            body = data[pos + 8:pos + 8 + length]
            return body if len(body) == length else None
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


# dcterms:provenance in XMP, as an attribute or an element (C2PA 2.x, §11.3 "External manifests").
_XMP_PROVENANCE = re.compile(rb"""dcterms:provenance\s*(?:=\s*["']([^"']{1,2048})["']|>\s*([^<\s]{1,2048})\s*<)""")
_URL_IN_MESSAGE = re.compile(r"(https?://[^\s)]+)")


def _remote_manifest_url(data: bytes, image: Image.Image, error: str) -> str | None:
    """The remote manifest an image links to (XMP ``dcterms:provenance``), if any; characters
    that have no place in a URL are percent-encoded, so the address an attacker wrote cannot
    carry terminal escapes or console markup into a report."""
    texts = [data] + [v if isinstance(v, bytes) else v.encode("utf-8", "replace")
                      for v in image.info.values() if isinstance(v, (str, bytes))]
    for text in texts:
        found = _XMP_PROVENANCE.search(text)
        if found:
            return _safe_url((found.group(1) or found.group(2)).decode("utf-8", "replace"))
    in_message = _URL_IN_MESSAGE.search(error) if error.startswith("Remote") else None
    return _safe_url(in_message.group(1)) if in_message else None


def _safe_url(url: str) -> str:
    return urllib.parse.quote(url, safe=":/?#@!$&'()*+,;=%-._~")


class Verifier:
    """Joins C2PA, watermark, manifest recovery, fingerprint and audit into one ``Verdict``.

    ``Verifier.open(home)`` makes the verifier of a data directory. ``manifests`` is where a
    watermark id is resolved (local store or remote resolver; None: no recovery). ``audit`` is the
    audit log we can reach, or ``UnsafeSkipAudit(reason)``: there is no default, so a verifier
    that proves nothing about decisions says so where it is made. ``online``: allow c2pa's
    network fetches (remote manifests, OCSP); off unless the user asks.
    """

    def __init__(self, keys: KeyStore, detectors: list[Watermarker], manifests: ManifestSource | None, *,
                 audit: AuditSource | UnsafeSkipAudit, online: bool = False, witness_policy=None):
        if audit is None:
            raise TypeError("audit: pass the audit log to check decisions against, or UnsafeSkipAudit(reason)")
        self.keys = keys
        self.online = online
        # policy.cosignature.WitnessPolicy (None: no cosignature needed): a decision's proof must
        # be against a checkpoint its quorum of witnesses cosigned.
        self.witness_policy = witness_policy
        self.detectors = detectors
        self.manifests = manifests
        self.audit = audit
        self._ctx: c2pa.Context | None = None
        self._label_key: bytes | None = None

    @classmethod
    def open(cls, home: str | os.PathLike | Settings | None = None, *, trust: Iterable[str | os.PathLike] = (),
             resolver: str | None = None, online: bool = False) -> "Verifier":
        """The verifier of a data directory (a path, its ``Settings``, or None: the default one),
        which verification only reads.

        The database is opened read-only (no migration, deferred reads), so a process holding a
        write transaction never blocks it; no folder, key or database is created. A data
        directory that does not exist (yet) verifies with the trust anchors alone (``trust``: PEM
        files, added to the settings' own): without its watermark key no watermark can be read,
        without its database nothing can be recovered, without its audit key no decision proven.
        ``resolver``: manifests and audit proofs come from that service instead of the local
        store; proofs are still checked with our copy of the log's public key.
        """
        from pocketstudio.core.base.store import Store, store_location
        from .keys import AUDIT_KEY, WATERMARK_KEY
        from .resolution import ManifestRepository, RemoteAuditLog, RemoteResolver
        from .watermark import all_detectors

        settings = home if isinstance(home, Settings) else Settings.load(home)
        if trust:
            settings = settings.with_(trust_anchor_files=(*settings.trust_anchor_files, *map(Path, trust)))
        keys = KeyStore(settings)
        detectors = all_detectors(keys.watermark_key()) if (settings.keys_dir / WATERMARK_KEY).exists() else []
        signer = keys.audit_signer() if (settings.keys_dir / AUDIT_KEY).exists() else None
        store = (Store.open_readonly(store_location(settings))
                 if settings.database_url or settings.db_path.exists() else None)
        manifests: ManifestSource | None = ManifestRepository(store) if store is not None else None
        audit: AuditSource | UnsafeSkipAudit = UnsafeSkipAudit(
            f"no audit log in {settings.home} (no data directory, or one without its audit key)")
        if store is not None and signer is not None:
            from pocketstudio.policy.audit import AuditLog

            audit = AuditLog(store, signer, retention=dt.timedelta(days=settings.audit_retention_days),
                             checkpoint_file=settings.audit_checkpoint_file)
        if resolver:
            manifests = RemoteResolver(resolver)
            audit = RemoteAuditLog(resolver, signer.verifier, signer.name) if signer is not None else UnsafeSkipAudit(
                f"the resolver's audit proofs cannot be checked: no audit key in {settings.home}")
        witness_policy = None
        if settings.witness_policy is not None:  # a policy that cannot be read stops verification: fail closed
            from pocketstudio.policy.cosignature import WitnessPolicy

            witness_policy = WitnessPolicy.load(settings.witness_policy)
        return cls(keys, detectors, manifests, audit=audit, online=online, witness_policy=witness_policy)

    def verify(self, image: str | os.PathLike | bytes, now: dt.datetime | None = None) -> Verdict:
        """The verdict on an image file (a path; at most MAX_IMAGE_BYTES, a regular file) or its bytes."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            return self.verify_bytes(bytes(image), now)
        return self.verify_bytes(read_input(image, MAX_IMAGE_BYTES), now)

    def crjson(self, image: str | os.PathLike | bytes) -> dict:
        """The C2PA validation of the embedded manifest as Content Credentials JSON (crJSON, what
        the conformance program asks a validator to output), under this verifier's trust settings."""
        data = bytes(image) if isinstance(image, (bytes, bytearray, memoryview)) else read_input(image, MAX_IMAGE_BYTES)
        _header, mime = open_image(data)
        try:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, self._context())
            if reader is None:
                raise InvalidImageError("no C2PA manifest embedded: there is nothing to report as crJSON")
            return json.loads(reader.crjson())
        except c2pa.C2paError as exc:
            raise InvalidImageError(f"the C2PA manifest does not read: {exc}") from exc

    def _context(self) -> c2pa.Context:
        # The trust settings do not change during a verifier's life; build them once.
        if self._ctx is None:
            self._ctx = trust_context(self.keys, online=self.online)
        return self._ctx

    def verify_bytes(self, data: bytes, now: dt.datetime | None = None) -> Verdict:
        now = now or dt.datetime.now(dt.timezone.utc)
        # 1. The header (format, size, limits); the pixels are decoded after the C2PA check.
        header, mime = open_image(data)
        ctx = self._context()
        checks: list[CheckResult] = []

        # 2. Embedded manifest, validated on the raw bytes: its hard binding needs no pixels.
        reader, failures, remote = self._read_embedded(data, header, mime, ctx, checks)
        manifest_summary, state = None, None
        if reader is not None:
            results = reader.get_validation_results()
            state = reader.get_validation_state()
            failures = list(dict.fromkeys(_codes(results, "failure")))
            ingredient_failures = _ingredient_failures(reader)
            manifest_summary = ManifestSummary.read(reader.get_active_manifest() or {})
            if ingredient_failures:
                checks.append(CheckResult(CheckName.INGREDIENTS, False,
                                          "an ingredient's own provenance fails: " + ", ".join(ingredient_failures),
                                          {"failure_codes": ingredient_failures}))
            checks.append(CheckResult(CheckName.C2PA, state in ("Trusted", "Valid") and not failures,
                                      f"C2PA manifest {state}" + (f": {', '.join(failures)}" if failures else ""),
                                      {"state": state, "failure_codes": failures,
                                       "ingredient_failure_codes": ingredient_failures,
                                       "success_codes": _codes(results, "success"),
                                       "informational_codes": _codes(results, "informational"),
                                       "manifest": manifest_summary.to_json(), **remote}))
            checks.append(_signer_check(manifest_summary, "embedded manifest"))
        elif not failures and not remote:
            checks.append(CheckResult(CheckName.C2PA, None, "no C2PA manifest embedded"))

        # 3. The pixels as displayed. Only the watermark and the fingerprint need them: when they
        # do not decode, those checks cannot run, and a manifest's verdict stands on its own.
        try:
            image, undecodable = decode_pixels(header), None
        except InvalidImageError as exc:
            if reader is None:  # nothing else to say about these bytes
                raise
            image, undecodable = None, str(exc)

        # Watermark (the engine the manifest names first).
        named = manifest_summary.soft_binding.alg if manifest_summary and manifest_summary.soft_binding else None
        if image is None:
            detection = Detection(False, "none", reason=f"the pixels do not decode: {undecodable}")
            checks.append(CheckResult(CheckName.WATERMARK, None, f"watermark check could not run: {undecodable}",
                                      {"reason": detection.reason}))
        elif not self.detectors:
            detection = Detection(False, "none", reason="this verifier has no watermark key")
            checks.append(CheckResult(CheckName.WATERMARK, None, "watermark not checked: this verifier has no "
                                      "watermark key (a data directory's keys/watermark.key reads its marks)",
                                      {"reason": detection.reason}))
        else:
            detection = self._detect(image, named)
            checks.append(CheckResult(
                CheckName.WATERMARK, detection.found,
                f"watermark {detection.asset_id} found ({detection.alg})" if detection.found else "no watermark found",
                {"alg": detection.alg, "asset_id": detection.asset_id,
                 "tag_bits_matching": detection.tag_bits_matching,
                 "p_value": detection.p_value, "false_positive_rate": detection.false_positive_rate,
                 "statistic": detection.statistic, "threshold": detection.threshold,
                 "bits_corrected": detection.bits_corrected, "reason": detection.reason}))

        # 4. Recovery by watermark id.
        recovered_summary = None
        if reader is None and detection.found and self.manifests is not None:
            try:
                stored = self.manifests.get(detection.asset_id)
            except StoreError:  # our own database is unusable: no verdict at all, an error that says so
                raise
            except PocketStudioError as exc:  # e.g. a remote resolver that cannot be reached
                stored = None
                checks.append(CheckResult(CheckName.RECOVERY, False, f"manifest lookup failed: {exc}", {"error": str(exc)}))
            else:
                if stored is None:
                    checks.append(CheckResult(CheckName.RECOVERY, False,
                                              f"no manifest stored for watermark id {detection.asset_id}"))
            if stored is not None:
                recovered_summary, check = self._validate_recovered(stored, data, mime, ctx)
                checks.append(check)
                if recovered_summary is not None:
                    checks.append(_signer_check(recovered_summary, "recovered manifest"))

        # 5. Soft binding agrees with the pixels.
        in_use = manifest_summary or recovered_summary
        binding = in_use.soft_binding if in_use else None
        if binding and detection.found:
            same = binding.value == detection.asset_id
            checks.append(CheckResult(CheckName.SOFT_BINDING, same,
                                      "manifest soft binding matches the watermark" if same
                                      else "manifest soft binding names another watermark id",
                                      {"manifest": binding.value, "watermark": detection.asset_id}))

        # 6. Fingerprint soft binding agrees with the pixels.
        if in_use and in_use.fingerprint:
            checks.append(_fingerprint_check(image, in_use.fingerprint) if image is not None else
                          CheckResult(CheckName.FINGERPRINT, None, f"fingerprint check could not run: {undecodable}",
                                      {"alg": in_use.fingerprint.alg}))

        # 7. Audit inclusion.
        if in_use and in_use.decision_id:
            checks.append(self._audit_check(in_use, detection.asset_id or (binding.value if binding else None), now))

        # 7b. A hard binding that fails alone: are the pixels the signed ones (a metadata edit), and
        #     is the manifest stored for the watermark id this one?
        if reader is not None and failures and set(failures) <= HARD_BINDING_CODES and manifest_summary is not None:
            signed = manifest_summary.disclosure.pixels_sha256 if manifest_summary.disclosure else None
            if signed and image is not None:
                same = pixels_sha256(image) == signed
                checks.append(CheckResult(CheckName.PIXELS, same, "the pixels are those the manifest was signed over"
                                          if same else "the pixels changed after signing", {"signed_sha256": signed}))
            if detection.found and self.manifests is not None:
                checks.append(self._same_as_stored(detection.asset_id, manifest_summary))

        # 8. Status.
        status, summary = self._status(reader is not None, state, failures, detection, recovered_summary, checks)
        # 9. Which marking rules the image meets (anyone's: from what the file itself carries too).
        facts = read_xmp(data)
        if facts.present:
            checks.append(CheckResult(CheckName.XMP, None, _xmp_summary(facts), facts.to_json()))
        compliance = assess(self._evidence(status, checks, manifest_summary or recovered_summary,
                                           recovered_summary is not None, detection, facts))
        if remote:
            summary += (f"; the image links a remote manifest at {(remote['remote_manifest'] or '?')[:300]}, "
                        + ("which could not be fetched" if self.online else "not fetched (offline)"))
        return Verdict(status, summary, tuple(checks),
                       asset_id=detection.asset_id or (manifest_summary.soft_binding.value if manifest_summary
                                                       and manifest_summary.soft_binding else None),
                       manifest=manifest_summary or recovered_summary, recovered=recovered_summary is not None,
                       compliance=compliance)

    def _same_as_stored(self, asset_id: str, embedded: ManifestSummary) -> CheckResult:
        try:
            stored = self.manifests.get(asset_id)
        except StoreError:
            raise
        except PocketStudioError as exc:
            return CheckResult(CheckName.RECOVERY, None, f"manifest lookup failed: {exc}", {"error": str(exc)})
        if stored is None:
            return CheckResult(CheckName.RECOVERY, None, f"no manifest stored for watermark id {asset_id}")
        same = stored.manifest_label == embedded.label
        return CheckResult(CheckName.RECOVERY, same, f"the manifest stored for watermark id {asset_id} is "
                           + ("the embedded one" if same else "another one"),
                           {"asset_id": asset_id, "manifest_label": stored.manifest_label, "embedded": embedded.label})

    def _evidence(self, status: Status, checks: list[CheckResult], summary: ManifestSummary | None,
                  recovered: bool, detection: Detection, facts: XmpFacts) -> Evidence:
        """What the marking rules ask about, from the checks already made."""
        def check(name: CheckName) -> CheckResult | None:
            return next((c for c in checks if c.name == name), None)

        source = check(CheckName.RECOVERY) if recovered else check(CheckName.C2PA)
        success = set((source.evidence.get("success_codes") or []) if source else [])
        soft = check(CheckName.SOFT_BINDING)
        valid = summary is not None and status in (Status.TRUSTED, Status.VALID_UNTRUSTED, Status.RECOVERED,
                                                   Status.METADATA_EDITED)
        return Evidence(
            manifest_present=summary is not None, manifest_valid=valid, manifest_recovered=recovered,
            digital_source_type=summary.digital_source_type if summary else None,
            created=summary.created if summary else None, disclosure=summary.disclosure if summary else None,
            timestamped=bool(success & TIME_STAMP_CODES), watermark_found=detection.found,
            watermark_id=detection.asset_id, watermark_names_manifest=bool(soft and soft.ok), xmp=facts,
            reserved_code_ok=self._reserved_code_ok(facts, detection, summary))

    def _reserved_code_ok(self, facts: XmpFacts, detection: Detection, summary: ManifestSummary | None) -> bool | None:
        """ReservedCode1 of our own label, checked with our key and against the release it names
        (None: another producer's code, or no key here to check it with)."""
        block = facts.aigc
        if block is None or not block.reserved_code1.startswith(RESERVED_CODE_PREFIX) or not self.detectors:
            return None
        if self._label_key is None:
            try:
                self._label_key = label_key(self.keys.watermark_key())
            except PocketStudioError:
                return None
        release = detection.asset_id or (summary.soft_binding.value if summary and summary.soft_binding else None)
        return check_reserved_code(self._label_key, block) and (release is None or block.produce_id == release)

    def _read_embedded(self, data: bytes, header: Image.Image, mime: str, ctx: c2pa.Context,
                       checks: list[CheckResult]) -> tuple[c2pa.Reader | None, list[str], dict]:
        """The reader of the manifest embedded in ``data``, validated on the raw bytes.

        Returns the reader (None: no manifest to read), the failure codes when there is none,
        and the evidence of a remote manifest the image links to. A link (XMP
        ``dcterms:provenance``) is reported, not followed unless online: offline, the image is
        one without an embedded manifest, recoverable by its watermark. A PNG whose chunk
        structure c2pa cannot parse (truncated) is read again with its ``caBX`` manifest store
        passed alongside, so its hard binding is checked against the bytes as they are.
        """
        try:
            return c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx), [], {}
        except c2pa.C2paError as exc:
            error = str(exc)
            # c2pa-python maps the native "Remote: …" error to no subclass of its own (0.38).
            remote = error.startswith("Remote") or isinstance(exc, getattr(c2pa.C2paError, "RemoteManifest", ()))
        if remote:
            url = _remote_manifest_url(data, header, error)
            shown = (url or "an unknown address")[:300]
            evidence = {"remote_manifest": url, "remote_manifest_fetched": False, "error": error}
            checks.append(CheckResult(CheckName.C2PA, None, (
                f"no C2PA manifest embedded; the image links a remote manifest at {shown}, which could not be "
                "fetched") if self.online else (
                f"no C2PA manifest embedded; the image links a remote manifest at {shown}, not fetched "
                "(verification is offline; --online fetches it)"), evidence))
            return None, [], evidence
        if mime == "image/png":
            store = _png_manifest_store(data)
            if store is not None:
                try:
                    reader = c2pa.Reader.try_create(mime, io.BytesIO(data), store, ctx)
                except c2pa.C2paError:
                    reader = None
                if reader is not None:
                    checks.append(CheckResult(CheckName.FORMAT, False, f"the file's structure is damaged ({error}); its "
                                              "embedded manifest was read from its caBX chunk", {"error": error}))
                    return reader, [], {}
            elif b"caBX" not in data:
                checks.append(CheckResult(CheckName.C2PA, None, f"no C2PA manifest embedded (the file's structure is "
                                                        f"damaged: {error})", {"error": error}))
                return None, [], {}
        checks.append(CheckResult(CheckName.C2PA, False, f"a C2PA manifest is present but unreadable: {error}",
                                  {"error": error}))
        return None, [f"manifest.unreadable: {error}"], {}

    def detect_watermark(self, image: Image.Image, named_alg: str | None = None) -> Detection:
        """Every engine, the one named first; the first detection wins."""
        return self._detect(image, named_alg)

    def _detect(self, image: Image.Image, named_alg: str | None = None) -> Detection:
        ordered = sorted(self.detectors, key=lambda d: d.alg != named_alg)
        issued = self._issued_algs()
        if issued is not None:
            current = self.detectors[0].alg if self.detectors else None
            ordered = [d for d in ordered if d.alg in (current, named_alg) or d.alg in issued]
        best = None
        for detector in ordered:
            found = detector.detect(image)
            if found.found:
                return found
            best = best or found
        return best or Detection(False, "none", reason="no watermark engines configured")

    def _issued_algs(self) -> set[str] | None:
        """The watermark algorithms the manifest source has issued, or None (unknown: try all)."""
        ask = getattr(self.manifests, "issued_watermark_algs", None)
        if ask is None:
            return None
        try:
            return ask()
        except Exception:  # noqa: BLE001 — a store that cannot say means: try every engine
            return None

    def _validate_recovered(self, stored, data, mime, ctx):
        try:
            reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(stored.manifest), None, ctx)
        except c2pa.C2paError as exc:
            return None, CheckResult(CheckName.RECOVERY, False, f"stored manifest does not read: {exc}")
        if reader is None:
            return None, CheckResult(CheckName.RECOVERY, False, "stored manifest is empty")
        results = reader.get_validation_results()
        failures = _codes(results, "failure")
        success = _codes(results, "success")
        # The recovered manifest was signed over the original bytes: its hard binding cannot match
        # a re-encoded copy. Everything else (signature, trust, assertion hashes) must hold.
        other = [c for c in failures if c not in HARD_BINDING_CODES]
        trusted = "signingCredential.trusted" in success
        summary = ManifestSummary.read(_released_manifest(reader))
        ok = not other
        return summary, CheckResult(
            CheckName.RECOVERY, ok,
            ("manifest recovered via watermark: signature valid" + (" and trusted" if trusted else ", signer untrusted"))
            if ok else f"recovered manifest fails validation: {', '.join(other)}",
            {"asset_id": stored.asset_id, "manifest_label": stored.manifest_label, "trusted": trusted,
             "failure_codes": failures, "success_codes": success, "manifest": summary.to_json(),
             "stored_at": stored.created_at})

    def _audit_check(self, manifest: ManifestSummary, asset_id: str | None, now: dt.datetime) -> CheckResult:
        from pocketstudio.policy.audit import (NOT_PUBLISHED, AuditLog, NotYetCheckpointed, NotYetWitnessed,
                                               proven_amendments,
                                               verify_proof_bundle)
        from pocketstudio.policy.checkpoint import CheckpointError

        decision_id, origin = manifest.decision_id, manifest.audit_log_origin
        evidence = {"decision_id": decision_id, "log_origin": origin}
        if isinstance(self.audit, UnsafeSkipAudit):
            return CheckResult(CheckName.AUDIT, None, f"audit check not run: {self.audit.reason}",
                               {**evidence, "skipped": self.audit.reason})
        if origin != self.audit.origin:
            return CheckResult(CheckName.AUDIT, None, f"audit log {origin or '(unnamed)'} is not reachable from here", evidence)
        policy = self.witness_policy
        try:
            # A local log picks a checkpoint the witnesses cosigned; a remote one answers with its own.
            bundle = (self.audit.prove(decision_id, now, witnessed=policy)
                      if policy is not None and isinstance(self.audit, AuditLog)
                      else self.audit.prove(decision_id, now))
            record = verify_proof_bundle(bundle, self.audit.verifier)
            amendments = proven_amendments(bundle, self.audit.verifier)
            if policy is not None:
                cosigners = policy.cosigners(bundle["checkpoint"])
                evidence["witnesses"] = sorted(cosigners)
                if not policy.witnessed(cosigners):
                    raise NotYetWitnessed(f"the proof's checkpoint is not cosigned by the witness policy's quorum "
                                          f"({policy.describe()}); cosigned by {', '.join(sorted(cosigners)) or 'none'}")
        except StoreError:  # the local database is unusable: an error, not a verdict on the image
            raise
        except ResolutionError as exc:  # a remote log that does not answer, or answers only its operator
            return CheckResult(CheckName.AUDIT, None, f"audit check not available: {exc}", evidence)
        except NotYetCheckpointed as exc:  # a replica: the writers have not stored a checkpoint over it yet
            return CheckResult(CheckName.AUDIT, None, str(exc), {**evidence, "not_yet_checkpointed": True})
        except NotYetWitnessed as exc:  # witnesses cosign after the fact: undecided, not a failure
            return CheckResult(CheckName.AUDIT, None, str(exc), {**evidence, "not_yet_witnessed": True})
        except CheckpointError as exc:  # a cosignature under a policy witness's name that does not verify
            return CheckResult(CheckName.AUDIT, False, f"the audit proof's checkpoint carries a false witness "
                               f"cosignature: {exc}", evidence)
        except (AuditError, PocketStudioError) as exc:
            return CheckResult(CheckName.AUDIT, False, f"decision {decision_id} has no provable record in the audit log: {exc}",
                               evidence)
        evidence.update({"leaf_index": bundle["leaf_index"], "tree_size": bundle["tree_size"],
                         "outcome": record.get("outcome"), "effect": record.get("effect"),
                         "record_asset_id": record.get("asset_id"), "checkpoint": bundle["checkpoint"]})
        if (record.get("decision_id") != decision_id or record.get("outcome") != "released"
                or (asset_id and record.get("asset_id") != asset_id)):
            return CheckResult(CheckName.AUDIT, False, f"the audit record of decision {decision_id} does not describe "
                               f"this release (outcome {record.get('outcome')}, asset {record.get('asset_id')})", evidence)
        evidence["amendments"] = [{"event": a.get("event"), "leaf_index": a.get("index"), "time": a.get("time"),
                                   **({"manifest_sha256": a["manifest_sha256"]} if "manifest_sha256" in a else {})}
                                  for a in amendments]
        if any(a.get("event") == NOT_PUBLISHED for a in amendments):
            evidence["published"] = False
            return CheckResult(CheckName.AUDIT, False, f"decision {decision_id} is leaf {bundle['leaf_index']} of the audit log, "
                               "but a later leaf records that its file was never published: this copy did not leave "
                               "the studio through a release", evidence)
        cosigned = f", cosigned by {', '.join(evidence['witnesses'])}" if evidence.get("witnesses") else ""
        return CheckResult(CheckName.AUDIT, True, f"decision {decision_id} is leaf {bundle['leaf_index']} of the audit log "
                           f"(inclusion proof verified against a signed checkpoint of size {bundle['tree_size']}{cosigned})",
                           evidence)

    @staticmethod
    def _status(embedded, state, failures, detection, recovered, checks) -> tuple[Status, str]:
        def failed(name: CheckName) -> bool:
            return any(c.name == name and c.ok is False for c in checks)

        if failed(CheckName.SOFT_BINDING):
            return Status.TAMPERED, "the watermark in the pixels does not belong to this manifest"
        ingredients = next((c for c in checks if c.name == CheckName.INGREDIENTS), None)
        if embedded:
            if _metadata_edited(failures, checks):
                return Status.METADATA_EDITED, METADATA_EDITED_SUMMARY
            if set(failures) & TAMPER_CODES:
                return Status.TAMPERED, "the image or its manifest changed after signing: " + ", ".join(failures)
            if ingredients is not None:
                codes = {c.split(" (ingredient")[0] for c in ingredients.evidence["failure_codes"]}
                return (Status.TAMPERED if codes & TAMPER_CODES else Status.INVALID), ingredients.summary
            if failed(CheckName.FINGERPRINT):
                return Status.INVALID, "the manifest's fingerprint does not describe the pixels it is bound to"
            if failed(CheckName.AUDIT):
                return Status.INVALID, next(c.summary for c in checks if c.name == CheckName.AUDIT)
            if state == "Trusted" and not failures:
                return Status.TRUSTED, "C2PA manifest valid and signed by a trusted signer"
            if state == "Valid" and not [f for f in failures if f != "signingCredential.untrusted"]:
                return Status.VALID_UNTRUSTED, "C2PA manifest valid, but the signer is not on the trust list"
            return Status.INVALID, "C2PA manifest invalid: " + ", ".join(failures or [str(state)])
        if failures:
            return Status.INVALID, "C2PA manifest present but unreadable"
        rec = next((c for c in checks if c.name == CheckName.RECOVERY), None)
        if recovered is not None and rec is not None and rec.ok:
            if failed(CheckName.FINGERPRINT):
                return Status.TRANSPLANTED, (f"watermark {detection.asset_id} names a manifest made for a different "
                                             "picture: the watermark was copied onto this image, or the image was "
                                             "edited beyond re-encoding and cropping")
            if failed(CheckName.AUDIT):
                return Status.INVALID, next(c.summary for c in checks if c.name == CheckName.AUDIT)
            if not rec.evidence.get("trusted"):
                # Anyone can sign a manifest naming any watermark id (e.g. a remote resolver):
                # only a trusted signer makes a recovery an answer.
                return Status.VALID_UNTRUSTED, (f"manifest recovered via watermark id {detection.asset_id}, "
                                                "but its signer is not on the trust list")
            return Status.RECOVERED, f"manifest recovered via watermark id {detection.asset_id}"
        if detection.found:
            return Status.WATERMARK_ONLY, f"watermark {detection.asset_id} found, but no valid manifest for it"
        return Status.NO_PROVENANCE, "no C2PA manifest and no watermark found"


def _metadata_edited(failures: list[str], checks: list[CheckResult]) -> bool:
    """Only the hard binding fails, the decoded pixels are the signed ones, the signer is trusted,
    the watermark names this manifest, the fingerprint sees the same picture (not a crop), the store
    (when asked) holds this manifest for the watermark's id, and the audit record does not
    contradict it."""
    def result(name: CheckName) -> CheckResult | None:
        return next((c for c in checks if c.name == name), None)

    c2pa_check, soft, fingerprint = result(CheckName.C2PA), result(CheckName.SOFT_BINDING), result(CheckName.FINGERPRINT)
    recovery, audit, pixels = result(CheckName.RECOVERY), result(CheckName.AUDIT), result(CheckName.PIXELS)
    return (bool(failures) and set(failures) <= HARD_BINDING_CODES and c2pa_check is not None
            and pixels is not None and pixels.ok is True
            and "signingCredential.trusted" in (c2pa_check.evidence.get("success_codes") or [])
            and soft is not None and soft.ok is True
            and fingerprint is not None and fingerprint.ok is True and fingerprint.evidence.get("outcome") == "same"
            and (recovery is None or recovery.ok is not False) and (audit is None or audit.ok is not False))


def _xmp_summary(facts: XmpFacts) -> str:
    parts = []
    if facts.digital_source_type:
        parts.append(f"IPTC digital source type {facts.digital_source_type.rsplit('/', 1)[-1]}")
    if facts.aigc is not None:
        parts.append(f"TC260 label {facts.aigc.label!r} from {facts.aigc.content_producer or '(no producer)'}, "
                     f"ProduceID {facts.aigc.produce_id or '(none)'}")
    if facts.error:
        parts.append(facts.error)
    return "XMP: " + ("; ".join(parts) if parts else "no AI marking")


def _signer_check(summary: ManifestSummary, which: str) -> CheckResult:
    """Who signed, with what, and what made the image (evidence only: validity is the c2pa check)."""
    model = summary.model
    generator = ", ".join(filter(None, summary.claim_generator)) or None
    text = f"{which} signed by {summary.signer or 'unknown'} (issuer {summary.issuer or 'unknown'})"
    if generator:
        text += f"; made with {generator}"
    if model and model.name:
        text += f", model {model.name}"
    return CheckResult(CheckName.SIGNER, None, text, {
        "signer": summary.signer, "issuer": summary.issuer, "alg": summary.alg,
        "signed_at": summary.signed_at, "created": summary.created,
        "claim_generator": list(summary.claim_generator), "model": model.to_json() if model else None,
        "digital_source_type": summary.digital_source_type})


def _fingerprint_check(image: Image.Image, binding: SoftBinding) -> CheckResult:
    try:
        reference = fp.Fingerprint.from_value(binding.value or "")
    except InvalidImageError as exc:
        return CheckResult(CheckName.FINGERPRINT, False, f"the manifest's fingerprint is malformed: {exc}",
                           {"alg": binding.alg})
    result = fp.compare(image, reference)
    evidence = {"alg": binding.alg, "manifest_phash": reference.phash_hex,
                "original_size": [reference.width, reference.height], **result.to_json()}
    text = {
        "same": f"the picture matches the manifest's fingerprint ({result.phash_distance}/64 bits differ)",
        "crop": f"the picture matches a crop of the released picture (correlation {result.ncc})",
        "different": ("the picture does not match the manifest's fingerprint "
                      f"({result.phash_distance}/64 bits differ, best crop correlation {result.ncc})"),
        "undecidable": "the picture is too flat to compare with the manifest's fingerprint",
    }[result.outcome]
    return CheckResult(CheckName.FINGERPRINT, result.matches, text, evidence)
