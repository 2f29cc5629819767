"""The few-step model families a checkpoint folder can be, and how one is recognised.

A family fixes what the folder's configs cannot be trusted to say: the sampler it was distilled
for (a TCD LoRA under LCM's sampler runs, and draws badly), its step and guidance defaults and
ranges, and what it does with a reference image. Recognition reads only small JSON files and the
LoRA's safetensors header, before any weight is loaded.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import ModelLoadError

MODEL_INFO_FILE = "pocketstudio.json"
# The key a LoRA file's safetensors metadata may carry to name its family (lcm, tcd, hyper-sd).
LORA_FAMILY_METADATA_KEY = "pocketstudio.lora_family"
# For a renamed Hyper-SD file: which of its LoRAs it is, as Hyper-SD names them ("1step", "8steps-CFG").
HYPER_SD_METADATA_KEY = "pocketstudio.hyper_sd"
_HYPER_SD_NAME = re.compile(r"(\d+)-?steps?(-cfg)?", re.IGNORECASE)


@dataclass(frozen=True)
class Family:
    """One few-step family: its sampler and the numbers it runs with."""

    id: str
    label: str
    architectures: tuple[str, ...]  # "sd" (SD 1.x/2.x layout), "sdxl", "sana", "flux2"
    sampler: str  # the diffusers scheduler class it samples with
    steps: int  # default step count
    max_steps: int
    guidance: float  # default guidance scale
    guidance_range: tuple[float, float]
    # Overrides applied to the folder's scheduler config (Turbo and Hyper-SD need trailing timesteps).
    sampler_config: dict[str, Any] = field(default_factory=dict)
    # Extra pipeline arguments (TCD's gamma is diffusers' ``eta``).
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    lora: bool = False  # a base model plus a LoRA file
    # "img2img": the reference is noised to ``strength`` and denoised; "conditioning": the
    # reference is an input the model attends to (FLUX.2 editing), ``strength`` has no meaning.
    references: str = "img2img"
    # The resolution the family was trained at when it is below what the UNet config implies.
    native_cap: int | None = None
    accelerator_dtype: str = "fp16"

    @property
    def sampler_name(self) -> str:
        """The sampler as the manifest names it, with the settings that define it."""
        extra = [f"{k}={v}" for k, v in sorted(self.sampler_config.items())]
        extra += [f"{k}={v}" for k, v in sorted(self.call_kwargs.items())]
        return f"{self.sampler}({', '.join(extra)})" if extra else self.sampler


LCM = Family("lcm", "LCM", ("sd", "sdxl"), "LCMScheduler", 4, 8, 8.5, (1.0, 20.0))
LCM_LORA = Family("lcm-lora", "LCM-LoRA", ("sd", "sdxl"), "LCMScheduler", 4, 8, 1.0, (1.0, 20.0), lora=True)
_TRAILING = {"timestep_spacing": "trailing"}
SD_TURBO = Family("sd-turbo", "SD-Turbo", ("sd",), "EulerDiscreteScheduler", 1, 4, 0.0, (0.0, 1.0), _TRAILING)
SDXL_TURBO = Family("sdxl-turbo", "SDXL-Turbo", ("sdxl",), "EulerDiscreteScheduler", 1, 4, 0.0, (0.0, 1.0), _TRAILING,
                    native_cap=512)
TCD_LORA = Family("tcd-lora", "TCD-LoRA", ("sd", "sdxl"), "TCDScheduler", 4, 8, 0.0, (0.0, 20.0),
                  call_kwargs={"eta": 0.3}, lora=True)
# Hyper-SD's card (ByteDance/Hyper-SD): its 2/4/8-step LoRAs sample with DDIM on trailing timesteps,
# guidance 0; the 1-step "unified" LoRA with TCD at eta 1.0 (it also runs more steps under TCD); the
# CFG-preserved 8/12-step LoRAs with DDIM trailing at guidance 5 to 8. The file name (or metadata)
# tells which one a file is.
HYPER_SD_LORA = Family("hyper-sd-lora", "Hyper-SD LoRA", ("sd", "sdxl"), "DDIMScheduler", 4, 8, 0.0, (0.0, 20.0),
                       _TRAILING, lora=True)
HYPER_SD_1STEP_LORA = Family("hyper-sd-1step-lora", "Hyper-SD 1-step LoRA", ("sd", "sdxl"), "TCDScheduler", 1, 8,
                             0.0, (0.0, 20.0), call_kwargs={"eta": 1.0}, lora=True)
HYPER_SD_CFG_LORA = Family("hyper-sd-cfg-lora", "Hyper-SD CFG LoRA", ("sd", "sdxl"), "DDIMScheduler", 12, 12, 5.0,
                           (5.0, 8.0), _TRAILING, lora=True)
SANA_SPRINT = Family("sana-sprint", "SANA-Sprint", ("sana",), "SCMScheduler", 2, 4, 4.5, (1.0, 20.0),
                     accelerator_dtype="bf16")
# A step-distilled FLUX.2 [klein] ignores guidance; 1.0 is what it runs with.
FLUX2_KLEIN = Family("flux2-klein", "FLUX.2 [klein]", ("flux2",), "FlowMatchEulerDiscreteScheduler", 4, 8, 1.0,
                     (0.0, 1.0), references="conditioning", accelerator_dtype="bf16")

FAMILIES = {f.id: f for f in (LCM, LCM_LORA, SD_TURBO, SDXL_TURBO, TCD_LORA, HYPER_SD_LORA, HYPER_SD_1STEP_LORA,
                               HYPER_SD_CFG_LORA, SANA_SPRINT, FLUX2_KLEIN)}
# The most steps any family takes (Hyper-SD's 12-step CFG LoRAs): the bound checked when the family
# is not known yet.
MAX_FAMILY_STEPS = max(f.max_steps for f in FAMILIES.values())
LORA_FAMILIES = {"lcm": LCM_LORA, "tcd": TCD_LORA, "hyper-sd": HYPER_SD_LORA}

# model_index.json ``_class_name`` -> architecture.
ARCHITECTURES = {
    "LatentConsistencyModelPipeline": "sd",
    "LatentConsistencyModelImg2ImgPipeline": "sd",
    "StableDiffusionPipeline": "sd",
    "StableDiffusionImg2ImgPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "SanaSprintPipeline": "sana",
    "SanaSprintImg2ImgPipeline": "sana",
    "Flux2KleinPipeline": "flux2",
}
ARCHITECTURE_COMPONENTS = {
    "sd": ("unet", "vae", "text_encoder", "tokenizer", "scheduler"),
    "sdxl": ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"),
    "sana": ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
    "flux2": ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
}
WEIGHTED_COMPONENTS = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2")

UNDERSTOOD = (
    "LCM (SD 1.5 / SDXL layout: LCMScheduler and a UNet with time_cond_proj_dim)",
    "SD-Turbo / SDXL-Turbo (EulerDiscreteScheduler with timestep_spacing 'trailing')",
    "an SD 1.5 / SDXL base with --lora FILE --lora-family lcm|tcd|hyper-sd",
    "SANA-Sprint (SanaSprintPipeline, SCMScheduler)",
    "FLUX.2 [klein], step-distilled (Flux2KleinPipeline, is_distilled true)",
    f"any of these with {MODEL_INFO_FILE} naming its family: {', '.join(sorted(FAMILIES))}",
)


def understood() -> str:
    return "Pocket Studio understands: " + "; ".join(UNDERSTOOD)


@dataclass(frozen=True)
class ModelKind:
    """What a checkpoint folder is, read from its configs before any weight is loaded."""

    architecture: str  # "sd", "sdxl", "sana", "flux2"
    pipeline_class: str  # model_index.json's _class_name
    family: Family
    scheduler_class: str  # the folder's own scheduler

    @property
    def distilled(self) -> bool:
        """The folder runs as is (no LoRA makes it few-step)."""
        return not self.family.lora


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


def safetensors_header(path: Path, what: str = "the safetensors file") -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes; ``__metadata__``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError("shorter than its header length")
            (length,) = struct.unpack("<Q", raw)
            if length > 100 * 2**20:
                raise ValueError(f"header of {length} bytes")
            body = f.read(length)
            if len(body) != length:
                raise ValueError("truncated header")
        header = json.loads(body)
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        return header
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {what} {path}: {exc}") from exc


def lora_family(lora: Path, named: str | None) -> Family:
    """The LoRA's family: ``named`` (--lora-family), else its metadata; both, they must agree."""
    if named is not None and named not in LORA_FAMILIES:
        raise ModelLoadError(f"unknown LoRA family {named!r}; use one of {', '.join(LORA_FAMILIES)}")
    meta = safetensors_header(lora, "the LoRA file").get("__metadata__") or {}
    marked = meta.get(LORA_FAMILY_METADATA_KEY) if isinstance(meta, dict) else None
    if marked is not None and marked not in LORA_FAMILIES:
        raise ModelLoadError(f"{lora.name} names an unknown LoRA family {marked!r} in its metadata "
                             f"({LORA_FAMILY_METADATA_KEY}); use one of {', '.join(LORA_FAMILIES)}")
    if named is not None and marked is not None and named != marked:
        raise ModelLoadError(f"--lora-family {named} contradicts {lora.name}'s metadata, which names {marked!r}")
    chosen = named or marked
    if chosen is None:
        raise ModelLoadError(f"{lora.name} does not say which few-step family it is (LCM, TCD and Hyper-SD LoRAs look "
                             f"alike, and each needs its own sampler): add --lora-family {'|'.join(LORA_FAMILIES)}")
    if chosen == "hyper-sd":
        return _hyper_sd_variant(lora, meta if isinstance(meta, dict) else {})[0]
    return LORA_FAMILIES[chosen]


def _hyper_sd_variant(lora: Path, meta: dict) -> tuple[Family, int | None]:
    """Which Hyper-SD LoRA ``lora`` is, and the step count it was distilled for: from its metadata
    (HYPER_SD_METADATA_KEY) or else its published file name (Hyper-SDXL-1step-lora,
    Hyper-SD15-12steps-CFG-lora). 1 step samples with TCD, a CFG one takes guidance; a name
    without a count is the 2/4/8-step kind at its default."""
    text = meta.get(HYPER_SD_METADATA_KEY)
    match = _HYPER_SD_NAME.search(str(text)) if text is not None else None
    if text is not None and match is None:
        raise ModelLoadError(f"{lora.name}'s metadata {HYPER_SD_METADATA_KEY}={text!r} does not name a Hyper-SD LoRA "
                             "(e.g. '1step', '4steps', '12steps-CFG')")
    match = match or _HYPER_SD_NAME.search(lora.name)
    if match is None:
        return HYPER_SD_LORA, None
    steps, cfg = int(match.group(1)), match.group(2) is not None
    family = HYPER_SD_CFG_LORA if cfg else HYPER_SD_1STEP_LORA if steps == 1 else HYPER_SD_LORA
    if not 1 <= steps <= family.max_steps:
        raise ModelLoadError(f"{lora.name} is a {steps}-step Hyper-SD LoRA; Pocket Studio runs {family.label}s of "
                             f"1 to {family.max_steps} steps")
    return family, steps


def lora_default_steps(lora: Path, family: Family) -> int:
    """Hyper-SD publishes one LoRA per step count and names it so (Hyper-SDXL-8steps-lora): that
    count is the default; otherwise the family's."""
    if family in (HYPER_SD_LORA, HYPER_SD_1STEP_LORA, HYPER_SD_CFG_LORA):
        meta = safetensors_header(lora, "the LoRA file").get("__metadata__") or {}
        steps = _hyper_sd_variant(lora, meta if isinstance(meta, dict) else {})[1]
        if steps is not None:
            return steps
    return family.steps


def recognise(model_dir: Path, lora: Path | None = None, named_lora_family: str | None = None) -> ModelKind:
    """Check the folder's layout and tell its family; a clear ModelLoadError before diffusers is asked."""
    if not model_dir.is_dir():
        raise ModelLoadError(f"model folder not found: {model_dir}")
    index_path = model_dir / "model_index.json"
    if not index_path.is_file():
        raise ModelLoadError(f"{model_dir} is not a diffusers model folder (no model_index.json). {understood()}")
    index = read_json(index_path)
    pipeline_class = str(index.get("_class_name"))
    arch = ARCHITECTURES.get(pipeline_class)
    if arch is None:
        raise ModelLoadError(f"{model_dir} holds a {pipeline_class!r} pipeline, which is not a few-step family "
                             f"Pocket Studio knows. {understood()}")
    for name in ARCHITECTURE_COMPONENTS[arch]:
        if not isinstance(index.get(name), list) or index[name][0] is None or not (model_dir / name).is_dir():
            raise ModelLoadError(f"{model_dir} lacks the '{name}' component")
    for name in WEIGHTED_COMPONENTS:
        if name in ARCHITECTURE_COMPONENTS[arch] and not any(
                p.suffix in (".safetensors", ".bin") for p in (model_dir / name).iterdir()):
            raise ModelLoadError(f"{model_dir / name} holds no weights (*.safetensors / *.bin)")
    sched_path = model_dir / "scheduler" / "scheduler_config.json"
    if not sched_path.is_file():
        raise ModelLoadError(f"{model_dir} lacks scheduler/scheduler_config.json")
    sched = read_json(sched_path)
    sched_class = str(sched.get("_class_name"))
    info_path = model_dir / MODEL_INFO_FILE
    declared = read_json(info_path).get("family") if info_path.is_file() else None
    if lora is None and named_lora_family is not None:
        raise ModelLoadError("--lora-family names the family of a --lora file; no --lora was given")

    if lora is not None:
        if arch not in ("sd", "sdxl"):
            raise ModelLoadError(f"LoRA files are supported on SD 1.5 / SDXL bases, not on a {pipeline_class}")
        family = lora_family(lora, named_lora_family)
    elif declared is not None:
        family = FAMILIES.get(str(declared))
        if family is None or family.lora or arch not in family.architectures:
            raise ModelLoadError(f"{info_path} names the family {declared!r}, which a {pipeline_class} folder without "
                                 f"a LoRA cannot be. {understood()}")
    elif arch == "sana":
        if sched_class != "SCMScheduler":
            raise ModelLoadError(f"{model_dir}: a SanaSprintPipeline samples with SCMScheduler, not {sched_class!r}")
        family = SANA_SPRINT
    elif arch == "flux2":
        if index.get("is_distilled") is not True:
            raise ModelLoadError(f"{model_dir} is a FLUX.2 [klein] base (is_distilled is not true), which needs about 50 "
                                 "steps with classifier-free guidance; Pocket Studio runs the step-distilled FLUX.2 "
                                 "[klein] (e.g. FLUX.2-klein-4B)")
        family = FLUX2_KLEIN
    else:
        unet_path = model_dir / "unet" / "config.json"
        if not unet_path.is_file():
            raise ModelLoadError(f"{model_dir} lacks unet/config.json")
        guidance_embedded = bool(read_json(unet_path).get("time_cond_proj_dim"))
        if sched_class == "LCMScheduler" and guidance_embedded:
            family = LCM
        elif sched_class == "EulerDiscreteScheduler" and sched.get("timestep_spacing") == "trailing" \
                and not guidance_embedded:
            family = SD_TURBO if arch == "sd" else SDXL_TURBO
        elif sched_class == "LCMScheduler":
            raise ModelLoadError(
                f"{model_dir}: the UNet has no guidance embedding (time_cond_proj_dim), so it is not LCM-distilled "
                "(a base model needs a few-step LoRA: --lora FILE.safetensors --lora-family lcm|tcd|hyper-sd)")
        else:
            raise ModelLoadError(
                f"{model_dir} is not a few-step model: its scheduler is {sched_class!r} "
                f"(timestep_spacing {sched.get('timestep_spacing')!r}); a base model needs a few-step LoRA: "
                f"--lora FILE.safetensors --lora-family lcm|tcd|hyper-sd. {understood()}")
    return ModelKind(architecture=arch, pipeline_class=pipeline_class, family=family, scheduler_class=sched_class)
