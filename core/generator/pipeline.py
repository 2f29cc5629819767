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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import GenerationError, ModelLoadError
from .hashing import model_sha256

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
MODEL_INFO_FILE = "pocketstudio.json"
REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
MIN_STEPS, MAX_STEPS = 1, 8
MIN_SIZE, MAX_SIZE = 64, 1024
MIN_GUIDANCE, MAX_GUIDANCE = 1.0, 20.0
FALLBACK_GUIDANCE = 8.5  # diffusers' LCM default, for checkpoints that do not name their own
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


def _check_folder(model_dir: Path) -> dict[str, Any]:
    """Fail early, with a message naming the missing piece, before diffusers is asked."""
    if not model_dir.is_dir():
        raise ModelLoadError(f"model folder not found: {model_dir}")
    index_path = model_dir / "model_index.json"
    if not index_path.is_file():
        raise ModelLoadError(f"{model_dir} is not a diffusers model folder (no model_index.json)")
    index = _read_json(index_path)
    for name in REQUIRED_COMPONENTS:
        if name not in index or not (model_dir / name).is_dir():
            raise ModelLoadError(f"{model_dir} lacks the '{name}' component")
    for name in ("unet", "vae", "text_encoder"):
        if not any(p.suffix in (".safetensors", ".bin") for p in (model_dir / name).iterdir()):
            raise ModelLoadError(f"{model_dir / name} holds no weights (*.safetensors / *.bin)")
    sched_cfg = model_dir / "scheduler" / "scheduler_config.json"
    if not sched_cfg.is_file():
        raise ModelLoadError(f"{model_dir} lacks scheduler/scheduler_config.json")
    sched_class = _read_json(sched_cfg).get("_class_name")
    if sched_class != "LCMScheduler":
        raise ModelLoadError(f"{model_dir} is not a latent consistency model: its scheduler is {sched_class!r}, not 'LCMScheduler'")
    unet_cfg = model_dir / "unet" / "config.json"
    if not unet_cfg.is_file():
        raise ModelLoadError(f"{model_dir} lacks unet/config.json")
    if not _read_json(unet_cfg).get("time_cond_proj_dim"):
        raise ModelLoadError(f"{model_dir}: the UNet has no guidance embedding (time_cond_proj_dim), so it is not LCM-distilled")
    return index


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


class Generator:
    """A loaded LCM pipeline. Use :func:`load_generator` to make one."""

    def __init__(self, pipe, model_dir: Path, info: dict[str, Any], sha256: str, device: str):
        self._pipe = pipe
        self._lock = threading.Lock()
        self.model_dir = model_dir
        self.model_name: str = str(info.get("name") or model_dir.name)
        self.model_version: str | None = info.get("version")
        self.model_sha256: str = sha256
        self.device: str = device
        self.vae_scale_factor: int = int(pipe.vae_scale_factor)
        self.native_size: int = int(pipe.unet.config.sample_size) * self.vae_scale_factor
        self.default_guidance: float = float(info.get("default_guidance", FALLBACK_GUIDANCE))

    def _img2img(self):
        """The image-to-image pipeline over the same loaded components (built once)."""
        if getattr(self, "_img2img_pipe", None) is None:
            from diffusers import LatentConsistencyModelImg2ImgPipeline

            with quiet_libraries():
                pipe = LatentConsistencyModelImg2ImgPipeline(**self._pipe.components, requires_safety_checker=False)
            pipe.set_progress_bar_config(disable=True)
            self._img2img_pipe = pipe
        return self._img2img_pipe

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
    ) -> GeneratedImage:
        """Generate one square RGB image of ``size`` pixels (the model's native size by default).

        With ``init_image`` the same components run image-to-image
        (``LatentConsistencyModelImg2ImgPipeline``): the reference is resized to ``size`` and
        ``strength`` (0 < s <= 1) says how far the result may move away from it.
        """
        import torch

        size, seed, guidance = self._check(prompt, steps, seed, size, guidance, negative_prompt)
        if init_image is not None:
            if not isinstance(strength, (int, float)) or not 0.0 < strength <= 1.0:
                raise GenerationError(f"strength must be in (0, 1], got {strength!r}")
            if int(steps * strength) < 1:
                raise GenerationError(f"{steps} steps at strength {strength} leave no denoising step")
        with self._lock:
            start = time.perf_counter()
            try:
                gen = torch.Generator(device=self.device).manual_seed(seed)
                common = dict(prompt=prompt, num_inference_steps=steps, guidance_scale=guidance,
                              generator=gen, output_type="pil")
                if init_image is None:
                    out = self._pipe(height=size, width=size, **common)
                else:
                    reference = init_image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
                    out = self._img2img()(image=reference, strength=float(strength), **common)
                image = out.images[0].convert("RGB")
            except Exception as exc:  # the pipeline's failures become our typed error
                raise GenerationError(f"generation failed: {type(exc).__name__}: {exc}") from exc
            seconds = time.perf_counter() - start
        return GeneratedImage(
            image=image,
            model_name=self.model_name,
            model_sha256=self.model_sha256,
            steps=steps,
            guidance=guidance,
            seed=seed,
            width=image.width,
            height=image.height,
            device=self.device,
            seconds=seconds,
        )


def load_generator(model_path: str | Path | None = None, device: str = "cpu", dtype=None) -> Generator:
    """Load a diffusers-format LCM checkpoint folder from local files only.

    ``model_path`` None loads the embedded default model. ``dtype`` defaults to float32 on CPU
    and float16 on CUDA. Raises :class:`ModelLoadError` when the folder, a component or the
    device is missing, or the checkpoint is not a latent consistency model.
    """
    import torch

    model_dir = Path(DEFAULT_MODEL_DIR if model_path is None else model_path).expanduser()
    dev = _resolve_device(device)
    _check_folder(model_dir)
    info_path = model_dir / MODEL_INFO_FILE
    info = _read_json(info_path) if info_path.is_file() else {}
    if dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    try:
        from diffusers import LatentConsistencyModelPipeline

        with quiet_libraries():
            pipe = LatentConsistencyModelPipeline.from_pretrained(
                model_dir,
                local_files_only=True,
                dtype=dtype,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
        pipe = pipe.to(dev)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the LCM pipeline from {model_dir}: {type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    sha = model_sha256(model_dir)
    return Generator(pipe, model_dir, info, sha, str(dev))
