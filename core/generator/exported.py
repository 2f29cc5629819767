"""The embedded model as exported graphs: text-to-image without importing diffusers or transformers.

Importing diffusers' pipeline module with transformers costs 5-9 s on a 2-core machine, more than
the whole generation; torch alone ~2 s. So the embedded LCM model's text encoder, UNet and light
decoder are traced once into TorchScript (``torch.jit``), its tokenizer runs on the ``tokenizers``
library, and its sampler's per-step constants (timesteps, ᾱ, the consistency boundary scalings)
are read off diffusers' own scheduler at export time: at run time only torch is imported, and the
sampling loop below is the LCM pipeline's (same noise draws from the same seeded generator, same
arithmetic), so an image equals the diffusers pipeline's to within a level (tests/test_exported.py).

The export lives in the data directory (``cache/exported/<model sha256>/``), made by the first
in-process generation with the diffusers pipeline; ``meta.json`` records the sha256 of each
graph file, checked at load (a damaged export is rebuilt, never run). The manifest names the
checkpoint, as the graphs are traced from exactly its weights. Image-to-image, subjects and other
sizes than the native one load the diffusers pipeline on first use (``full``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from PIL import Image

from ..base.errors import ModelLoadError

EXPORT_VERSION = 1
FILES = ("text_encoder.pt", "unet.pt", "decoder.pt")
META = "meta.json"


def export_folder(cache_root: Path, model_sha256: str) -> Path:
    return Path(cache_root) / "exported" / model_sha256


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def guidance_embedding(w, dim: int):
    """LCM's guidance-scale embedding (diffusers' ``get_guidance_scale_embedding``, Imagen's w - 1)."""
    import torch

    w = w * 1000.0
    half = dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half - 1)
    emb = torch.exp(torch.arange(half, dtype=torch.float32) * -emb)
    emb = w.to(torch.float32)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def can_export(generator) -> bool:
    """Only a plain LCM text-to-image model with a light decoder (the embedded one's shape)."""
    kind = getattr(generator, "kind", None)
    return (kind is not None and kind.pipeline_class.startswith("LatentConsistencyModel") and not kind.family.lora
            and generator.light_decoder is not None and generator.device == "cpu" and generator.dtype == "fp32"
            and getattr(generator, "offload", None) is None)


def export(generator, folder: Path) -> Path:
    """Trace ``generator``'s (a loaded diffusers ``Generator``) text encoder, UNet and light decoder
    at its native size and write them with the sampler's constants to ``folder`` (atomically)."""
    import torch

    pipe = generator._pipe
    size = generator.native_size
    tok = pipe.tokenizer
    ids = tok("a photo", padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    latents_shape = (1, int(pipe.unet.config.in_channels), size // generator.vae_scale_factor,
                     size // generator.vae_scale_factor)
    cond_dim = int(pipe.unet.config.time_cond_proj_dim)

    class TextEncoder(torch.nn.Module):
        def __init__(self, te):
            super().__init__()
            self.te = te

        def forward(self, input_ids):
            return self.te(input_ids)[0]

    class UNet(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, latents, t, embeds, cond):
            return self.unet(latents, t, timestep_cond=cond, encoder_hidden_states=embeds, return_dict=False)[0]

    import warnings

    tmp = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.partial")
    tmp.mkdir(parents=True, mode=0o700)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing warns of every shape check it fixes: one size only
            embeds = pipe.text_encoder(ids)[0]
            te = torch.jit.trace(TextEncoder(pipe.text_encoder).eval(), (ids,), check_trace=False)
            latents = torch.randn(latents_shape)
            unet = torch.jit.trace(UNet(pipe.unet).eval(), (latents, torch.tensor(999), embeds,
                                                             torch.zeros(1, cond_dim)), check_trace=False)
            decoder = torch.jit.trace(generator.light_decoder.eval(), (latents,), check_trace=False)
        for name, module in zip(FILES, (te, unet, decoder)):
            torch.jit.save(torch.jit.freeze(module.eval()) if name != "unet.pt" else module, str(tmp / name))
        shutil.copy(Path(generator.model_dir) / "tokenizer" / "tokenizer.json", tmp / "tokenizer.json")
        schedules = {}
        for steps in range(1, generator.max_steps + 1):
            schedules[str(steps)] = _schedule(generator, steps)
        family = generator.family
        meta = {
            "version": EXPORT_VERSION, "torch": torch.__version__, "model_sha256": generator.model_sha256,
            "model_name": generator.model_name, "native_size": size, "latents_shape": list(latents_shape),
            "cond_dim": cond_dim, "default_steps": generator.default_steps,
            "default_guidance": generator.default_guidance, "guidance_range": list(generator.guidance_range),
            "max_steps": generator.max_steps, "family": None if family is None else family.id,
            "sampler": generator.sampler, "parameter_count": generator.parameter_count,
            "components": [[c.role, c.name, c.sha256] for c in generator.components],
            "max_length": int(tok.model_max_length), "pad_id": int(tok.pad_token_id),
            "schedules": schedules,
            "sha256": {name: _sha256(tmp / name) for name in FILES + ("tokenizer.json",)},
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _schedule(generator, steps: int) -> list[dict]:
    """One step count's timesteps and constants, read off diffusers' scheduler as the pipeline sets it."""
    sched = type(generator._pipe.scheduler).from_config(generator._pipe.scheduler.config)
    declared = generator.sampler_timesteps.get(steps)
    if declared is None:
        sched.set_timesteps(steps)
    else:
        sched.set_timesteps(timesteps=list(declared))
    ts = [int(t) for t in sched.timesteps]
    out = []
    for i, t in enumerate(ts):
        prev = ts[i + 1] if i + 1 < len(ts) else t
        c_skip, c_out = sched.get_scalings_for_boundary_condition_discrete(t)
        alpha_prev = sched.alphas_cumprod[prev] if prev >= 0 else sched.final_alpha_cumprod
        out.append({"t": t, "alpha": float(sched.alphas_cumprod[t]), "alpha_prev": float(alpha_prev),
                    "c_skip": float(c_skip), "c_out": float(c_out)})
    return out


class ExportedGenerator:
    """The embedded model's text-to-image from exported graphs; the interface of ``Generator``.
    Anything else (image-to-image, subjects, another size) goes to ``full()``, the diffusers
    ``Generator``, loaded on first use."""

    def __init__(self, folder: Path, meta: dict, full: Callable[[], object]):
        import torch
        from tokenizers import Tokenizer

        self.folder = folder
        self.meta = meta
        self._full_factory = full
        self._full = None
        self._lock = threading.Lock()
        self.text_encoder = torch.jit.load(str(folder / "text_encoder.pt"))
        self.unet = torch.jit.load(str(folder / "unet.pt"))
        self.decoder = torch.jit.load(str(folder / "decoder.pt"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(meta["max_length"])
        self.tokenizer.enable_padding(length=meta["max_length"], pad_id=meta["pad_id"])
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))  # no padding, no truncation
        self.model_name = meta["model_name"]
        self.model_sha256 = meta["model_sha256"]
        self.native_size = int(meta["native_size"])
        self.default_steps = int(meta["default_steps"])
        self.default_guidance = float(meta["default_guidance"])
        self.guidance_range = tuple(meta["guidance_range"])
        self.max_steps = int(meta["max_steps"])
        self.sampler = meta["sampler"]
        self.parameter_count = int(meta["parameter_count"])
        self.device, self.dtype, self.offload = "cpu", "fp32", None
        from .pipeline import ModelComponent

        self.components = tuple(ModelComponent(*c) for c in meta["components"])

    def __repr__(self) -> str:
        return f"ExportedGenerator(model_name={self.model_name!r}, native_size={self.native_size})"

    def full(self):
        """The diffusers generator of the same model (image-to-image, subjects, other sizes)."""
        with self._lock:
            if self._full is None:
                self._full = self._full_factory()
            return self._full

    def __getattr__(self, name):  # kind, family, locked_pipe, subject_unet, …: the full model's
        if name.startswith("_") or name in ("folder", "meta"):
            raise AttributeError(name)
        return getattr(self.full(), name)

    def generate(self, prompt: str, *, steps: int | None = None, seed: int | None = None, size: int | None = None,
                 guidance: float | None = None, negative_prompt: str | None = None,
                 init_image: Image.Image | None = None, strength: float = 0.6, subject=None, decoder: str = "auto"):
        if init_image is not None or subject is not None or size not in (None, self.native_size) or decoder != "auto":
            return self.full().generate(prompt, steps=steps, seed=seed, size=size, guidance=guidance,
                                        negative_prompt=negative_prompt, init_image=init_image, strength=strength,
                                        subject=subject, decoder=decoder)
        import torch

        from .pipeline import GeneratedImage, check_request

        steps, seed, guidance = check_request(
            prompt, steps, seed, guidance, negative_prompt, default_steps=self.default_steps, max_steps=self.max_steps,
            default_guidance=self.default_guidance, guidance_range=self.guidance_range,
            label=self.meta.get("family") or "this model")
        with self._lock, torch.inference_mode():
            start = time.perf_counter()
            given = len(self._counter.encode(prompt, add_special_tokens=False).ids)
            kept = min(given, self.meta["max_length"] - 2)
            ids = torch.tensor([self.tokenizer.encode(prompt).ids], dtype=torch.long)
            embeds = self.text_encoder(ids)
            gen = torch.Generator(device="cpu").manual_seed(seed)
            latents = torch.randn(tuple(self.meta["latents_shape"]), generator=gen, dtype=torch.float32)
            cond = guidance_embedding(torch.tensor(guidance - 1).repeat(1), self.meta["cond_dim"])
            schedule = self.meta["schedules"][str(steps)]
            denoised = latents
            for i, s in enumerate(schedule):
                t = torch.tensor(s["t"])
                v = self.unet(latents, t, embeds, cond)
                alpha, alpha_prev = torch.tensor(s["alpha"]), torch.tensor(s["alpha_prev"])
                x0 = alpha.sqrt() * latents - (1 - alpha).sqrt() * v  # v-prediction
                denoised = s["c_out"] * x0 + s["c_skip"] * latents
                if i + 1 < len(schedule):
                    noise = torch.randn(v.shape, generator=gen, dtype=denoised.dtype)
                    latents = alpha_prev.sqrt() * denoised + (1 - alpha_prev).sqrt() * noise
                else:
                    latents = denoised
            pixels = self.decoder(denoised)
            array = (pixels * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()[0]
            image = Image.fromarray((array * 255).round().astype("uint8"))
            seconds = time.perf_counter() - start
        return GeneratedImage(image=image, model_name=self.model_name, model_sha256=self.model_sha256, steps=steps,
                              guidance=float(guidance), seed=seed, width=image.width, height=image.height,
                              device="cpu", seconds=seconds, model_components=self.components,
                              family=self.meta.get("family"), sampler=self.sampler, prompt_tokens=given,
                              prompt_tokens_kept=kept)


def load_exported(folder: Path, model_sha256: str, full: Callable[[], object]) -> ExportedGenerator | None:
    """The export in ``folder`` if it is whole, of this model and this torch; else None."""
    import torch

    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != EXPORT_VERSION or meta.get("model_sha256") != model_sha256 \
            or meta.get("torch") != torch.__version__:
        return None
    for name, digest in meta.get("sha256", {}).items():
        try:
            if _sha256(folder / name) != digest:
                return None
        except OSError:
            return None
    try:
        return ExportedGenerator(folder, meta, full)
    except Exception as exc:  # noqa: BLE001 — a graph torch cannot load is rebuilt
        raise ModelLoadError(f"cannot load the exported model in {folder}: {type(exc).__name__}: {exc}; "
                             f"remove the folder to rebuild it") from exc


def load_embedded(cache_root: Path):
    """The embedded model, from its export when there is a whole one (no diffusers import), else
    from diffusers, exporting it for the next process."""
    from .hashing import model_sha256
    from .pipeline import DEFAULT_MODEL_DIR, load_generator

    sha = model_sha256(DEFAULT_MODEL_DIR)
    folder = export_folder(cache_root, sha)
    fast = load_exported(folder, sha, lambda: load_generator(None))
    if fast is not None:
        return fast
    full = load_generator(None)
    if can_export(full):
        try:
            folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            export(full, folder)
        except Exception:  # noqa: BLE001 — no export: this process and the next use diffusers
            pass
    return full
