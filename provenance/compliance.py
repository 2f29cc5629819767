"""Which marking rules an image meets: EU AI Act Art. 50(2), California SB 942 (AB 853), China GB 45438.

Each regime is a list of requirements, each met or not with the evidence that decided it, and a
status: ``met`` (all), ``missing`` (none) or ``partial``. The same assessment serves our images and
anyone's: it reads only what the file and its (embedded or recovered) manifest carry, so an image
with only a TC260 block, only IPTC XMP or only C2PA is reported as exactly that. DESIGN.md §9 has
the sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .xmp import AI_SOURCE_TYPES, XmpFacts

EU, CA, CN = "eu_ai_act_art50", "ca_sb942", "cn_gb45438"
# What each profile needs from the settings at generate time.
PROFILE_REGIMES = {"eu": (EU,), "us-ca": (CA,), "cn": (CN,), "all": (EU, CA, CN)}
MIN_LABEL_HEIGHT = 0.05  # GB 45438: explicit label text at least 5 % of the shortest side


def missing_settings(profile: str, provider_name: str | None, provider_code: str | None) -> list[str]:
    """What the profile needs that the settings lack, as sentences that say how to fix it."""
    regimes = PROFILE_REGIMES.get(profile, PROFILE_REGIMES["all"])
    gaps = []
    if not provider_name:
        gaps.append("provider_name is not set, so the EU and California disclosures name no provider "
                    "(pocketstudio init --provider-name NAME, or config set provider_name NAME)")
    if CN in regimes and not provider_code:
        gaps.append("provider_code is not set, so China's TC260 label has no ContentProducer "
                    "(pocketstudio init --provider-code CODE, or config set provider_code CODE)")
    return gaps


def pixels_sha256(image: Image.Image) -> str:
    """sha256 of the pixels as decoded (RGB, with the size): equal for two files whose metadata
    differs and whose pixels do not."""
    rgb = image.convert("RGB")
    return hashlib.sha256(f"{rgb.width}x{rgb.height}:RGB:".encode() + rgb.tobytes()).hexdigest()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Disclosure:
    """The manifest's ``io.pocketstudio.disclosure`` assertion, read with every field type-checked."""

    provider: str | None = None
    provider_code: str | None = None
    system_name: str | None = None
    system_version: str | None = None
    created: str | None = None
    unique_id: str | None = None
    ai_generated: bool | None = None
    label_text: str | None = None
    label_lang: str | None = None
    label_height: int | None = None
    label_shortest_side: int | None = None
    pixels_sha256: str | None = None

    @classmethod
    def read(cls, data: Any) -> "Disclosure | None":
        if not isinstance(data, dict):
            return None
        system = data.get("system") if isinstance(data.get("system"), dict) else {}
        label = data.get("visible_label") if isinstance(data.get("visible_label"), dict) else {}

        def number(value: Any) -> int | None:
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(_text(data.get("provider")), _text(data.get("provider_code")), _text(system.get("name")),
                   _text(system.get("version")), _text(data.get("created")), _text(data.get("unique_id")),
                   data["ai_generated"] if isinstance(data.get("ai_generated"), bool) else None,
                   _text(label.get("text")), _text(label.get("lang")), number(label.get("text_height_px")),
                   number(label.get("shortest_side_px")), _text(data.get("pixels_sha256")))

    def to_json(self) -> dict:
        out = {"provider": self.provider, "provider_code": self.provider_code,
               "system": {"name": self.system_name, "version": self.system_version}, "created": self.created,
               "unique_id": self.unique_id, "ai_generated": self.ai_generated}
        if self.label_text is not None:
            out["visible_label"] = {"text": self.label_text, "lang": self.label_lang,
                                    "text_height_px": self.label_height, "shortest_side_px": self.label_shortest_side}
        return out


@dataclass(frozen=True)
class Evidence:
    """What the verifier found, as far as the rules care."""

    manifest_present: bool = False
    manifest_valid: bool = False  # signature and assertions hold (embedded, or recovered by the watermark)
    manifest_recovered: bool = False
    digital_source_type: str | None = None  # the manifest's
    created: str | None = None
    disclosure: Disclosure | None = None
    timestamped: bool = False
    watermark_found: bool = False
    watermark_id: str | None = None
    watermark_names_manifest: bool = False  # the manifest's soft binding is the id in the pixels
    xmp: XmpFacts = XmpFacts()
    reserved_code_ok: bool | None = None  # None: no key to check it with, or nothing to check


def _req(rid: str, met: bool, evidence: str) -> dict:
    return {"id": rid, "met": bool(met), "evidence": evidence}


def _regime(requirements: list[dict]) -> dict:
    met = sum(r["met"] for r in requirements)
    status = "met" if met == len(requirements) else "missing" if met == 0 else "partial"
    return {"status": status, "requirements": requirements}


def assess(e: Evidence) -> dict:
    """The ``compliance`` object of a verdict."""
    valid = e.manifest_valid
    source = "recovered manifest" if e.manifest_recovered else "embedded manifest"
    d = e.disclosure or Disclosure()
    ai_manifest = valid and (e.digital_source_type in AI_SOURCE_TYPES or d.ai_generated is True)
    ai_xmp = e.xmp.digital_source_type in AI_SOURCE_TYPES
    invalid = f"the {source} does not validate" if e.manifest_present else "no C2PA manifest"

    eu = [
        _req("eu.signed-metadata", valid, f"{source} signed and valid (C2PA)" if valid else invalid),
        _req("eu.timestamp", valid and e.timestamped,
             "the signature carries a validated RFC 3161 time-stamp" if valid and e.timestamped
             else "the signature has no validated time-stamp" if valid else invalid),
        _req("eu.watermark", e.watermark_found, f"imperceptible watermark {e.watermark_id} found" if e.watermark_found
             else "no watermark found (or this verifier holds no watermark key)"),
        _req("eu.ai-marked", ai_manifest or ai_xmp,
             "machine-readable AI marking: " + ", ".join(
                 [f"{source} digitalSourceType"] * ai_manifest + ["XMP Iptc4xmpExt:DigitalSourceType"] * ai_xmp)
             if ai_manifest or ai_xmp else "no machine-readable statement that AI made it"),
    ]

    def field(rid: str, value: Any, what: str) -> dict:
        ok = valid and value not in (None, "", False)
        return _req(rid, ok, f"{what}: {value}" if ok else f"{what} not stated" + ("" if valid else f" ({invalid})"))

    system = f"{d.system_name} {d.system_version}" if d.system_name and d.system_version else None
    ca = [
        field("ca.provider", d.provider, "provider"),
        field("ca.system", system, "system name and version"),
        field("ca.created", d.created or e.created, "time and date of creation"),
        field("ca.unique-id", d.unique_id, "unique identifier"),
        field("ca.ai-generated", ai_manifest, "AI-generated"),
        _req("ca.durable", valid and e.watermark_found and e.watermark_names_manifest,
             f"the disclosure is recoverable after stripping: watermark {e.watermark_id} names its manifest, "
             "kept in the manifest repository" if valid and e.watermark_found and e.watermark_names_manifest
             else "no watermark that leads back to the disclosure"),
    ]

    block = e.xmp.aigc
    labelled = block is not None and block.label in ("1", "2", "3")
    height_ok = (valid and d.label_height is not None and d.label_shortest_side
                 and d.label_height >= MIN_LABEL_HEIGHT * d.label_shortest_side)
    if block is None:
        code = _req("cn.reserved-code", False, "no TC260:AIGC block")
    elif e.reserved_code_ok is None:
        code = _req("cn.reserved-code", bool(block.reserved_code1),
                    "ReservedCode1 present, not checkable here (another producer's, or no key)"
                    if block.reserved_code1 else "ReservedCode1 empty")
    else:
        code = _req("cn.reserved-code", e.reserved_code_ok, "ReservedCode1 binds the label to this release"
                    if e.reserved_code_ok else "ReservedCode1 does not match this label: copied or altered")
    cn = [
        _req("cn.implicit-label", labelled, f"XMP TC260:AIGC with Label {block.label!r}" if labelled
             else (e.xmp.error or "no TC260:AIGC block in the XMP") if block is None
             else f"TC260:AIGC Label {block.label!r} is not 1, 2 or 3"),
        _req("cn.content-producer", bool(block and block.content_producer),
             f"ContentProducer {block.content_producer}" if block and block.content_producer
             else "ContentProducer empty or absent"),
        _req("cn.produce-id", bool(block and block.produce_id),
             f"ProduceID {block.produce_id}" if block and block.produce_id else "ProduceID empty or absent"),
        code,
        _req("cn.explicit-label", bool(height_ok),
             f"visible label {d.label_text!r} ({d.label_lang}), text {d.label_height} px of a "
             f"{d.label_shortest_side} px shortest side" if height_ok
             else "no visible label recorded in a valid manifest with text at least 5 % of the shortest side"),
    ]
    return {EU: _regime(eu), CA: _regime(ca), CN: _regime(cn)}
