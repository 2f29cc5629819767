"""Verification: one ``Verdict`` for any image, joining C2PA, watermark and the manifest store.

The plan, in order:
1. Decode the image (bounded size) — corrupt or huge input is an ``InvalidImageError``.
2. Read and validate the embedded C2PA manifest with our trust settings (local root + user
   anchors, claim-signing EKU configured, no remote fetches, no OCSP).
3. Detect the watermark with every engine, so images marked by an older default still verify.
4. If the embedded manifest is missing, look the watermark id up in the manifest store and
   validate the recovered manifest (its hard binding cannot match a re-encoded copy; its
   signature and trust still must).
5. Cross-check: the manifest's soft binding must name the watermark id found in the pixels.
6. Decide the status.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
from dataclasses import asdict, dataclass, field

import c2pa
from PIL import Image, UnidentifiedImageError

from ..core.errors import InvalidImageError
from .keys import ACCEPTED_SIGNER_EKUS, KeyStore
from .manifest import DECISION_LABEL, GENERATION_LABEL, SOFT_BINDING_LABEL, assertion
from .resolution import ManifestRepository
from .watermark import Detection, Watermarker

MAX_IMAGE_BYTES = 200 * 1024 * 1024
MAX_PIXELS = 8192 * 8192
# Codes that mean the content no longer matches what was signed.
TAMPER_CODES = {"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
                "assertion.hashedURI.mismatch", "claimSignature.mismatch", "assertion.hashedURI.missing",
                "claim.missing", "assertion.missing", "assertion.dataHash.malformed"}
HARD_BINDING_CODES = {"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch"}
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff", "GIF": "image/gif"}


class Status(str, enum.Enum):
    TRUSTED = "trusted"
    VALID_UNTRUSTED = "valid-untrusted-signer"
    TAMPERED = "tampered"
    INVALID = "invalid"
    RECOVERED = "recovered-via-watermark"
    WATERMARK_ONLY = "watermark-only"
    NO_PROVENANCE = "no-provenance"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool | None  # None: not applicable / nothing to check
    summary: str
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    status: Status
    summary: str
    checks: tuple[CheckResult, ...]
    asset_id: str | None = None
    manifest: dict | None = None
    recovered: bool = False

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict:
        return {"status": self.status.value, "summary": self.summary, "asset_id": self.asset_id,
                "recovered": self.recovered, "manifest": self.manifest,
                "checks": [asdict(c) for c in self.checks]}


def trust_context(keys: KeyStore) -> c2pa.Context:
    """c2pa settings for offline verification against our anchors (DESIGN.md §3)."""
    return c2pa.Context.from_dict({
        "trust": {"trust_anchors": keys.trust_anchors_pem(), "trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n"},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    })


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


def _summarise_manifest(reader: c2pa.Reader) -> dict:
    active = reader.get_active_manifest() or {}
    gen = assertion(active, GENERATION_LABEL) or {}
    dec = assertion(active, DECISION_LABEL) or {}
    soft = assertion(active, SOFT_BINDING_LABEL) or {}
    actions = (assertion(active, "c2pa.actions") or {}).get("actions", [])
    sig = active.get("signature_info") or {}
    blocks = soft.get("blocks") or [{}]
    return {
        "label": active.get("label"),
        "claim_generator": [g.get("name") for g in active.get("claim_generator_info", [])],
        "signer": sig.get("common_name"), "issuer": sig.get("issuer"), "signed_at": sig.get("time"),
        "alg": sig.get("alg"),
        "actions": [a.get("action") for a in actions],
        "digital_source_type": next((a.get("digitalSourceType") for a in actions if a.get("digitalSourceType")), None),
        "model": gen.get("model"), "steps": gen.get("steps"), "seed": gen.get("seed"),
        "decision_id": dec.get("decision_id"), "audit_log_origin": dec.get("audit_log_origin"),
        "soft_binding": {"alg": soft.get("alg"), "value": blocks[0].get("value")} if soft else None,
    }


def load_image(data: bytes) -> tuple[Image.Image, str]:
    if not data:
        raise InvalidImageError("the file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImageError(f"the file is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise InvalidImageError(f"the image has {image.width}x{image.height} pixels, more than {MAX_PIXELS}")
        mime = _FORMATS.get(image.format or "")
        image.load()
    except InvalidImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(f"not a readable image: {exc}") from exc
    if mime is None:
        raise InvalidImageError(f"unsupported image format {image.format}")
    return image, mime


class Verifier:
    def __init__(self, keys: KeyStore, detectors: list[Watermarker], manifests: ManifestRepository | None):
        self.keys = keys
        self.detectors = detectors
        self.manifests = manifests

    def verify_bytes(self, data: bytes, now: dt.datetime | None = None) -> Verdict:
        # 1. Decode.
        image, mime = load_image(data)
        ctx = trust_context(self.keys)
        checks: list[CheckResult] = []

        # 2. Embedded manifest.
        manifest_summary, state, failures = None, None, []
        try:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx)
        except c2pa.C2paError as exc:
            reader = None
            failures = [f"manifest.unreadable: {exc}"]
            checks.append(CheckResult("c2pa", False, f"a C2PA manifest is present but unreadable: {exc}",
                                      {"error": str(exc)}))
        if reader is not None:
            results = reader.get_validation_results()
            state = reader.get_validation_state()
            failures = list(dict.fromkeys(_codes(results, "failure")))
            ingredient_failures = _ingredient_failures(reader)
            manifest_summary = _summarise_manifest(reader)
            if ingredient_failures:
                checks.append(CheckResult("ingredients", False,
                                          "an ingredient's own provenance fails: " + ", ".join(ingredient_failures),
                                          {"failure_codes": ingredient_failures}))
            checks.append(CheckResult("c2pa", state in ("Trusted", "Valid") and not failures,
                                      f"C2PA manifest {state}" + (f": {', '.join(failures)}" if failures else ""),
                                      {"state": state, "failure_codes": failures,
                                       "ingredient_failure_codes": ingredient_failures,
                                       "success_codes": _codes(results, "success"),
                                       "informational_codes": _codes(results, "informational"),
                                       "manifest": manifest_summary}))
        elif not failures:
            checks.append(CheckResult("c2pa", None, "no C2PA manifest embedded"))

        # 3. Watermark.
        detection = self._detect(image)
        checks.append(CheckResult(
            "watermark", detection.found,
            f"watermark {detection.asset_id} found ({detection.alg})" if detection.found else "no watermark found",
            {"alg": detection.alg, "asset_id": detection.asset_id, "tag_bits_matching": detection.tag_bits_matching,
             "p_value": detection.p_value, "false_positive_rate": detection.false_positive_rate,
             "reason": detection.reason}))

        # 4. Recovery by watermark id.
        recovered_summary = None
        if reader is None and detection.found and self.manifests is not None:
            stored = self.manifests.get(detection.asset_id)
            if stored is None:
                checks.append(CheckResult("recovery", False, f"no manifest stored for watermark id {detection.asset_id}"))
            else:
                recovered_summary, check = self._validate_recovered(stored, data, mime, ctx)
                checks.append(check)

        # 5. Soft binding agrees with the pixels.
        binding = (manifest_summary or recovered_summary or {}).get("soft_binding")
        if binding and detection.found:
            same = binding.get("value") == detection.asset_id
            checks.append(CheckResult("soft-binding", same,
                                      "manifest soft binding matches the watermark" if same
                                      else "manifest soft binding names another watermark id",
                                      {"manifest": binding.get("value"), "watermark": detection.asset_id}))

        # 6. Status.
        status, summary = self._status(reader is not None, state, failures, detection, recovered_summary, checks)
        return Verdict(status, summary, tuple(checks),
                       asset_id=detection.asset_id or ((manifest_summary or {}).get("soft_binding") or {}).get("value"),
                       manifest=manifest_summary or recovered_summary, recovered=recovered_summary is not None)

    def _detect(self, image: Image.Image) -> Detection:
        best = None
        for detector in self.detectors:
            found = detector.detect(image)
            if found.found:
                return found
            best = best or found
        return best or Detection(False, "none", reason="no watermark engines configured")

    def _validate_recovered(self, stored, data, mime, ctx):
        try:
            reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(stored.manifest), None, ctx)
        except c2pa.C2paError as exc:
            return None, CheckResult("recovery", False, f"stored manifest does not read: {exc}")
        if reader is None:
            return None, CheckResult("recovery", False, "stored manifest is empty")
        results = reader.get_validation_results()
        failures = _codes(results, "failure")
        success = _codes(results, "success")
        # The recovered manifest was signed over the original bytes: its hard binding cannot match
        # a re-encoded copy. Everything else (signature, trust, assertion hashes) must hold.
        other = [c for c in failures if c not in HARD_BINDING_CODES]
        trusted = "signingCredential.trusted" in success
        summary = _summarise_manifest(reader)
        ok = not other
        return summary, CheckResult(
            "recovery", ok,
            ("manifest recovered via watermark: signature valid" + (" and trusted" if trusted else ", signer untrusted"))
            if ok else f"recovered manifest fails validation: {', '.join(other)}",
            {"asset_id": stored.asset_id, "manifest_label": stored.manifest_label, "trusted": trusted,
             "failure_codes": failures, "manifest": summary, "stored_at": stored.created_at})

    @staticmethod
    def _status(embedded, state, failures, detection, recovered, checks) -> tuple[Status, str]:
        if any(c.name == "soft-binding" and c.ok is False for c in checks):
            return Status.TAMPERED, "the watermark in the pixels does not belong to this manifest"
        ingredients = next((c for c in checks if c.name == "ingredients"), None)
        if embedded:
            if set(failures) & TAMPER_CODES:
                return Status.TAMPERED, "the image or its manifest changed after signing: " + ", ".join(failures)
            if ingredients is not None:
                codes = {c.split(" (ingredient")[0] for c in ingredients.evidence["failure_codes"]}
                return (Status.TAMPERED if codes & TAMPER_CODES else Status.INVALID), ingredients.summary
            if state == "Trusted" and not failures:
                return Status.TRUSTED, "C2PA manifest valid and signed by a trusted signer"
            if state == "Valid" and not [f for f in failures if f != "signingCredential.untrusted"]:
                return Status.VALID_UNTRUSTED, "C2PA manifest valid, but the signer is not on the trust list"
            return Status.INVALID, "C2PA manifest invalid: " + ", ".join(failures or [str(state)])
        if failures:
            return Status.INVALID, "C2PA manifest present but unreadable"
        rec = next((c for c in checks if c.name == "recovery"), None)
        if recovered is not None and rec is not None and rec.ok:
            return Status.RECOVERED, f"manifest recovered via watermark id {detection.asset_id}"
        if detection.found:
            return Status.WATERMARK_ONLY, f"watermark {detection.asset_id} found, but no valid manifest for it"
        return Status.NO_PROVENANCE, "no C2PA manifest and no watermark found"
