"""Stage ``distill``: latent consistency distillation (LCD) of the teacher into a few-step student.

The recipe of diffusers' ``examples/consistency_distillation/train_lcm_distill_sd_wds.py``:

* student = teacher UNet + guidance embedding (``time_cond_proj_dim``; its projection starts at
  zero so the student starts as the teacher); target = EMA copy of the student (decay 0.95);
* skipping-step DDIM solver on N = 50 timesteps (k = 20): t_n ∈ {19, 39, …, 999};
* boundary conditions c_skip = σ²/((10t)² + σ²), c_out = 10t/√((10t)² + σ²), σ = 0.5;
* per step: x at t_n; student f(x, t_n, w); teacher CFG ε = ε_c + w(ε_c − ε_∅) → x̂0 and one DDIM
  step to t_n − k; target f at the new point; pseudo-Huber loss (c = 0.001);
* w ~ U[W_MIN, W_MAX] (the pipeline embeds ``guidance_scale − 1``, so guidance 1 + w).

A recipe with ``distill_phases`` > 1 (v0.9) keeps all of it but the map's end point: the student
and the target predict the DDIM jump to their phase's lower edge (``consistency_output``). A
zero-terminal-SNR recipe (v0.10) distils on the teacher's rescaled betas, and teacher, student and
target predict v (``split_prediction``); the grid's t = 999 is then pure noise.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .common import ChunkedTraining, Deadline, load_state, setup
from .teacher import load_trained as load_teacher
from . import recipe as recipes
from .teacher import make_scheduler, make_unet, tokenize

SEED = 3
BATCH = 16  # small batches, more updates: this CPU affords few hundred LCD steps
LR = 3e-4
EMA_DECAY = 0.95
NUM_DDIM = 50
W_MIN, W_MAX = 1.0, 7.0
W_EMBED_DIM = 256
HUBER_C = 0.001
CHECKPOINT_SECONDS = 120
TIMESTEP_SCALING = 10.0
SIGMA_DATA = 0.5
DISC_LR = 1e-4
DISC_WARMUP = 200  # discriminator-only steps before the student gets its adversarial loss


def guidance_scale_embedding(w: torch.Tensor, embedding_dim: int) -> torch.Tensor:
    """Same as ``LatentConsistencyModelPipeline.get_guidance_scale_embedding``."""
    w = w * 1000.0
    half_dim = embedding_dim // 2
    emb = math.log(10000.0) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim, dtype=torch.float32) * -emb)
    emb = w.to(torch.float32)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


class LatentDiscriminator(torch.nn.Module):
    """Caption-conditioned patch discriminator on UNet-space latents (recipe ``distill_adversarial``).

    The LCD student regresses the teacher's ODE endpoints with a Huber loss; a 4.4 M-parameter
    student answers with the blurred mean of the endpoints it cannot tell apart (soft shapes, mixed
    colours, lost eyes and hats). A discriminator that tells real latents from the student's
    predicted x0 (adversarial diffusion distillation, Sauer et al. 2023) pushes those toward
    latents a real scene has. It conditions on the caption by projection (Miyato & Koyama 2018),
    so a sharp scene of the wrong caption does not pass either."""

    def __init__(self, channels: int, text_dim: int, width: int = 128):
        super().__init__()
        sn = torch.nn.utils.parametrizations.spectral_norm
        act = torch.nn.LeakyReLU(0.2)
        self.body = torch.nn.Sequential(
            sn(torch.nn.Conv2d(channels, width, 3, 1, 1)), act,
            sn(torch.nn.Conv2d(width, width, 4, 2, 1)), act,
            sn(torch.nn.Conv2d(width, 2 * width, 4, 2, 1)), act,
        )
        self.patch = sn(torch.nn.Conv2d(2 * width, 1, 3, 1, 1))
        self.text = sn(torch.nn.Linear(text_dim, 2 * width))

    def forward(self, latents: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """One logit per latent: mean patch logit + projection on the caption's mean token embedding."""
        h = self.body(latents)
        return self.patch(h).flatten(1).mean(1) + (h.mean((2, 3)) * self.text(text.mean(1))).sum(1)


def make_discriminator(channels: int, text_dim: int) -> LatentDiscriminator:
    # its own seed, and the global RNG left as it was: a recipe with a discriminator draws the same
    # timesteps and noise as the same recipe without one
    with torch.random.fork_rng():
        torch.manual_seed(SEED + 1)
        return LatentDiscriminator(channels, text_dim)


def boundary_scalings(t: torch.Tensor):
    scaled = t.float() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2) ** 0.5
    return c_skip, c_out


def consistency_output(x: torch.Tensor, out: torch.Tensor, t: torch.Tensor, edge: torch.Tensor | None,
                       alphas_cumprod: torch.Tensor, prediction: str = "epsilon") -> torch.Tensor:
    """The consistency function's value at (x, t) from the network's output (ε, or v for a
    zero-terminal-SNR recipe: ``prediction`` "v_prediction").

    ``edge`` None (LCD): c_skip(t)·x + c_out(t)·x̂0, which is x at t = 0. With phases: the DDIM
    jump α_s·x̂0 + σ_s·ε to the phase's lower edge s = ``edge`` (Wang et al. 2024, phased
    consistency models), which is x itself at t = s: the same boundary condition, per phase."""
    x0, eps = split_prediction(x, out, t, alphas_cumprod, prediction)
    if edge is None:
        c_skip, c_out = boundary_scalings(t)
        return _b(c_skip) * x + _b(c_out) * x0
    return _b(alphas_cumprod[edge].sqrt()) * x0 + _b((1 - alphas_cumprod[edge]).sqrt()) * eps


def split_prediction(x: torch.Tensor, out: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                     prediction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂0, ε̂) from a network output at x_t: ε-prediction divides by α_t; v-prediction
    (x̂0 = α·x − σ·v, ε̂ = σ·x + α·v) stays finite at zero terminal SNR, where α = 0."""
    a, sg = _b(alphas_cumprod[t].sqrt()), _b((1 - alphas_cumprod[t]).sqrt())
    if prediction == "v_prediction":
        return a * x - sg * out, sg * x + a * out
    if prediction != "epsilon":
        raise ValueError(f"unknown prediction type {prediction!r}")
    return (x - sg * out) / a, out


def phase_edges(phases: int) -> torch.Tensor:
    """Lower timestep edge of each of ``phases`` consistency phases, ascending, the last one t = 0.

    They are the timesteps the exported model's LCMScheduler visits for ``phases`` inference steps
    (asked of the scheduler itself), so sampling at that step count lands exactly on the edges the
    student was trained to reach."""
    from .export import make_lcm_scheduler

    sched = make_lcm_scheduler()  # the timesteps do not depend on the betas
    sched.set_timesteps(phases)
    return torch.tensor(sorted([0, *sched.timesteps[1:].tolist()]), dtype=torch.long)


def _b(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 1, 1)


def make_student(recipe, teacher_unet):
    student = make_unet(recipe, time_cond_proj_dim=W_EMBED_DIM)
    missing, unexpected = student.load_state_dict(teacher_unet.state_dict(), strict=False)
    assert not unexpected and all("cond_proj" in k for k in missing), (missing, unexpected)
    torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    return student


def learning_rate(recipe, step: int) -> float:
    """LR, then (recipes with ``distill_decay_from``) a cosine from LR to zero over ``distill_decay_steps``."""
    if recipe.distill_decay_from is None or step < recipe.distill_decay_from:
        return LR
    done = min((step - recipe.distill_decay_from) / max(recipe.distill_decay_steps, 1), 1.0)
    return LR * 0.5 * (1.0 + math.cos(math.pi * done))


def _focus_indices(recipe, ddim_t: torch.Tensor) -> torch.Tensor | None:
    """Grid indices of the exported 4-step sampler's timesteps (None when the recipe has no focus)."""
    if not recipe.distill_decay_focus:
        return None
    timesteps = dict(recipe.sampler_timesteps)[4]
    index = [int((ddim_t == t).nonzero()) for t in timesteps]  # each must lie on the DDIM grid
    return torch.tensor(index)


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    deadline = Deadline(max_minutes)
    data = load_state(run_dir / "latents.pt")
    tokenizer, text_encoder, teacher, _ = load_teacher(run_dir)
    latents = data["latents"].float()
    n = len(latents)
    with torch.no_grad():
        # the text encoder is frozen now: embed every caption once
        ids = tokenize(tokenizer, data["captions"])
        embeds = torch.cat([text_encoder(ids[i : i + 256])[0] for i in range(0, n, 256)])
        uncond = text_encoder(tokenize(tokenizer, [""]))[0]

    recipe = recipes.load(run_dir)
    sched = make_scheduler(zero_snr=recipe.zero_snr)
    prediction = sched.config.prediction_type
    alphas_cumprod = sched.alphas_cumprod
    alpha = alphas_cumprod.sqrt()
    sigma = (1 - alphas_cumprod).sqrt()
    step_ratio = 1000 // NUM_DDIM
    ddim_t = torch.from_numpy((np.arange(1, NUM_DDIM + 1) * step_ratio).round().astype(np.int64) - 1)
    ddim_prev_ac = torch.cat([alphas_cumprod[:1], alphas_cumprod[ddim_t[:-1]]])

    edges = phase_edges(recipe.distill_phases) if recipe.distill_phases > 1 else None
    if edges is not None and recipe.distill_adversarial:
        raise SystemExit("a phased student's predictions are not x0: the latent discriminator does not apply")
    student = make_student(recipe, teacher)
    focus = _focus_indices(recipe, ddim_t)
    target = copy.deepcopy(student).requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=LR, weight_decay=1e-2)
    out = run_dir / "distill"
    parts = {"student": student, "target": target}
    disc = None
    if recipe.distill_adversarial:
        disc = make_discriminator(latents.shape[1], embeds.shape[-1])
        disc_opt = torch.optim.AdamW(disc.parameters(), lr=DISC_LR, betas=(0.0, 0.99), weight_decay=0.0)
        parts.update(disc=disc, disc_opt=disc_opt)
    loop = ChunkedTraining(
        run_dir, "distill", out / "state.pt", opt, parts, optional=("disc", "disc_opt"),
        total_steps=total_steps, every=CHECKPOINT_SECONDS, loss_window=100, deadline=deadline,
    )
    student.train()
    for step in loop:
        for group in opt.param_groups:
            group["lr"] = learning_rate(recipe, step)
        idx = torch.randint(0, n, (BATCH,))
        x0 = latents[idx]
        cond = embeds[idx]
        # 1. timesteps t_n and t_{n-k} on the skipping-step DDIM grid
        index = torch.randint(0, NUM_DDIM, (BATCH,))
        # v0.11: while the rate anneals, the first k of each batch are where the exported sampler runs
        k = round(recipe.distill_decay_focus * BATCH) if focus is not None and step >= recipe.distill_decay_from else 0
        if k:
            index[:k] = focus[torch.randint(0, len(focus), (k,))]
        t_start = ddim_t[index]
        t_end = (t_start - step_ratio).clamp(min=0)
        # the phased student's target point: its phase's lower edge (None: LCD's x0)
        edge = None if edges is None else edges[(t_start[:, None] > edges[None, :]).sum(1) - 1]
        # 2. noisy latents at t_n
        noise = torch.randn_like(x0)
        if recipe.distill_offset_noise:  # v0.5: the noise's per-channel mean must not tell the colour
            noise = noise + recipe.distill_offset_noise * torch.randn(BATCH, x0.shape[1], 1, 1)
        xt = _b(alpha[t_start]) * x0 + _b(sigma[t_start]) * noise
        # 3. guidance scale (the focused part of the batch: the model's default) and its embedding
        w = W_MIN + (W_MAX - W_MIN) * torch.rand(BATCH)
        w[:k] = recipe.default_guidance - 1.0
        w_emb = guidance_scale_embedding(w, W_EMBED_DIM)
        wb = _b(w)
        # 4. online student prediction, with boundary conditions
        raw = student(xt, t_start, timestep_cond=w_emb, encoder_hidden_states=cond).sample
        model_pred = consistency_output(xt, raw, t_start, edge, alphas_cumprod, prediction)
        with torch.no_grad():
            # 5. teacher with CFG, one DDIM step t_n -> t_{n-k}
            both = teacher(
                torch.cat([xt, xt]), torch.cat([t_start, t_start]), encoder_hidden_states=torch.cat([cond, uncond.expand(BATCH, -1, -1)])
            ).sample
            out_c, out_u = both.chunk(2)
            x0_c, eps_c = split_prediction(xt, out_c, t_start, alphas_cumprod, prediction)
            x0_u, eps_u = split_prediction(xt, out_u, t_start, alphas_cumprod, prediction)
            t_x0 = x0_c + wb * (x0_c - x0_u)
            t_eps = eps_c + wb * (eps_c - eps_u)
            a_prev = _b(ddim_prev_ac[index])
            x_prev = a_prev.sqrt() * t_x0 + (1 - a_prev).sqrt() * t_eps
            # 6. target network at the new point
            out_t = target(x_prev, t_end, timestep_cond=w_emb, encoder_hidden_states=cond).sample
            target_pred = consistency_output(x_prev, out_t, t_end, edge, alphas_cumprod, prediction)
        # 7. pseudo-Huber loss
        loss = torch.mean(torch.sqrt((model_pred - target_pred) ** 2 + HUBER_C**2) - HUBER_C)
        total, extra = loss, {}
        if disc is not None and step >= recipe.distill_adversarial_from:
            # 7b. the discriminator learns real vs predicted x0 (and a real scene under another
            # caption as fake); after DISC_WARMUP steps the student also gets its hinge loss,
            # weighted so its gradient at the output layer is ``distill_adversarial`` times the
            # Huber loss's (VQGAN's adaptive weight: no scale to tune per model)
            d_loss = (
                F.relu(1 - disc(x0, cond)).mean()
                + F.relu(1 + disc(model_pred.detach(), cond)).mean()
                + 0.5 * F.relu(1 + disc(x0, cond.roll(1, 0))).mean()
            )
            disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            disc_opt.step()
            extra["disc_loss"] = float(d_loss.detach())
            if step >= recipe.distill_adversarial_from + DISC_WARMUP:
                adv = -disc(model_pred, cond).mean()
                last = student.conv_out.weight
                g_rec = torch.autograd.grad(loss, last, retain_graph=True)[0]
                g_adv = torch.autograd.grad(adv, last, retain_graph=True)[0]
                weight = (g_rec.norm() / (g_adv.norm() + 1e-8)).clamp(max=1e4).detach()
                total = loss + recipe.distill_adversarial * weight * adv
                extra.update(adv_loss=float(adv.detach()), adv_weight=float(weight))
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        # 8. EMA target
        with torch.no_grad():
            for tp, sp in zip(target.parameters(), student.parameters()):
                tp.lerp_(sp, 1.0 - EMA_DECAY)
        loop.record(float(loss.detach()), **extra)


def load_trained(run_dir: Path, which: str = "target"):
    """The distilled student (``which`` = "target", the EMA network, or "student", the online one)."""
    state = load_state(run_dir / "distill" / "state.pt")
    if state is None:
        raise SystemExit("no distillation checkpoint: run the 'distill' stage first")
    unet = make_unet(recipes.load(run_dir), time_cond_proj_dim=W_EMBED_DIM)
    unet.load_state_dict(state[which])
    return unet.eval().requires_grad_(False), state
