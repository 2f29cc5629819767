"""Stage ``teacher``: text-conditioned latent diffusion teacher, trained jointly with a tiny CLIP text encoder.

* Latents: the scenes (and their mirror images, with "left"/"right" swapped in the caption) are
  encoded once with the frozen VAE's posterior mean; the scaling factor makes them unit-variance
  (``RUN/latents.pt``).
* Text: ``CLIPTextModel`` 4 layers × 256-d, trained from scratch together with the UNet.
* UNet: ``UNet2DConditionModel`` (32, 64, 128), cross-attention 256, epsilon prediction,
  ``DDPMScheduler`` with SD's scaled-linear betas, min-SNR-5 loss weighting, 10 % caption dropout
  (the empty caption) so that classifier-free guidance works. An EMA copy (0.999) of both networks
  is what the distillation stage uses.
* Zero terminal SNR (recipe v0.10, from ``zero_snr_from``): the betas rescaled so that x_999 is pure
  noise, v-prediction, half of each batch from t >= 800. SD's betas leave enough of the latent in
  x_999 for the teacher to read where the shapes are from the starting noise, so it never learned
  "on the left" from the caption (``recipe.py``).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pocketstudio.core.generator.subject import MIN_SNR_GAMMA, loss_weights  # noqa: F401 — one definition

from .data import MAX_LENGTH as MAX_TOKENS
from . import recipe as recipes
from .common import ChunkedTraining, Deadline, load_state, log, save_state, setup
from .recipe import Recipe

SEED = 2
BATCH = 32
LR = 5e-4
WARMUP = 200
EMA_DECAY = 0.999
CAPTION_DROPOUT = 0.1
CHECKPOINT_SECONDS = 150
TEXT_DIM = 256
HIGH_T = 800  # the noisiest fifth of the timesteps (recipe ``zero_snr_high_t_share``)


def make_scheduler(zero_snr: bool = False):
    """SD's scaled-linear betas, ε-prediction; ``zero_snr`` (recipe v0.10): the same betas rescaled
    to zero terminal SNR, v-prediction (ε says nothing about x0 where x_T is pure noise)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction" if zero_snr else "epsilon",
        rescale_betas_zero_snr=zero_snr,
        clip_sample=False,
    )


def make_ddim_scheduler(zero_snr: bool = False):
    """The teacher's DDIM sampler. Zero terminal SNR: "trailing" spacing, so that sampling starts
    at t = 999, pure noise, where the teacher learned to draw from the caption (Lin et al. 2023)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, prediction_type="v_prediction" if zero_snr else "epsilon",
                         rescale_betas_zero_snr=zero_snr, timestep_spacing="trailing" if zero_snr else "leading")


def make_text_encoder(vocab_size: int, bos: int, eos: int, pad: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_DIM,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        projection_dim=TEXT_DIM,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    return CLIPTextModel(cfg)


def make_unet(recipe: Recipe, time_cond_proj_dim: int | None = None):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=recipe.latent_size,
        in_channels=recipe.latent_channels,
        out_channels=recipe.latent_channels,
        layers_per_block=1,
        block_out_channels=(32, 64, 128),
        # attention at 8² and 4² only: a 256-token self-attention at 16² costs more than it gives here
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=16,
        time_cond_proj_dim=time_cond_proj_dim,
    )


def load_tokenizer(run_dir: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(run_dir / "tokenizer")


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids


def _mirror_caption(c: str) -> str:
    return c.replace("the left", "the\0").replace("the right", "the left").replace("the\0", "the right")


def encode_latents(run_dir: Path) -> dict:
    """Encode every scene and its mirror with the frozen VAE (cached in ``RUN/latents.pt``)."""
    path = run_dir / "latents.pt"
    cached = load_state(path)
    if cached is not None:
        return cached
    from .vae import load_trained, to_tensor

    t0 = time.monotonic()
    vae = load_trained(run_dir)
    images = np.load(run_dir / "data" / "images.npy", mmap_mode="r")
    captions = json.loads((run_dir / "data" / "captions.json").read_text())
    out = []
    with torch.no_grad():
        for i in range(0, len(images), 64):
            x = to_tensor(np.ascontiguousarray(images[i : i + 64]))
            out.append(vae.encode(x).latent_dist.mean)
            out.append(vae.encode(torch.flip(x, dims=[3])).latent_dist.mean)
    # interleave back: [orig batch, mirrored batch, ...] -> all originals then all mirrors
    orig = torch.cat(out[0::2])
    mirr = torch.cat(out[1::2])
    latents = torch.cat([orig, mirr])
    caps = captions + [_mirror_caption(c) for c in captions]
    scaling = float(1.0 / latents.std())
    state = {"latents": (latents * scaling).half(), "captions": caps, "scaling_factor": scaling}
    save_state(path, state)
    log(run_dir, "latents", count=len(caps), scaling_factor=round(scaling, 5), seconds=round(time.monotonic() - t0, 1))
    return state


@torch.no_grad()
def ema_update(target: torch.nn.Module, source: torch.nn.Module, decay: float) -> None:
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s, 1.0 - decay)


def learning_rate(recipe: Recipe, step: int) -> float:
    """Warm-up then cosine to 10 % over the recipe's horizon; the offset-noise phase (v0.3) has its own."""
    def warm_cosine(peak: float, k: int, horizon: int) -> float:
        return peak * min(1.0, (k + 1) / WARMUP) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(k / horizon, 1.0))))

    if recipe.zero_snr and step >= recipe.zero_snr_from:
        return warm_cosine(recipe.zero_snr_lr, step - recipe.zero_snr_from, recipe.zero_snr_steps)
    if recipe.teacher_offset_steps and step >= recipe.teacher_offset_from:
        return warm_cosine(recipe.teacher_offset_lr, step - recipe.teacher_offset_from, recipe.teacher_offset_steps)
    return warm_cosine(LR, step, recipe.teacher_nominal_steps)


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    deadline = Deadline(max_minutes)
    data = encode_latents(run_dir)
    tokenizer = load_tokenizer(run_dir)
    ids = tokenize(tokenizer, data["captions"])
    empty_ids = tokenize(tokenizer, [""])
    latents = data["latents"].float()
    n = len(latents)

    text_encoder = make_text_encoder(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    recipe = recipes.load(run_dir)
    unet = make_unet(recipe)
    scheds = {False: make_scheduler(), True: make_scheduler(zero_snr=True)}
    weights = {k: loss_weights(v) for k, v in scheds.items()}
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=1e-2)
    ema_unet, ema_text = copy.deepcopy(unet).requires_grad_(False), copy.deepcopy(text_encoder).requires_grad_(False)
    out = run_dir / "teacher"
    loop = ChunkedTraining(
        run_dir, "teacher", out / "state.pt", opt, {"unet": unet, "text": text_encoder, "ema_unet": ema_unet, "ema_text": ema_text},
        total_steps=total_steps, every=CHECKPOINT_SECONDS, loss_window=100, deadline=deadline,
    )

    unet.train()
    text_encoder.train()
    for step in loop:
        idx = torch.randint(0, n, (BATCH,))
        x0 = latents[idx]
        tok = ids[idx].clone()
        drop = torch.rand(BATCH) < CAPTION_DROPOUT
        tok[drop] = empty_ids
        lr = learning_rate(recipe, step)
        for g in opt.param_groups:
            g["lr"] = lr
        noise = torch.randn_like(x0)
        if recipe.teacher_offset_noise and step >= recipe.teacher_offset_from:
            noise = noise + recipe.teacher_offset_noise * torch.randn(BATCH, x0.shape[1], 1, 1)
        t = torch.randint(0, 1000, (BATCH,))
        zero_snr = recipe.zero_snr and step >= recipe.zero_snr_from
        if zero_snr and recipe.zero_snr_high_t_share:
            high = int(BATCH * recipe.zero_snr_high_t_share)
            t[:high] = torch.randint(HIGH_T, 1000, (high,))
        sched = scheds[zero_snr]
        xt = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t) if zero_snr else noise
        cond = text_encoder(tok)[0]
        pred = unet(xt, t, encoder_hidden_states=cond).sample
        loss = (F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2, 3)) * weights[zero_snr][t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_update(ema_unet, unet, min(EMA_DECAY, (1 + step) / (10 + step)))
        ema_update(ema_text, text_encoder, min(EMA_DECAY, (1 + step) / (10 + step)))
        loop.record(float(loss.detach()))


def load_trained(run_dir: Path):
    """The EMA teacher: (tokenizer, text_encoder, unet, scaling_factor), frozen."""
    tokenizer = load_tokenizer(run_dir)
    state = load_state(run_dir / "teacher" / "state.pt")
    if state is None:
        raise SystemExit("no teacher checkpoint: run the 'teacher' stage first")
    text_encoder = make_text_encoder(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    unet = make_unet(recipes.load(run_dir))
    text_encoder.load_state_dict(state["ema_text"])
    unet.load_state_dict(state["ema_unet"])
    scaling = load_state(run_dir / "latents.pt")["scaling_factor"]
    return tokenizer, text_encoder.eval().requires_grad_(False), unet.eval().requires_grad_(False), scaling


@torch.no_grad()
def teacher_grid(run_dir: Path, prompts: list[str], seed: int = 0, steps: int = 25, cfg: float = 5.0, path: Path | None = None) -> Path:
    """DDIM + CFG samples of the EMA teacher (a check of the teacher before distilling)."""
    from PIL import Image

    from .vae import load_trained as load_vae

    tokenizer, text_encoder, unet, scaling = load_trained(run_dir)
    vae = load_vae(run_dir)
    sched = make_ddim_scheduler(recipes.load(run_dir).zero_snr)
    sched.set_timesteps(steps)
    cond = text_encoder(tokenize(tokenizer, prompts))[0]
    uncond = text_encoder(tokenize(tokenizer, [""] * len(prompts)))[0]
    g = torch.Generator().manual_seed(seed)
    c, size = unet.config.in_channels, unet.config.sample_size
    x = torch.randn((len(prompts), c, size, size), generator=g)
    for t in sched.timesteps:
        eps = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([cond, uncond])).sample
        ec, eu = eps.chunk(2)
        x = sched.step(eu + cfg * (ec - eu), t, x).prev_sample
    img = vae.decode(x / scaling).sample.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
    s = img.shape[1]
    grid = Image.new("RGB", (s * len(prompts), s))
    for i, im in enumerate(img):
        grid.paste(Image.fromarray(im), (i * s, 0))
    path = path or run_dir / "teacher_samples.png"
    grid.save(path)
    return path
