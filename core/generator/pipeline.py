"""The few-step image generator: a thin, strict wrapper around diffusers' few-step pipelines.

``load_generator(path)`` opens a diffusers-format checkpoint folder (the embedded default model
when ``path`` is None) from local files only, recognises its family (families.py: LCM, LCM-,
TCD- and Hyper-SD LoRAs, SD/SDXL-Turbo, SANA-Sprint, FLUX.2 [klein]) and sets the family's
sampler; ``Generator.generate`` turns one prompt into one RGB image plus the metadata a
provenance manifest needs (model name and weight hash, family, sampler, seed, steps, guidance,
size, device, time).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..base.errors import GenerationError, ModelLoadError
from . import memory
from .families import MAX_FAMILY_STEPS, MODEL_INFO_FILE, Family, ModelKind, lora_default_steps, read_json, recognise
from .hashing import combined_sha256, file_sha256, model_sha256

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
# Bounds over every family (checked before a model loads); each family's own are narrower.
MIN_STEPS, MAX_STEPS = 1, MAX_FAMILY_STEPS
MIN_SIZE, MAX_SIZE = 64, 1024
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 20.0
SEED_BITS = 63
DEFAULT_STRENGTH = 0.6  # image-to-image, when a request names none
DTYPES = ("fp16", "bf16", "fp32")


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image and how it was made."""

    image: Image.Image
    model_name: str
    model_sha256: str
    steps: int
    guidance: float
    seed: int
    width: int
    height: int
    device: str
    seconds: float
    # What the model identity (model_sha256) is made of: the checkpoint and any LoRA file.
    model_components: tuple[ModelComponent, ...] = ()
    # The few-step family (families.py id) and the sampler it ran with, as the manifest names them.
    family: str | None = None
    sampler: str | None = None
    # The prompt's text tokens (subject slots counted), and how many of them the text encoder read:
    # fewer when the prompt is longer than its window (the end is cut, as CLIP does).
    prompt_tokens: int | None = None
    prompt_tokens_kept: int | None = None

    @property
    def prompt_truncated(self) -> bool:
        return self.prompt_tokens is not None and self.prompt_tokens_kept is not None \
            and self.prompt_tokens_kept < self.prompt_tokens


def _parse_sampler_timesteps(table, num_train_timesteps: int, model_dir: Path) -> dict[int, tuple[int, ...]]:
    """``pocketstudio.json``'s ``sampler_timesteps`` ({"4": [999, …]}): for a step count, the
    timesteps text-to-image visits instead of the scheduler's own (the recipe measured them)."""
    out = {}
    try:
        for steps, ts in dict(table).items():
            ts = tuple(int(t) for t in ts)
            if len(ts) != int(steps) or list(ts) != sorted(set(ts), reverse=True) or not 0 <= ts[-1] <= ts[0] < num_train_timesteps:
                raise ValueError(f"{steps}: {list(ts)}")
            out[int(steps)] = ts
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{model_dir / MODEL_INFO_FILE}: sampler_timesteps must map a step count to that many "
                             f"distinct descending timesteps below {num_train_timesteps} ({exc})") from exc
    return out


# A model folder's optional teacher UNet, for subject learning only (``Generator.subject_unet``).
SUBJECT_TEACHER_FOLDER = "subject_teacher"
LORA_SUFFIX = ".safetensors"
LORA_ADAPTER = "few_step_lora"


@dataclass(frozen=True)
class ModelComponent:
    """One file set that makes up the model identity: the checkpoint folder or a LoRA file."""

    role: str  # "checkpoint", "lora" or "subject"
    name: str
    sha256: str


def check_request(prompt, steps, seed, guidance, negative_prompt, *, default_steps: int, max_steps: int,
                  default_guidance: float, guidance_range: tuple[float, float], label: str) -> tuple[int, int, float]:
    """A request's prompt, steps, seed and guidance within a model's ranges, defaults filled in:
    (steps, seed, guidance). Shared by the diffusers generator and the exported (TorchScript) one."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise GenerationError("the prompt is empty")
    if steps is None:
        steps = default_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= max_steps:
        raise GenerationError(f"steps must be an integer from {MIN_STEPS} to {max_steps} for {label}, got {steps!r}")
    if guidance is None:
        guidance = default_guidance
    low, high = guidance_range
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not low <= guidance <= high:
        raise GenerationError(f"guidance must be a number from {low} to {high} for {label}, got {guidance!r}")
    if negative_prompt is not None:
        # Few-step models run without an unconditional pass (guidance is embedded or off), so
        # there is nothing to apply a negative prompt to; say so rather than ignore it.
        raise GenerationError("negative prompts are not supported by few-step models")
    if seed is None:
        seed = secrets.randbits(SEED_BITS)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**SEED_BITS:
        raise GenerationError(f"seed must be an integer from 0 to 2**{SEED_BITS} - 1, got {seed!r}")
    return steps, seed, float(guidance)


def _check_lora(lora: Path) -> None:
    """The LoRA must be a readable safetensors file holding only LoRA tensors."""
    if not lora.is_file():
        raise ModelLoadError(f"LoRA file not found: {lora}")
    if lora.suffix != LORA_SUFFIX:
        raise ModelLoadError(f"LoRA file must be a {LORA_SUFFIX} file, got {lora.name}")


def _read_lora(lora: Path) -> dict:
    from safetensors.torch import load_file

    try:
        state = load_file(str(lora))
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError
        raise ModelLoadError(f"cannot read the LoRA file {lora}: {type(exc).__name__}: {exc}") from exc
    if not state:
        raise ModelLoadError(f"the LoRA file {lora} holds no tensors")
    return state


def _weights_variant(model_dir: Path, kind: ModelKind) -> str | None:
    """``"fp16"`` when the denoiser ships only ``*.fp16.safetensors`` weights (common for SDXL
    downloads), so that ``from_pretrained`` is asked for that variant; else None."""
    net = "unet" if kind.architecture in ("sd", "sdxl") else "transformer"
    names = [p.name for p in (model_dir / net).iterdir() if p.suffix in (".safetensors", ".bin")]
    if names and all(".fp16." in n for n in names):
        return "fp16"
    return None


def _pipeline_classes(kind: ModelKind):
    """(text-to-image class, image-to-image class or None, extra constructor kwargs) for ``kind``."""
    import diffusers

    if kind.architecture == "sana":
        return diffusers.SanaSprintPipeline, diffusers.SanaSprintImg2ImgPipeline, {}
    if kind.architecture == "flux2":
        # References condition the one pipeline (``image=``); there is no noising image-to-image.
        return diffusers.Flux2KleinPipeline, None, {}
    if kind.architecture == "sdxl":
        # diffusers' own SDXL watermark (invisible-watermark dwtDct) would be a second, weaker mark
        # under ours: the release flow watermarks every image itself.
        return (diffusers.StableDiffusionXLPipeline, diffusers.StableDiffusionXLImg2ImgPipeline,
                {"add_watermarker": False})
    extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    if kind.pipeline_class.startswith("LatentConsistencyModel") and not kind.family.lora:
        return diffusers.LatentConsistencyModelPipeline, diffusers.LatentConsistencyModelImg2ImgPipeline, extra
    # Turbo and the LoRA families: the plain SD pipelines with the family's sampler.
    return diffusers.StableDiffusionPipeline, diffusers.StableDiffusionImg2ImgPipeline, extra


@contextlib.contextmanager
def quiet_libraries():
    """Silence diffusers' / transformers' progress bars and info logs for the duration."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    saved = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for m, _, _ in saved:
        m.set_verbosity_error()
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, verbosity, bars in saved:
            m.set_verbosity(verbosity)
            if bars:
                m.enable_progress_bar()


def _resolve_device(device: str):
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"unknown device {device!r} (use cpu, cuda or mps)") from exc
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"unsupported device {device!r} (use cpu, cuda or mps)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {device!r} requested but MPS is not available on this machine")
    return dev


def _resolve_dtype(dtype, dev, family: Family) -> str:
    """"fp16" / "bf16" / "fp32" (a torch dtype is accepted too); None: fp32 on CPU, else the
    family's accelerator dtype (bf16 for SANA-Sprint and FLUX.2, whose weights are published so)."""
    import torch

    names = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
    if dtype is None:
        return "fp32" if dev.type == "cpu" else family.accelerator_dtype
    name = names.get(dtype, dtype)
    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return name


def _torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def cpu_fast_layout(vae):
    """Channels-last weights for the VAE (or the light decoder) on CPU: oneDNN's convolutions on
    the decoder's few-channel, full-resolution layers run about 1.7× faster so (v0.2's decoder at
    256 px: 97 → 57 ms at 1 thread); pixels differ by at most one level. The UNet gains nothing at
    16×16 latents."""
    import torch

    return vae.to(memory_format=torch.channels_last)


class Generator:
    """A loaded few-step pipeline. Use :func:`load_generator` to make one."""

    def __init__(self, pipe, model_dir: Path, info: dict[str, Any], sha256: str, device: str,
                 kind: ModelKind | None = None, components: tuple[ModelComponent, ...] = (), img2img_class=None,
                 init_kwargs: dict[str, Any] | None = None, light_decoder=None, subject_teacher=None,
                 default_steps: int | None = None, dtype: str = "fp32", offload: str | None = None):
        self._pipe = pipe
        # The UNet the student was distilled from, when the folder ships it: subject learning runs
        # against it (``subject_unet``), sampling never does.
        self.subject_teacher = subject_teacher
        # The model folder's fast text-to-image decoder (``light_decoder.py``), when it ships one.
        self.light_decoder = light_decoder
        self._lock = threading.Lock()
        self.model_dir = model_dir
        self.kind = kind
        self.family: Family | None = None if kind is None else kind.family
        base_name = str(info.get("name") or model_dir.name)
        loras = [c for c in components if c.role == "lora"]
        # The name says what was combined; the sha256 (below) is what identifies it.
        self.model_name: str = " + ".join([base_name] + [f"lora:{c.name}" for c in loras])
        self.model_version: str | None = info.get("version")
        self.model_sha256: str = sha256
        self.components: tuple[ModelComponent, ...] = components
        self.device: str = device
        self.dtype: str = dtype
        self.offload: str | None = offload
        self.vae_scale_factor: int = int(pipe.vae_scale_factor)
        # FLUX.2 packs 2×2 latent patches: sizes are multiples of twice the VAE factor.
        self.size_multiple: int = self.vae_scale_factor * (2 if kind is not None and kind.architecture == "flux2" else 1)
        self.native_size: int = int(info.get("native_size") or self._configured_size())
        family = self.family
        self.default_guidance: float = float(info.get("default_guidance", 8.5 if family is None else family.guidance))
        self.default_steps: int = int(info.get("default_steps") or default_steps or (4 if family is None else family.steps))
        self.max_steps: int = MAX_STEPS if family is None else family.max_steps
        self.guidance_range: tuple[float, float] = (1.0, MAX_GUIDANCE) if family is None else family.guidance_range
        self.sampler: str = type(pipe.scheduler).__name__ if family is None else family.sampler_name
        self.sampler_timesteps: dict[int, tuple[int, ...]] = _parse_sampler_timesteps(
            info.get("sampler_timesteps", {}), int(pipe.scheduler.config.num_train_timesteps), model_dir)
        self._img2img_class = img2img_class
        self._init_kwargs = dict(init_kwargs) if init_kwargs is not None else {"requires_safety_checker": False}

    def _configured_size(self) -> int:
        """The native side the configs imply: the UNet's or transformer's sample size in pixels
        (FLUX.2's pipeline default, 1024), capped where the family trained lower (SDXL-Turbo: 512)."""
        pipe, arch = self._pipe, None if self.kind is None else self.kind.architecture
        if arch == "flux2":
            size = int(pipe.default_sample_size) * self.vae_scale_factor
        else:
            net = pipe.transformer if arch == "sana" else pipe.unet
            size = int(net.config.sample_size) * self.vae_scale_factor
        cap = None if self.family is None else self.family.native_cap
        return min(size, cap) if cap else size

    @property
    def parameter_count(self) -> int:
        """Parameters of the denoiser, which sets how many threads pay off (threads.py)."""
        net = self._pipe.transformer if self.architecture in ("sana", "flux2") else self._pipe.unet
        return int(sum(p.numel() for p in net.parameters()))

    @property
    def architecture(self) -> str:
        return "sd" if self.kind is None else self.kind.architecture

    def _img2img(self):
        """The image-to-image pipeline over the same loaded components (built once)."""
        if getattr(self, "_img2img_pipe", None) is None:
            cls = self._img2img_class
            if cls is None:
                from diffusers import LatentConsistencyModelImg2ImgPipeline as cls
            kwargs = {k: v for k, v in self._init_kwargs.items() if k not in self._pipe.components}
            with quiet_libraries():
                pipe = cls(**self._pipe.components, **kwargs)
            pipe.set_progress_bar_config(disable=True)
            self._img2img_pipe = pipe
        return self._img2img_pipe

    @contextlib.contextmanager
    def locked_pipe(self):
        """The loaded pipeline, held exclusively for the block (subject learning runs its model)."""
        with self._lock:
            yield self._pipe

    def timesteps_for(self, steps: int, declared: bool = True) -> tuple[int, ...]:
        """The timesteps text-to-image visits in ``steps`` steps: the model's declared schedule for
        that count (``sampler_timesteps``), else, or with ``declared`` False, its scheduler's own."""
        if declared and steps in self.sampler_timesteps:
            return self.sampler_timesteps[steps]
        sched = type(self._pipe.scheduler).from_config(self._pipe.scheduler.config)
        sched.set_timesteps(steps)
        return tuple(int(t) for t in sched.timesteps)

    def _token_window(self, tokenizer) -> int:
        """How many prompt tokens the text encoder reads: CLIP's 77 less BOS and EOS; SANA's 300
        less BOS and EOS; FLUX.2's 512 less its chat template's own tokens."""
        arch = self.architecture
        if arch == "sana":
            return 300 - 2
        if arch == "flux2":
            frame = tokenizer.apply_chat_template([{"role": "user", "content": ""}], tokenize=False,
                                                  add_generation_prompt=True, enable_thinking=False)
            return 512 - len(tokenizer(frame, add_special_tokens=False).input_ids)
        return int(tokenizer.model_max_length) - 2

    def _prompt_tokens(self, prompt: str, subject=None) -> tuple[int, int]:
        """(tokens the prompt has, tokens the text encoder reads).
        With a subject its mentions count as its vectors (core/generator/subject.py's layout)."""
        tokenizer = self._pipe.tokenizer
        window = self._token_window(tokenizer)

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids) if text.strip() else 0

        if subject is None:
            given = count(prompt)
        else:
            from .subject import split_prompt

            pieces, _ = split_prompt(prompt, subject.name)
            given = sum(count(p) for p in pieces) + int(subject.vectors.shape[0]) * (len(pieces) - 1)
        return given, min(given, window)

    def _subject_embeds(self, prompt: str, subject):
        """Prompt embeddings with ``subject``'s vectors at its mentions (or prepended)."""
        import torch

        from .subject import encode, split_prompt, subject_token_ids

        if self.architecture != "sd":
            label = self.family.label if self.family is not None else self.architecture
            raise GenerationError(f"subjects need a single-CLIP-text-encoder (SD 1.x layout) model; {label} "
                                  f"({self.kind.pipeline_class}) has no place for learned token vectors")
        if subject.model_sha256 != self.model_sha256:  # checkpoint and LoRA: the whole loaded model
            raise GenerationError(f"subject {subject.name!r} was learned on model {subject.model_sha256[:16]}…, "
                                  f"not on this one ({self.model_sha256[:16]}…)")
        pipe = self._pipe
        width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
        if subject.vectors.ndim != 2 or subject.vectors.shape[1] != width:
            raise GenerationError(f"subject {subject.name!r} has {tuple(subject.vectors.shape)} vectors; this text encoder takes {width}-d")
        pieces, _ = split_prompt(prompt, subject.name)
        ids, slots = subject_token_ids(pipe.tokenizer, pieces, int(subject.vectors.shape[0]))
        with torch.no_grad():
            embeds = encode(pipe.text_encoder, ids, slots.to(pipe.text_encoder.device),
                            subject.vectors.to(pipe.text_encoder.device))
        return embeds.to(pipe.unet.dtype)

    def subject_unet(self, pipe):
        """The UNet subject learning fits: the folder's teacher when it ships one, else the sampling UNet.

        Textual inversion's MSE loss asks for the posterior mean of x0. A phased consistency
        student's x0 at high noise is a jump along one trajectory, not that mean, and vectors fitted
        against it drew a blurred blob (rusty's identity 0.00); fitted against the teacher, through
        the same frozen text encoder, the student draws it (0.81 in bench/fidelity.py; training/README.md)."""
        return pipe.unet if self.subject_teacher is None else self.subject_teacher

    def __repr__(self) -> str:
        return f"Generator(model_name={self.model_name!r}, native_size={self.native_size}, device={self.device!r})"

    def _check(self, prompt, steps, seed, size, guidance, negative_prompt) -> tuple[int, int, int, float]:
        """The request's numbers within this family's ranges, defaults filled in: (steps, size, seed, guidance)."""
        steps, seed, guidance = check_request(
            prompt, steps, seed, guidance, negative_prompt, default_steps=self.default_steps, max_steps=self.max_steps,
            default_guidance=self.default_guidance, guidance_range=self.guidance_range,
            label=self.family.label if self.family is not None else "this model")
        if size is None:
            size = self.native_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise GenerationError(f"size must be an integer, got {size!r}")
        if size % self.size_multiple or not MIN_SIZE <= size <= MAX_SIZE:
            raise GenerationError(
                f"size must be a multiple of {self.size_multiple} from {MIN_SIZE} to {MAX_SIZE}, got {size}"
            )
        return steps, size, seed, guidance

    def _family_kwargs(self) -> dict[str, Any]:
        """Arguments the family's pipeline call needs beyond the common ones."""
        extra = dict(self.family.call_kwargs) if self.family is not None else {}
        if self.architecture == "sana":
            # Sizes are checked here; SANA's binning would silently draw another size and resize.
            extra["use_resolution_binning"] = False
        return extra

    def _img2img_size(self, size: int) -> dict[str, int]:
        """SANA's image-to-image draws at its own default size (1024) unless told; SD's follows the image."""
        return {"height": size, "width": size} if self.architecture == "sana" else {}

    def generate(
        self,
        prompt: str,
        *,
        steps: int | None = None,
        seed: int | None = None,
        size: int | None = None,
        guidance: float | None = None,
        negative_prompt: str | None = None,
        init_image: Image.Image | Sequence[Image.Image] | None = None,
        strength: float | None = None,
        subject=None,
        decoder: str = "auto",
    ) -> GeneratedImage:
        """Generate one square RGB image of ``size`` pixels (the model's native size by default),
        in ``steps`` steps at ``guidance`` (the family's defaults when None).

        With ``init_image`` the same components run image-to-image (the family's Img2Img
        pipeline): the reference is resized to ``size`` and ``strength`` (0 < s <= 1, default
        0.6) says how far the result may move away from it; of several references the first is
        the start image. FLUX.2 [klein] instead attends to every reference it is given (editing):
        a ``strength`` there has no meaning and is refused rather than ignored.

        With ``subject`` (a :class:`~.subject.SubjectEmbedding` learned on this model) the prompt's
        mentions of the subject's name carry its learned vectors (prepended when it names none),
        and the model identity combines the checkpoint with the subject's embedding file.

        ``decoder`` "auto" turns text-to-image latents into pixels with the model's light decoder
        when it has one (image-to-image always uses the VAE); "vae" always uses the VAE.
        """
        import torch

        steps, size, seed, guidance = self._check(prompt, steps, seed, size, guidance, negative_prompt)
        if decoder not in ("auto", "vae"):
            raise GenerationError(f"decoder must be 'auto' or 'vae', got {decoder!r}")
        light = self.light_decoder if decoder == "auto" and init_image is None else None
        conditioning = self.family is not None and self.family.references == "conditioning"
        references = None if init_image is None else (
            [init_image] if isinstance(init_image, Image.Image) else list(init_image))
        if references is not None and (not references or not all(isinstance(r, Image.Image) for r in references)):
            raise GenerationError("init_image must be an image or a non-empty sequence of images")
        if conditioning and strength is not None:
            raise GenerationError(f"{self.family.label} attends to its reference images (editing) instead of "
                                  "starting from one, so it has no image-to-image strength: leave --strength out")
        if references is not None and not conditioning:
            strength = DEFAULT_STRENGTH if strength is None else strength
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 < strength <= 1.0:
                raise GenerationError(f"strength must be in (0, 1], got {strength!r}")
            if int(steps * strength) < 1:
                raise GenerationError(f"{steps} steps at strength {strength} leave no denoising step")
        if subject is not None and self.architecture != "sd":
            self._subject_embeds(prompt, subject)  # raises the typed error before the model runs
        with self._lock:
            start = time.perf_counter()
            try:
                given, kept = self._prompt_tokens(prompt, subject)
                gen = torch.Generator(device="cpu" if self.offload else self.device).manual_seed(seed)
                text = {"prompt": prompt} if subject is None else {"prompt_embeds": self._subject_embeds(prompt, subject)}
                common = dict(**text, num_inference_steps=steps, guidance_scale=guidance,
                              generator=gen, output_type="latent" if light is not None else "pil",
                              **self._family_kwargs())
                # quiet: a cut prompt is reported in the result (prompt_tokens), not as a log warning
                with quiet_libraries():
                    if init_image is None:
                        schedule = self.sampler_timesteps.get(steps)  # None: the scheduler's own
                        out = self._pipe(height=size, width=size, **common,
                                         **({} if schedule is None else {"timesteps": list(schedule)}))
                    else:
                        resized = [r.convert("RGB").resize((size, size), Image.Resampling.LANCZOS) for r in references]
                        if conditioning:  # FLUX.2 [klein] attends to every reference (a list)
                            out = self._pipe(image=resized, height=size, width=size, **common)
                        else:
                            out = self._img2img()(image=resized[0], strength=float(strength), **common,
                                                  **self._img2img_size(size))
                if light is not None:
                    with torch.inference_mode():
                        pixels = light(out.images.to(light.dtype))
                    image = self._pipe.image_processor.postprocess(pixels.float(), output_type="pil")[0]
                else:
                    image = out.images[0].convert("RGB")
            except GenerationError:
                raise
            except Exception as exc:  # the pipeline's failures become our typed error
                raise GenerationError(f"generation failed: {type(exc).__name__}: {exc}") from exc
            seconds = time.perf_counter() - start
        model_name, model_sha, components = self.model_name, self.model_sha256, self.components
        if subject is not None:
            # The subject is part of what made the image: its embedding file joins the identity.
            components = components + (ModelComponent("subject", subject.subject_id, subject.sha256),)
            model_name = f"{model_name} + subject:{subject.subject_id}"
            model_sha = combined_sha256([(c.role, c.sha256) for c in components])
        return GeneratedImage(
            image=image,
            model_name=model_name,
            model_sha256=model_sha,
            steps=steps,
            guidance=guidance,
            seed=seed,
            width=image.width,
            height=image.height,
            device=self.device,
            seconds=seconds,
            model_components=components,
            family=None if self.family is None else self.family.id,
            sampler=self.sampler,
            prompt_tokens=given,
            prompt_tokens_kept=kept,
        )


def model_family(model_path: str | Path | None = None, lora: str | Path | None = None,
                 lora_family: str | None = None) -> Family:
    """The family :func:`load_generator` gives these arguments, read from the folder's configs and
    the LoRA's header only, so that a request is checked against it before any weight loads."""
    model_dir = Path(DEFAULT_MODEL_DIR if model_path is None else model_path).expanduser()
    lora_path = None if lora is None else Path(lora).expanduser()
    if lora_path is not None:
        _check_lora(lora_path)
    return recognise(model_dir, lora_path, lora_family).family


def load_generator(model_path: str | Path | None = None, device: str = "cpu", dtype=None, *,
                   lora: str | Path | None = None, lora_family: str | None = None,
                   offload: str | None = None) -> Generator:
    """Load a diffusers-format checkpoint folder from local files only.

    ``model_path`` None loads the embedded default model. The folder's family is recognised
    (families.py) and its sampler set: an LCM, SD-/SDXL-Turbo, SANA-Sprint or FLUX.2 [klein]
    folder runs as is; an SD 1.5 / SDXL base takes ``lora`` (a ``.safetensors`` file) whose
    family (``lora_family``: lcm, tcd or hyper-sd, unless its metadata names it) picks the
    sampler, and is fused in. The model identity is the folder's weight hash, combined with the
    LoRA file's sha256 when there is one.

    ``device`` cpu, cuda or mps; ``dtype`` "fp16", "bf16" or "fp32" (default fp32 on CPU, the
    family's on an accelerator); ``offload`` "model" or "sequential" keeps weights on the CPU
    and moves them to the accelerator as they run. The weights' memory is estimated from the
    files first, and a model that cannot fit is refused with the numbers. Raises
    :class:`ModelLoadError` when the folder, a component, the LoRA or the device is missing or
    does not fit.
    """
    model_dir = Path(DEFAULT_MODEL_DIR if model_path is None else model_path).expanduser()
    lora_path = None if lora is None else Path(lora).expanduser()
    dev = _resolve_device(device)
    if offload is not None and offload not in memory.OFFLOAD_MODES:
        raise ModelLoadError(f"unknown offload mode {offload!r}; use model or sequential")
    if offload is not None and dev.type == "cpu":
        raise ModelLoadError("--offload moves weights between the CPU and an accelerator; it needs --device cuda or mps")
    if lora_path is not None:
        _check_lora(lora_path)
    kind = recognise(model_dir, lora_path, lora_family)
    dtype_name = _resolve_dtype(dtype, dev, kind.family)
    variant = _weights_variant(model_dir, kind)
    need = memory.estimate(model_dir, dtype_name, variant, extra=() if lora_path is None else (lora_path,))
    memory.check_fits(need, memory.host_memory(), memory.accelerator_memory(dev), offload, str(dev))
    lora_state = None if lora_path is None else _read_lora(lora_path)
    info_path = model_dir / MODEL_INFO_FILE
    info = read_json(info_path) if info_path.is_file() else {}
    torch_dtype = _torch_dtype(dtype_name)
    text2img_class, img2img_class, init_kwargs = _pipeline_classes(kind)
    try:
        with quiet_libraries():
            pipe = text2img_class.from_pretrained(model_dir, local_files_only=True, dtype=torch_dtype,
                                                  variant=variant, **init_kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the {text2img_class.__name__} from {model_dir}: {type(exc).__name__}: {exc}") from exc
    _set_sampler(pipe, kind.family)
    if lora_path is not None:
        _fuse_lora(pipe, lora_path, lora_state)
    try:
        with quiet_libraries():
            if offload == "model":
                pipe.enable_model_cpu_offload(device=dev)
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=dev)
            else:
                pipe = pipe.to(dev)
    except Exception as exc:
        raise ModelLoadError(f"cannot move the model to {dev}: {type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    light = _load_light_decoder(model_dir, dev, torch_dtype)
    subject_teacher = _load_subject_teacher(model_dir, dev, torch_dtype)
    if dev.type == "cpu":
        cpu_fast_layout(pipe.vae)
        if light is not None:
            cpu_fast_layout(light)
    checkpoint = ModelComponent("checkpoint", str(info.get("name") or model_dir.name), model_sha256(model_dir))
    components = (checkpoint,)
    sha = checkpoint.sha256
    if lora_path is not None:
        components += (ModelComponent("lora", lora_path.name, file_sha256(lora_path)),)
        sha = combined_sha256([(c.role, c.sha256) for c in components])
    steps = lora_default_steps(lora_path, kind.family) if lora_path is not None else None
    return Generator(pipe, model_dir, info, sha, str(dev), kind=kind, components=components,
                     img2img_class=img2img_class, init_kwargs=init_kwargs, light_decoder=light,
                     subject_teacher=subject_teacher, default_steps=steps, dtype=dtype_name, offload=offload)


def _load_subject_teacher(model_dir: Path, dev, dtype):
    """The folder's ``subject_teacher/`` UNet (None when absent); like the light decoder, its weights
    are part of the folder's hash. The export stage writes it for a phased student (recipe v0.9)."""
    folder = model_dir / SUBJECT_TEACHER_FOLDER
    if not folder.is_dir():
        return None
    from diffusers import UNet2DConditionModel

    try:
        with quiet_libraries():
            unet = UNet2DConditionModel.from_pretrained(folder, local_files_only=True, torch_dtype=dtype)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the subject teacher from {folder}: {type(exc).__name__}: {exc}") from exc
    return unet.to(dev).eval().requires_grad_(False)


def _load_light_decoder(model_dir: Path, dev, dtype):
    """The folder's ``light_decoder/`` (ours; None when absent). Its weights are already part of
    the folder's sha256 (``hashing.weight_files`` takes every weight file under the folder)."""
    from .light_decoder import FOLDER, LightDecoder

    if not (model_dir / FOLDER / "config.json").is_file():
        return None
    try:
        with quiet_libraries():
            light = LightDecoder.from_pretrained(model_dir / FOLDER, local_files_only=True, torch_dtype=dtype)
        return light.to(dev).eval().requires_grad_(False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the light decoder from {model_dir / FOLDER}: {type(exc).__name__}: {exc}") from exc


def _set_sampler(pipe, family: Family) -> None:
    """The family's sampler over the folder's noise schedule: kept when the folder has it with the
    family's settings, otherwise built from the folder's scheduler config with them."""
    import diffusers

    current = pipe.scheduler
    if type(current).__name__ == family.sampler and all(
            current.config.get(k) == v for k, v in family.sampler_config.items()):
        return
    cls = getattr(diffusers, family.sampler)
    pipe.scheduler = cls.from_config(current.config, **family.sampler_config)


def _fuse_lora(pipe, lora_path: Path, state: dict) -> None:
    """The LoRA loaded into the UNet (and text encoders if it has them), fused, the adapter removed."""
    try:
        with quiet_libraries(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe.load_lora_weights(state, adapter_name=LORA_ADAPTER)
            loaded = pipe.get_list_adapters()
            if not any(LORA_ADAPTER in names for names in loaded.values()):
                raise ModelLoadError(f"the LoRA file {lora_path} matched no module of the model")
            pipe.fuse_lora(adapter_names=[LORA_ADAPTER], lora_scale=1.0)
            pipe.unload_lora_weights()
    except ModelLoadError:
        raise
    except Exception as exc:  # shape mismatches, foreign key layouts, unknown formats
        raise ModelLoadError(
            f"the LoRA file {lora_path} does not fit this {type(pipe).__name__}: {type(exc).__name__}: {exc}") from exc
