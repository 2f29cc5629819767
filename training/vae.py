"""Stage ``vae``: a small KL autoencoder: v0.1 8x down, 4 latent channels, on whole 128 px scenes;
v0.2 16x down, 16 latent channels, on 128 px crops of 256 px scenes and of photos (``recipe.py``).

Resumable: ``RUN/vae/state.pt`` holds model, optimiser, RNG and counters; each invocation trains
until ``--max-minutes`` (or ``--steps`` in total) and checkpoints every ``CHECKPOINT_SECONDS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import recipe as recipes
from .common import ChunkedTraining, load_state, setup
from .recipe import Recipe

SEED = 1
BATCH = 16
LR = 1e-3
KL_WEIGHT = 1e-6
CHECKPOINT_SECONDS = 120
NOMINAL_STEPS = 1500  # cosine LR horizon. The shipped VAE ran its first 511 steps with 700, then this.


def make_vae(recipe: Recipe):
    from diffusers import AutoencoderKL

    blocks = len(recipe.vae_blocks)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * blocks,
        up_block_types=["UpDecoderBlock2D"] * blocks,
        block_out_channels=list(recipe.vae_blocks),
        layers_per_block=1,
        latent_channels=recipe.latent_channels,
        norm_num_groups=8,
        sample_size=recipe.image_size,
        mid_block_add_attention=False,
    )


class TrainingCrops:
    """The recipe's VAE training batches, drawn with numpy's global RNG (checkpointed): whole
    scenes (v0.1), or ``vae_crop`` px crops of scenes and, a ``vae_photo_share`` of the time, of
    the training photos (the ``sr`` stage's, held-out ones excluded) at full or half size."""

    def __init__(self, recipe: Recipe, images: np.ndarray):
        self.recipe, self.images = recipe, images
        self.photos: list[np.ndarray] = []
        if recipe.vae_crop and recipe.vae_photo_share > 0:
            from PIL import Image

            from .sr import TRAIN_PHOTOS, load_photo

            c = recipe.vae_crop
            for name in TRAIN_PHOTOS:
                photo = load_photo(name)
                half = np.asarray(Image.fromarray(photo).reduce(2))
                self.photos += [p for p in (photo, half) if min(p.shape[:2]) >= c]

    def batch(self, n: int) -> np.ndarray:
        idx = np.sort(np.random.randint(0, len(self.images), size=n))
        c = self.recipe.vae_crop
        if not c:
            return self.images[idx]
        out = np.empty((n, c, c, 3), np.uint8)
        for k, i in enumerate(idx):
            src = self.images[i]
            if self.photos and np.random.random() < self.recipe.vae_photo_share:
                src = self.photos[np.random.randint(len(self.photos))]
            y, x = np.random.randint(src.shape[0] - c + 1), np.random.randint(src.shape[1] - c + 1)
            out[k] = src[y:y + c, x:x + c]
        return out


def to_tensor(batch_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    out = run_dir / "vae"
    recipe = recipes.load(run_dir)
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    crops = TrainingCrops(recipe, images)
    vae = make_vae(recipe)
    opt = torch.optim.AdamW(vae.parameters(), lr=LR, weight_decay=0.0)
    loop = ChunkedTraining(run_dir, "vae", out / "state.pt", opt, {"model": vae}, max_minutes=max_minutes, total_steps=total_steps, every=CHECKPOINT_SECONDS)
    vae.train()
    for step in loop:
        x = to_tensor(crops.batch(BATCH))
        # cosine decay over the nominal run, floor at 10 %
        lr = LR * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step / NOMINAL_STEPS, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        post = vae.encode(x).latent_dist
        # Sampling the posterior (std ~1 at init, shrunk only by the tiny KL weight) drowned the
        # latents in noise and stalled learning; from the recipe's vae_sample_steps on (v0.1: 687,
        # v0.2: 0), the decoder learns from the posterior mean, the only latent the generator decodes.
        z = post.sample() if step < recipe.vae_sample_steps else post.mean
        rec = vae.decode(z).sample
        loss_rec = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        kl = post.kl().mean() / (x.shape[1] * x.shape[2] * x.shape[3])
        loss = loss_rec + KL_WEIGHT * kl * x[0].numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        loop.record(float(loss_rec.detach()))


def load_trained(run_dir: Path):
    """The trained VAE; with the decoder fine-tune of stage ``vae-decoder`` when there is one
    (its encoder is the ``vae`` stage's, unchanged)."""
    vae = make_vae(recipes.load(run_dir))
    state = load_state(run_dir / "vae_decoder" / "state.pt") or load_state(run_dir / "vae" / "state.pt")
    if state is None:
        raise SystemExit("no VAE checkpoint: run the 'vae' stage first")
    vae.load_state_dict(state["model"])
    vae.eval().requires_grad_(False)
    return vae


DECODER_LR = 5e-4
DECODER_NOMINAL_STEPS = 1500


def run_decoder(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    """Stage ``vae-decoder``: fine-tune only the decoder (encoder frozen, so the latents the
    teacher was trained on stay valid). Starts from ``RUN/vae``; state in ``RUN/vae_decoder``."""
    setup(SEED + 100)
    out = run_dir / "vae_decoder"
    recipe = recipes.load(run_dir)
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    crops = TrainingCrops(recipe, images)
    vae = make_vae(recipe)
    base = load_state(run_dir / "vae" / "state.pt")
    if base is None:
        raise SystemExit("no VAE checkpoint: run the 'vae' stage first")
    vae.load_state_dict(base["model"])  # a resumed run's own weights replace these below
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=DECODER_LR, weight_decay=0.0)
    loop = ChunkedTraining(run_dir, "vae_decoder", out / "state.pt", opt, {"model": vae}, max_minutes=max_minutes, total_steps=total_steps, every=CHECKPOINT_SECONDS)
    vae.train()
    for step in loop:
        x = to_tensor(crops.batch(BATCH))
        if np.random.rand() < 0.5:  # mirrored scenes are in the teacher's data too
            x = torch.flip(x, dims=[3])
        lr = DECODER_LR * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step / DECODER_NOMINAL_STEPS, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
        rec = vae.decode(z).sample
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loop.record(float(loss.detach()))
