"""Stage ``vae``: a small KL autoencoder (8x down, 4 latent channels) on whole 128 px scenes.

Resumable: ``RUN/vae/state.pt`` holds model, optimiser, RNG and counters; each invocation trains
until ``--max-minutes`` (or ``--steps`` in total) and checkpoints every ``CHECKPOINT_SECONDS``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .common import Deadline, load_state, log, rng_state, resume, save_state, setup

SEED = 1
BATCH = 16
LR = 1e-3
KL_WEIGHT = 1e-6
CHECKPOINT_SECONDS = 120
MEAN_FROM_STEP = 687  # see the training loop
NOMINAL_STEPS = 1500  # cosine LR horizon. The shipped VAE ran its first 511 steps with 700, then this.


def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[16, 32, 64, 64],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=128,
        mid_block_add_attention=False,
    )


def to_tensor(batch_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    out = run_dir / "vae"
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    vae = make_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=LR, weight_decay=0.0)
    state = load_state(out / "state.pt")
    step, seconds = resume(state, opt, model=vae)
    deadline = Deadline(max_minutes)
    vae.train()
    last_ckpt = time.monotonic()
    t_chunk = time.monotonic()
    losses = []
    n = len(images)

    def checkpoint():
        nonlocal seconds, t_chunk
        seconds += time.monotonic() - t_chunk
        t_chunk = time.monotonic()
        save_state(out / "state.pt", {"model": vae.state_dict(), "opt": opt.state_dict(), "rng": rng_state(), "step": step, "seconds": seconds})
        log(run_dir, "vae", step=step, seconds=round(seconds, 1), loss=round(float(np.mean(losses[-50:])), 5) if losses else None)

    while not deadline.passed() and (total_steps is None or step < total_steps):
        idx = np.sort(np.random.randint(0, n, size=BATCH))
        x = to_tensor(images[idx])
        # cosine decay over the nominal run, floor at 10 %
        lr = LR * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step / NOMINAL_STEPS, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        post = vae.encode(x).latent_dist
        # Sampling the posterior (std ~1 at init, shrunk only by the tiny KL weight) drowned the
        # latents in noise and stalled learning; from MEAN_FROM_STEP on, the decoder learns from
        # the posterior mean, the only latent the generator ever decodes.
        z = post.sample() if step < MEAN_FROM_STEP else post.mean
        rec = vae.decode(z).sample
        loss_rec = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        kl = post.kl().mean() / (x.shape[1] * x.shape[2] * x.shape[3])
        loss = loss_rec + KL_WEIGHT * kl * x[0].numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(float(loss_rec.detach()))
        if time.monotonic() - last_ckpt > CHECKPOINT_SECONDS:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()


def load_trained(run_dir: Path):
    """The trained VAE; with the decoder fine-tune of stage ``vae-decoder`` when there is one
    (its encoder is the ``vae`` stage's, unchanged)."""
    vae = make_vae()
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
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    state = load_state(out / "state.pt")
    vae = make_vae()
    base = load_state(run_dir / "vae" / "state.pt")
    if base is None:
        raise SystemExit("no VAE checkpoint: run the 'vae' stage first")
    vae.load_state_dict(base["model"] if state is None else state["model"])
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=DECODER_LR, weight_decay=0.0)
    step, seconds = resume(state, opt)  # the weights came from state or base above
    deadline = Deadline(max_minutes)
    vae.train()
    t_chunk = last_ckpt = time.monotonic()
    losses: list[float] = []
    n = len(images)

    def checkpoint():
        nonlocal seconds, t_chunk
        seconds += time.monotonic() - t_chunk
        t_chunk = time.monotonic()
        save_state(out / "state.pt", {"model": vae.state_dict(), "opt": opt.state_dict(), "rng": rng_state(), "step": step, "seconds": seconds})
        log(run_dir, "vae_decoder", step=step, seconds=round(seconds, 1), loss=round(float(np.mean(losses[-50:])), 5) if losses else None)

    while not deadline.passed() and (total_steps is None or step < total_steps):
        idx = np.sort(np.random.randint(0, n, size=BATCH))
        x = to_tensor(images[idx])
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
        step += 1
        losses.append(float(loss.detach()))
        if time.monotonic() - last_ckpt > CHECKPOINT_SECONDS:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()
