"""Stage ``light-decoder``: train :class:`~pocketstudio.core.generator.light_decoder.LightDecoder`
on the frozen training latents (``RUN/latents.pt``, the VAE encoder's means of every scene and
its mirror, in UNet space) against the scenes themselves, so the VAE and everything trained on its
latents stay as they are. ``export`` ships it as ``light_decoder/`` when ``RUN/light_decoder``
exists.

Resumable like the other stages: ``RUN/light_decoder/state.pt`` holds model, optimiser, RNG and
counters; each invocation trains until ``--max-minutes`` (or ``--steps`` in total).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pocketstudio.core.generator.light_decoder import LightDecoder
from . import recipe as recipes
from .common import ChunkedTraining, load_state, setup

SEED = 7
BATCH = 16
LR = 2e-3
NOMINAL_STEPS = 3000  # cosine learning-rate horizon (to 10 %)
# Each latent gets Gaussian noise of a standard deviation drawn from U[0, LATENT_NOISE]: the
# student's latents are not exactly the encoder's, and a decoder trained on clean latents only
# turned their small deviations into mottled colour specks and checkerboards (3 000 steps without
# it: 26.6 dB on held-out encoder latents, yet 0.320 against the VAE decoder's 0.359 on 48
# validation captions).
LATENT_NOISE = 0.15
CHECKPOINT_SECONDS = 120


def make_light_decoder(recipe: recipes.Recipe) -> LightDecoder:
    return LightDecoder(latent_channels=recipe.latent_channels, upscale=recipe.downsample)


def _batch(images: np.ndarray, latents: torch.Tensor, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``idx`` and their scenes in [-1, 1]; index ≥ len(images) is the mirror of scene idx − len."""
    n = len(images)
    pix = np.stack([images[i % n][:, ::-1] if i >= n else images[i] for i in idx])
    x = torch.from_numpy(np.ascontiguousarray(pix)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return latents[torch.from_numpy(idx)].float(), x


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    recipe = recipes.load(run_dir)
    data = load_state(run_dir / "latents.pt")
    if data is None:
        raise SystemExit("no latents: run the 'teacher' stage first (it encodes them)")
    latents = data["latents"]
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    if len(latents) != 2 * len(images):
        raise SystemExit(f"{run_dir}: {len(latents)} latents for {len(images)} scenes (expected scenes + mirrors)")
    out = run_dir / "light_decoder"
    model = make_light_decoder(recipe)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    loop = ChunkedTraining(run_dir, "light_decoder", out / "state.pt", opt, {"model": model}, max_minutes=max_minutes, total_steps=total_steps, every=CHECKPOINT_SECONDS)
    model.train()
    for step in loop:
        z, x = _batch(images, latents, np.random.randint(0, len(latents), BATCH))
        z = z + LATENT_NOISE * torch.rand(BATCH, 1, 1, 1) * torch.randn_like(z)
        lr = LR * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step / NOMINAL_STEPS, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        rec = model(z)
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loop.record(float(loss.detach()))


def load_trained(run_dir: Path) -> LightDecoder | None:
    """The stage's decoder, or None when the run folder has none."""
    state = load_state(run_dir / "light_decoder" / "state.pt")
    if state is None:
        return None
    model = make_light_decoder(recipes.load(run_dir))
    model.load_state_dict(state["model"])
    return model.eval().requires_grad_(False)
