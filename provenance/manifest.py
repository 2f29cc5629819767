"""The C2PA manifest definition of a released image: what made it, under which decision.

No prompt, requester, name or face data goes in: only the generator, the model's identity, the
watermark soft binding (the asset id) and the decision id that leads to the audit record.
"""

from __future__ import annotations

from dataclasses import dataclass


TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR_NAME = "pocketstudio"
GENERATOR_VERSION = "0.1.0"
GENERATION_LABEL = "io.pocketstudio.generation"
DECISION_LABEL = "io.pocketstudio.decision"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
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
    manifest = {
        "claim_generator_info": [agent],
        "title": facts.title,
        "format": facts.mime_type,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": agent,
                    "description": f"Generated by {facts.model_name} ({facts.steps}-step "
                                   f"{facts.model_family or 'latent consistency'} model)",
                    **({"when": facts.created} if facts.created else {}),
                }]},
            },
            {
                "label": SOFT_BINDING_LABEL,
                "data": {"alg": facts.watermark_alg, "blocks": [{"scope": {}, "value": facts.asset_id}]},
            },
            {
                "label": GENERATION_LABEL,
                "data": _generation(facts),
            },
            {
                "label": DECISION_LABEL,
                "data": {"decision_id": facts.decision_id, "policy_set_hash": facts.policy_set_hash,
                         "audit_log_origin": facts.audit_origin,
                         "consent_grant_ids": list(facts.consent_grant_ids)},
            },
        ],
    }
    if facts.fingerprint is not None:
        manifest["assertions"].insert(2, {
            "label": SOFT_BINDING_LABEL,
            "data": {"alg": facts.fingerprint_alg, "blocks": [{"scope": {}, "value": facts.fingerprint}]},
        })
    manifest["assertions"].append({"label": DISCLOSURE_LABEL, "created": True, "data": _disclosure(facts)})
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
