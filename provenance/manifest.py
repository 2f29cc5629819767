"""The C2PA manifest definition of a released image: what made it, under which decision.

No prompt, requester, name or face data goes in: only the generator, the model's identity, the
watermark soft binding (the asset id) and the decision id that leads to the audit record.

What a conformance reviewer checks (C2PA conformance program v0.2, DESIGN.md §9): the claim
generator states its spec version; ``c2pa.actions.v2`` says all actions are listed; the
watermark is declared ``c2pa.watermarked.bound`` next to its soft binding; every assertion the
studio makes is a *created* assertion (the signer vouches for it); references are ingredients
named by their hash, never their pixels. Soft-binding values are all base64.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR_NAME = "pocketstudio"
GENERATOR_VERSION = "0.1.0"
GENERATION_LABEL = "io.pocketstudio.generation"
DECISION_LABEL = "io.pocketstudio.decision"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
ACTIONS_LABEL = "c2pa.actions.v2"
TRAINING_MINING_LABEL = "cawg.training-mining"
# The spec version c2pa-rs 0.91 validates under (its validation results' specVersion, SemVer):
# tests/test_conformance_c2pa.py keeps the two equal, so the claim stays honest across upgrades.
SPEC_VERSION = "2.4.0"
WATERMARKED_BOUND = "c2pa.watermarked.bound"  # spec 2.3+: a watermark that creates a soft binding
TRAINING_MINING_ENTRIES = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining", "cawg.ai_inference")
INGREDIENT_SHA256 = "io.pocketstudio.sha256"  # an ingredient's metadata key: the reference's hash
# California's latent disclosure (SB 942 as amended by AB 853) in one assertion: provider, system
# name and version, creation time, unique id, AI-generated; and the visible label, when drawn.
DISCLOSURE_LABEL = "io.pocketstudio.disclosure"


@dataclass(frozen=True)
class ManifestFacts:
    """Everything the manifest states, gathered by the release flow."""

    title: str
    mime_type: str
    asset_id: str
    watermark_alg: str
    model_name: str
    model_sha256: str
    steps: int
    guidance: float
    seed: int
    width: int
    height: int
    decision_id: str
    policy_set_hash: str
    audit_origin: str
    consent_grant_ids: tuple[str, ...] = ()
    # Second soft binding: the perceptual fingerprint of the released pixels (provenance/fingerprint.py).
    fingerprint_alg: str | None = None
    fingerprint: str | None = None
    # When the image was made (ISO 8601, UTC): the c2pa.created action's ``when``.
    created: str | None = None
    # (role, name, sha256) of what model_sha256 combines: the checkpoint, then any LoRA files.
    # Empty for a single checkpoint, whose sha256 is model_sha256 itself.
    model_components: tuple[tuple[str, str, str], ...] = ()
    # The few-step family the model was recognised as (lcm, sd-turbo, tcd-lora, flux2-klein, …) and
    # the sampler it ran with (e.g. "EulerDiscreteScheduler(timestep_spacing=trailing)").
    model_family: str | None = None
    sampler: str | None = None
    # The generator's own output size, and the super-resolution net (name, sha256 of its
    # weights) that brought it to width×height, when one did.
    native_size: tuple[int, int] | None = None
    upscaler: tuple[str, str] | None = None
    # The provider named in the disclosures (settings provider_name / provider_code; None: not
    # configured, which the verifier reports as a missing requirement) and the visible label
    # drawn into the pixels (text, lang, text height in pixels), if any.
    provider_name: str | None = None
    provider_code: str | None = None
    visible_label: tuple[str, str, int] | None = None
    # sha256 of the released file's decoded pixels (compliance.pixels_sha256): lets a verifier tell
    # a metadata-only edit (pixels unchanged) from a pixel edit when the hard binding fails.
    pixels_sha256: str | None = None
    # The ISCC image code (io.iscc.v0) of the released pixels, as its soft-binding value (base64).
    iscc_alg: str | None = None
    iscc: str | None = None
    # CAWG training and data mining: notAllowed, allowed or constrained (setting ai_training_policy).
    ai_training_policy: str = "notAllowed"
    # (title, sha256) of each reference the image was made from (image-to-image, a subject's
    # photos): ingredients with relationship inputTo, no pixels and no thumbnail.
    references: tuple[tuple[str, str], ...] = ()


def binding_value(value: str) -> str:
    """A soft-binding value in the one encoding every binding uses: base64. The watermark's asset id
    (16 hex digits) becomes the base64 of its 8 bytes; a value already in base64 stays."""
    if len(value) == 16 and all(c in "0123456789abcdef" for c in value.lower()):
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


def _soft_binding(alg: str, value: str) -> dict:
    # pad: the spec's filler for in-place updates; c2pa's JSON builder cannot write a byte string, so
    # it is the empty text (what c2pa-rs and the independent validator read back without complaint).
    return {"label": SOFT_BINDING_LABEL, "created": True,
            "data": {"alg": alg, "blocks": [{"scope": {}, "value": binding_value(value)}], "pad": ""}}


def _training_mining(policy: str) -> dict:
    entry = {"use": policy}
    if policy == "constrained":
        entry["constraint_info"] = "ask the provider named in this manifest's claim generator"
    return {"label": TRAINING_MINING_LABEL, "created": True,
            "data": {"entries": {name: dict(entry) for name in TRAINING_MINING_ENTRIES}}}


def _ingredient(title: str, sha256: str) -> dict:
    # The hash is of the decoded pixels ("WxH\n" then RGB bytes, core/generator/subject.py), not of
    # a file: the format says no file format is claimed.
    return {"title": title, "format": "application/octet-stream", "relationship": "inputTo",
            "instance_id": f"sha256:{sha256}", "description": "a reference the image was made from (sha256 of "
            "its RGB pixels); its pixels are not included", "metadata": {INGREDIENT_SHA256: sha256}}


def _model(facts: ManifestFacts) -> dict:
    model = {"name": facts.model_name, "sha256": facts.model_sha256}
    if facts.model_components:
        model["components"] = [{"role": r, "name": n, "sha256": h} for r, n, h in facts.model_components]
    if facts.model_family is not None:
        model["family"] = facts.model_family
    return model


def _generation(facts: ManifestFacts) -> dict:
    data = {"model": _model(facts), "steps": facts.steps, "guidance": facts.guidance, "seed": facts.seed,
            "width": facts.width, "height": facts.height}
    if facts.sampler is not None:
        data["sampler"] = facts.sampler
    if facts.native_size is not None:
        # an object, not a list: c2pa stores a list of small integers as a CBOR byte string
        data["native_size"] = {"width": facts.native_size[0], "height": facts.native_size[1]}
    if facts.upscaler is not None:
        data["upscaler"] = {"name": facts.upscaler[0], "sha256": facts.upscaler[1]}
    return data


def _disclosure(facts: ManifestFacts) -> dict:
    data: dict = {"system": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION}, "model": facts.model_name,
                  "unique_id": facts.asset_id, "ai_generated": True, "digital_source_type": TRAINED_ALGORITHMIC_MEDIA}
    if facts.created:
        data["created"] = facts.created
    if facts.pixels_sha256:
        data["pixels_sha256"] = facts.pixels_sha256
    if facts.provider_name:
        data["provider"] = facts.provider_name
    if facts.provider_code:
        data["provider_code"] = facts.provider_code
    if facts.visible_label is not None:
        text, lang, height = facts.visible_label
        data["visible_label"] = {"text": text, "lang": lang, "text_height_px": height,
                                 "shortest_side_px": min(facts.width, facts.height)}
    return data


def build_manifest(facts: ManifestFacts) -> dict:
    agent = {"name": GENERATOR_NAME, "version": GENERATOR_VERSION}
    actions = [{
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "description": f"Generated by {facts.model_name} ({facts.steps}-step "
                       f"{facts.model_family or 'latent consistency'} model)",
        **({"when": facts.created} if facts.created else {}),
    }, {
        "action": WATERMARKED_BOUND,
        "softwareAgent": agent,
        "description": f"invisible watermark {facts.watermark_alg} carrying the asset id of the "
                       "c2pa.soft-binding assertion",
        **({"when": facts.created} if facts.created else {}),
    }]
    assertions = [
        {"label": ACTIONS_LABEL, "created": True, "data": {"allActionsIncluded": True, "actions": actions}},
        _soft_binding(facts.watermark_alg, facts.asset_id),
    ]
    if facts.fingerprint is not None:
        assertions.append(_soft_binding(facts.fingerprint_alg, facts.fingerprint))
    if facts.iscc is not None:
        assertions.append(_soft_binding(facts.iscc_alg, facts.iscc))
    assertions += [
        {"label": GENERATION_LABEL, "created": True, "data": _generation(facts)},
        {"label": DECISION_LABEL, "created": True,
         "data": {"decision_id": facts.decision_id, "policy_set_hash": facts.policy_set_hash,
                  "audit_log_origin": facts.audit_origin, "consent_grant_ids": list(facts.consent_grant_ids)}},
        {"label": DISCLOSURE_LABEL, "created": True, "data": _disclosure(facts)},
        _training_mining(facts.ai_training_policy),
    ]
    manifest = {
        "claim_generator_info": [{**agent, "specVersion": SPEC_VERSION}],
        "title": facts.title,
        "format": facts.mime_type,
        "assertions": assertions,
    }
    if facts.references:
        manifest["ingredients"] = [_ingredient(title, sha) for title, sha in facts.references]
    return manifest


def soft_bindings(manifest: dict) -> list[dict]:
    """Every soft-binding assertion's data, in order (c2pa numbers repeats ``c2pa.soft-binding__1``)."""
    out = []
    for item in manifest.get("assertions", []):
        label = item.get("label", "")
        if label == SOFT_BINDING_LABEL or label.startswith(SOFT_BINDING_LABEL + "__"):
            out.append(item.get("data") or {})
    return out


def assertion(manifest: dict, label: str) -> dict | None:
    """The data of the first assertion with ``label`` in a reader's manifest dict."""
    for item in manifest.get("assertions", []):
        if item.get("label") == label or (label == "c2pa.actions" and item.get("label") == "c2pa.actions.v2"):
            return item.get("data")
    return None
