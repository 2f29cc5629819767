"""The few-step image generator: a thin, strict wrapper around diffusers' LCM pipeline.

``load_generator(path)`` opens a diffusers-format Latent Consistency Model folder (the embedded
default model when ``path`` is None) from local files only; ``Generator.generate`` turns one
prompt into one RGB image plus the metadata a provenance manifest needs (model name and weight
hash, seed, steps, guidance, size, device, time).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..base.errors import GenerationError, ModelLoadError
from .hashing import combined_sha256, file_sha256, model_sha256

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
MODEL_INFO_FILE = "pocketstudio.json"
REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
MIN_STEPS, MAX_STEPS = 1, 8
MIN_SIZE, MAX_SIZE = 64, 1024
MIN_GUIDANCE, MAX_GUIDANCE = 1.0, 20.0
FALLBACK_GUIDANCE = 8.5  # diffusers' LCM default, for checkpoints that do not name their own
LORA_GUIDANCE = 1.0  # LCM-LoRA's recommended scale (no classifier-free guidance pass)
SEED_BITS = 63


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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


# model_index.json ``_class_name`` -> family. Both families load the same way; they differ in
# their components (SDXL has two text encoders) and in the diffusers pipeline classes used.
FAMILIES = {
    "LatentConsistencyModelPipeline": "sd",
    "LatentConsistencyModelImg2ImgPipeline": "sd",
    "StableDiffusionPipeline": "sd",
    "StableDiffusionImg2ImgPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
}
FAMILY_COMPONENTS = {
    "sd": REQUIRED_COMPONENTS,
    "sdxl": ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"),
}
# A model folder's optional teacher UNet, for subject learning only (``Generator.subject_unet``).
SUBJECT_TEACHER_FOLDER = "subject_teacher"
LORA_SUFFIX = ".safetensors"
LORA_ADAPTER = "lcm_lora"


@dataclass(frozen=True)
class ModelKind:
    """What a checkpoint folder is, read from its configs before any weight is loaded.

    ``distilled``: the UNet carries LCM's guidance embedding (``time_cond_proj_dim``) and the
    scheduler is ``LCMScheduler``, so it runs as is. Otherwise it is a base model that needs an
    LCM-LoRA (``lora``) and gets ``LCMScheduler`` swapped in.
    """

    family: str  # "sd" (SD 1.x/2.x layout) or "sdxl"
    pipeline_class: str  # model_index.json's _class_name
    distilled: bool
    scheduler_class: str


@dataclass(frozen=True)
class ModelComponent:
    """One file set that makes up the model identity: the checkpoint folder or a LoRA file."""

    role: str  # "checkpoint", "lora" or "subject"
    name: str
    sha256: str


def _check_folder(model_dir: Path, lora: Path | None = None) -> ModelKind:
    """Fail early, with a message naming the missing piece, before diffusers is asked."""
    if not model_dir.is_dir():
        raise ModelLoadError(f"model folder not found: {model_dir}")
    index_path = model_dir / "model_index.json"
    if not index_path.is_file():
        raise ModelLoadError(f"{model_dir} is not a diffusers model folder (no model_index.json)")
    index = _read_json(index_path)
    pipeline_class = str(index.get("_class_name"))
    family = FAMILIES.get(pipeline_class)
    if family is None:
        raise ModelLoadError(
            f"{model_dir} holds a {pipeline_class!r} pipeline; supported: {', '.join(sorted(FAMILIES))}")
    for name in FAMILY_COMPONENTS[family]:
        if not isinstance(index.get(name), list) or index[name][0] is None or not (model_dir / name).is_dir():
            raise ModelLoadError(f"{model_dir} lacks the '{name}' component")
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if name in FAMILY_COMPONENTS[family] and not any(
                p.suffix in (".safetensors", ".bin") for p in (model_dir / name).iterdir()):
            raise ModelLoadError(f"{model_dir / name} holds no weights (*.safetensors / *.bin)")
    sched_cfg = model_dir / "scheduler" / "scheduler_config.json"
    if not sched_cfg.is_file():
        raise ModelLoadError(f"{model_dir} lacks scheduler/scheduler_config.json")
    sched_class = str(_read_json(sched_cfg).get("_class_name"))
    unet_cfg = model_dir / "unet" / "config.json"
    if not unet_cfg.is_file():
        raise ModelLoadError(f"{model_dir} lacks unet/config.json")
    guidance_embedded = bool(_read_json(unet_cfg).get("time_cond_proj_dim"))
    if lora is None:
        if sched_class != "LCMScheduler":
            raise ModelLoadError(
                f"{model_dir} is not a latent consistency model: its scheduler is {sched_class!r}, not 'LCMScheduler' "
                "(a base model needs an LCM-LoRA file: --lora FILE.safetensors)")
        if not guidance_embedded:
            raise ModelLoadError(
                f"{model_dir}: the UNet has no guidance embedding (time_cond_proj_dim), so it is not LCM-distilled "
                "(a base model needs an LCM-LoRA file: --lora FILE.safetensors)")
    return ModelKind(family=family, pipeline_class=pipeline_class,
                     distilled=guidance_embedded and sched_class == "LCMScheduler", scheduler_class=sched_class)


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


def _weights_variant(model_dir: Path) -> str | None:
    """``"fp16"`` when the UNet ships only ``*.fp16.safetensors`` weights (common for SDXL
    downloads), so that ``from_pretrained`` is asked for that variant; else None."""
    names = [p.name for p in (model_dir / "unet").iterdir() if p.suffix in (".safetensors", ".bin")]
    if names and all(".fp16." in n for n in names):
        return "fp16"
    return None


def _pipeline_classes(kind: ModelKind):
    """(text-to-image class, image-to-image class, extra constructor kwargs) for ``kind``."""
    import diffusers

    if kind.family == "sdxl":
        # diffusers' own SDXL watermark (invisible-watermark dwtDct) would be a second, weaker mark
        # under ours: the release flow watermarks every image itself.
        return (diffusers.StableDiffusionXLPipeline, diffusers.StableDiffusionXLImg2ImgPipeline,
                {"add_watermarker": False})
    extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    if kind.distilled:
        return diffusers.LatentConsistencyModelPipeline, diffusers.LatentConsistencyModelImg2ImgPipeline, extra
    # A base UNet with no guidance embedding (LCM-LoRA path): the plain SD pipelines with LCMScheduler.
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
        raise ModelLoadError(f"unknown device {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {device!r} requested but MPS is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"unsupported device {device!r} (use 'cpu' or 'cuda')")
    return dev


def cpu_fast_layout(vae):
    """Channels-last weights for the VAE (or the light decoder) on CPU: oneDNN's convolutions on
    the decoder's few-channel, full-resolution layers run about 1.7× faster so (v0.2's decoder at
    256 px: 97 → 57 ms at 1 thread); pixels differ by at most one level. The UNet gains nothing at
    16×16 latents."""
    import torch

    return vae.to(memory_format=torch.channels_last)


class Generator:
    """A loaded LCM pipeline. Use :func:`load_generator` to make one."""

    def __init__(self, pipe, model_dir: Path, info: dict[str, Any], sha256: str, device: str,
                 kind: ModelKind | None = None, components: tuple[ModelComponent, ...] = (), img2img_class=None,
                 init_kwargs: dict[str, Any] | None = None, light_decoder=None, subject_teacher=None):
        self._pipe = pipe
        # The UNet the student was distilled from, when the folder ships it: subject learning runs
        # against it (``subject_unet``), sampling never does.
        self.subject_teacher = subject_teacher
        # The model folder's fast text-to-image decoder (``light_decoder.py``), when it ships one.
        self.light_decoder = light_decoder
        self._lock = threading.Lock()
        self.model_dir = model_dir
        self.kind = kind
        base_name = str(info.get("name") or model_dir.name)
        loras = [c for c in components if c.role == "lora"]
        # The name says what was combined; the sha256 (below) is what identifies it.
        self.model_name: str = " + ".join([base_name] + [f"lora:{c.name}" for c in loras])
        self.model_version: str | None = info.get("version")
        self.model_sha256: str = sha256
        self.components: tuple[ModelComponent, ...] = components
        self.device: str = device
        self.vae_scale_factor: int = int(pipe.vae_scale_factor)
        self.native_size: int = int(pipe.unet.config.sample_size) * self.vae_scale_factor
        # LCM-distilled UNets embed the guidance scale; LCM-LoRA models run best without CFG (1.0).
        fallback = FALLBACK_GUIDANCE if kind is None or kind.distilled else LORA_GUIDANCE
        self.default_guidance: float = float(info.get("default_guidance", fallback))
        self.sampler_timesteps: dict[int, tuple[int, ...]] = _parse_sampler_timesteps(
            info.get("sampler_timesteps", {}), int(pipe.scheduler.config.num_train_timesteps), model_dir)
        self._img2img_class = img2img_class
        self._init_kwargs = dict(init_kwargs or {"requires_safety_checker": False})

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

    def _prompt_tokens(self, prompt: str, subject=None) -> tuple[int, int]:
        """(tokens the prompt has, tokens the text encoder reads): its window less BOS and EOS.
        With a subject its mentions count as its vectors (core/generator/subject.py's layout)."""
        tokenizer = self._pipe.tokenizer
        window = int(tokenizer.model_max_length) - 2

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

        if self.kind is not None and self.kind.family != "sd":
            raise GenerationError("subjects need a single-text-encoder (SD 1.x layout) model")
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

    def _check(self, prompt, steps, seed, size, guidance, negative_prompt) -> tuple[int, int, float]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise GenerationError("the prompt is empty")
        if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
            raise GenerationError(f"steps must be an integer from {MIN_STEPS} to {MAX_STEPS}, got {steps!r}")
        if size is None:
            size = self.native_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise GenerationError(f"size must be an integer, got {size!r}")
        if size % self.vae_scale_factor or not MIN_SIZE <= size <= MAX_SIZE:
            raise GenerationError(
                f"size must be a multiple of {self.vae_scale_factor} from {MIN_SIZE} to {MAX_SIZE}, got {size}"
            )
        if guidance is None:
            guidance = self.default_guidance
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not MIN_GUIDANCE <= guidance <= MAX_GUIDANCE:
            raise GenerationError(f"guidance must be a number from {MIN_GUIDANCE} to {MAX_GUIDANCE}, got {guidance!r}")
        if negative_prompt is not None:
            # LCM bakes guidance into the UNet (no unconditional pass), so there is nothing to
            # apply a negative prompt to; say so rather than ignore it.
            raise GenerationError("negative prompts are not supported by latent consistency models")
        if seed is None:
            seed = secrets.randbits(SEED_BITS)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**SEED_BITS:
            raise GenerationError(f"seed must be an integer from 0 to 2**{SEED_BITS} - 1, got {seed!r}")
        return size, seed, float(guidance)

    def generate(
        self,
        prompt: str,
        *,
        steps: int = 4,
        seed: int | None = None,
        size: int | None = None,
        guidance: float | None = None,
        negative_prompt: str | None = None,
        init_image: Image.Image | None = None,
        strength: float = 0.6,
        subject=None,
        decoder: str = "auto",
    ) -> GeneratedImage:
        """Generate one square RGB image of ``size`` pixels (the model's native size by default).

        With ``init_image`` the same components run image-to-image
        (``LatentConsistencyModelImg2ImgPipeline``): the reference is resized to ``size`` and
        ``strength`` (0 < s <= 1) says how far the result may move away from it.

        With ``subject`` (a :class:`~.subject.SubjectEmbedding` learned on this model) the prompt's
        mentions of the subject's name carry its learned vectors (prepended when it names none),
        and the model identity combines the checkpoint with the subject's embedding file.

        ``decoder`` "auto" turns text-to-image latents into pixels with the model's light decoder
        when it has one (image-to-image always uses the VAE); "vae" always uses the VAE.
        """
        import torch

        size, seed, guidance = self._check(prompt, steps, seed, size, guidance, negative_prompt)
        if decoder not in ("auto", "vae"):
            raise GenerationError(f"decoder must be 'auto' or 'vae', got {decoder!r}")
        light = self.light_decoder if decoder == "auto" and init_image is None else None
        if init_image is not None:
            if not isinstance(strength, (int, float)) or not 0.0 < strength <= 1.0:
                raise GenerationError(f"strength must be in (0, 1], got {strength!r}")
            if int(steps * strength) < 1:
                raise GenerationError(f"{steps} steps at strength {strength} leave no denoising step")
        with self._lock:
            start = time.perf_counter()
            try:
                given, kept = self._prompt_tokens(prompt, subject)
                gen = torch.Generator(device=self.device).manual_seed(seed)
                text = {"prompt": prompt} if subject is None else {"prompt_embeds": self._subject_embeds(prompt, subject)}
                common = dict(**text, num_inference_steps=steps, guidance_scale=guidance,
                              generator=gen, output_type="latent" if light is not None else "pil")
                # quiet: a cut prompt is reported in the result (prompt_tokens), not as a log warning
                with quiet_libraries():
                    if init_image is None:
                        schedule = self.sampler_timesteps.get(steps)  # None: the scheduler's own
                        out = self._pipe(height=size, width=size, **common,
                                         **({} if schedule is None else {"timesteps": list(schedule)}))
                    else:
                        reference = init_image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
                        out = self._img2img()(image=reference, strength=float(strength), **common)
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
            prompt_tokens=given,
            prompt_tokens_kept=kept,
        )


def load_generator(model_path: str | Path | None = None, device: str = "cpu", dtype=None, *,
                   lora: str | Path | None = None) -> Generator:
    """Load a diffusers-format checkpoint folder from local files only.

    ``model_path`` None loads the embedded default model. The folder is an LCM-distilled
    pipeline (SD 1.5 or SDXL layout, ``LCMScheduler``), or, with ``lora`` (an LCM-LoRA
    ``.safetensors`` file), an SD 1.5 / SDXL base whose scheduler is replaced by
    ``LCMScheduler`` and into which the LoRA is loaded and fused. The model identity is the
    folder's weight hash, combined with the LoRA file's sha256 when there is one.
    ``dtype`` defaults to float32 on CPU and float16 on CUDA. Raises :class:`ModelLoadError`
    when the folder, a component, the LoRA or the device is missing or does not fit.
    """
    import torch

    model_dir = Path(DEFAULT_MODEL_DIR if model_path is None else model_path).expanduser()
    lora_path = None if lora is None else Path(lora).expanduser()
    dev = _resolve_device(device)
    kind = _check_folder(model_dir, lora_path)
    if lora_path is not None:
        _check_lora(lora_path)
        lora_state = _read_lora(lora_path)
    info_path = model_dir / MODEL_INFO_FILE
    info = _read_json(info_path) if info_path.is_file() else {}
    if dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    text2img_class, img2img_class, init_kwargs = _pipeline_classes(kind)
    try:
        with quiet_libraries():
            pipe = text2img_class.from_pretrained(model_dir, local_files_only=True, dtype=dtype,
                                                  variant=_weights_variant(model_dir), **init_kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the {text2img_class.__name__} from {model_dir}: {type(exc).__name__}: {exc}") from exc
    if lora_path is not None:
        _apply_lora(pipe, lora_path, lora_state)
    try:
        with quiet_libraries():
            pipe = pipe.to(dev)
    except Exception as exc:
        raise ModelLoadError(f"cannot move the model to {dev}: {type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    light = _load_light_decoder(model_dir, dev, dtype)
    subject_teacher = _load_subject_teacher(model_dir, dev, dtype)
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
    return Generator(pipe, model_dir, info, sha, str(dev), kind=kind, components=components,
                     img2img_class=img2img_class, init_kwargs=init_kwargs, light_decoder=light,
                     subject_teacher=subject_teacher)


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


def _apply_lora(pipe, lora_path: Path, state: dict) -> None:
    """LCMScheduler in, the LoRA loaded into the UNet (and text encoders if it has them), fused."""
    from diffusers import LCMScheduler

    if type(pipe.scheduler).__name__ != "LCMScheduler":
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
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
