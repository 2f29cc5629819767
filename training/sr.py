"""Stages ``sr`` and ``sr-export``: the ×2 super-resolution net of the 2K/4K path.

Training pairs: random 96 px crops (flips, 90° turns, channel shuffles) of the photos that
scikit-image's wheel ships, minus the held-out ones (``HELDOUT_PHOTOS``, kept for
``bench/upscale.py`` and the tests), plus procedural training scenes (``dataset.render_scene``)
about a quarter of the time; the low-resolution input is the crop reduced ×2 with antialiased
bicubic. L1 loss, Adam, cosine learning rate over ``NOMINAL_STEPS``. (The body uses leaky ReLUs and the
residual head starts near, not at, zero: with plain ReLUs and a zero head a first run died —
every unit negative — and stayed at bicubic.)

Resumable like the other stages: ``RUN/sr/state.pt`` holds net, optimiser, RNG and counters; an
invocation trains until ``--max-minutes`` or ``--steps`` (in total) and checkpoints every
``CHECKPOINT_SECONDS``. ``sr-export`` writes ``sr_x2.safetensors`` (fp16), ``config.json`` and
``SHA256SUMS`` to ``--out`` (default: the shipped ``core/generator/upscaler/``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pocketstudio.core.generator.upscale import CONFIG_FILE, SUMS_FILE, UPSCALER_DIR, WEIGHTS_FILE, build_net
from .common import ChunkedTraining, load_state, log, setup

SEED = 7
CHANNELS, LAYERS = 32, 3
BATCH = 16
HR_PATCH = 96
LR = 1e-3
LR_MIN = 1e-5
NOMINAL_STEPS = 3000  # cosine horizon; a stage's maths depends only on the step count reached
SCENE_FRACTION = 0.25
NUM_SCENES = 512
CHECKPOINT_SECONDS = 120

# scikit-image's bundled images (all offline in the wheel). `cat` is `chelsea`, and the two
# motorcycle views are a stereo pair, so the held-out photos have no twin in training.
TRAIN_PHOTOS = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel",
                "logo", "camera", "brick", "grass", "gravel", "moon", "coins", "cell", "text", "page", "clock")
HELDOUT_PHOTOS = ("chelsea", "coffee", "motorcycle_left")


def load_photo(name: str) -> np.ndarray:
    """A scikit-image data photo as H×W×3 uint8 (grey replicated, alpha composited on white)."""
    import skimage.data

    fn = getattr(skimage.data, name, None)
    if fn is None:
        raise ValueError(f"skimage.data has no image {name!r}")
    img = np.asarray(fn())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(img[:, :, :3])


def heldout_photo(name: str) -> np.ndarray:
    """A held-out photo as H×W×3 uint8 (``motorcycle_left`` ships as a file with no loader)."""
    if name == "motorcycle_left":
        import skimage
        from PIL import Image

        return np.asarray(Image.open(Path(skimage.__file__).parent / "data" / "motorcycle_left.png").convert("RGB"))
    return load_photo(name)


def downscale(hr: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """The degradation the net learns to invert: antialiased bicubic reduction."""
    h, w = hr.shape[-2:]
    return F.interpolate(hr, size=(h // factor, w // factor), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


class Crops:
    """Random training crops, drawn with numpy's global RNG (checkpointed with the run)."""

    def __init__(self):
        from .dataset import render_array

        self.photos = [load_photo(n) for n in TRAIN_PHOTOS]
        areas = np.array([p.shape[0] * p.shape[1] for p in self.photos], dtype=np.float64)
        self.weights = np.sqrt(areas) / np.sqrt(areas).sum()  # big photos more often, not overwhelmingly
        self.scenes, _ = render_array(SEED, 0, NUM_SCENES, 128)

    def one(self) -> np.ndarray:
        if np.random.random() < SCENE_FRACTION:
            img = self.scenes[np.random.randint(len(self.scenes))]
        else:
            img = self.photos[np.random.choice(len(self.photos), p=self.weights)]
        h, w = img.shape[:2]
        y, x = np.random.randint(h - HR_PATCH + 1), np.random.randint(w - HR_PATCH + 1)
        crop = img[y:y + HR_PATCH, x:x + HR_PATCH]
        crop = np.rot90(crop, np.random.randint(4))
        if np.random.random() < 0.5:
            crop = crop[:, ::-1]
        return crop[:, :, np.random.permutation(3)]

    def batch(self, n: int) -> torch.Tensor:
        arr = np.stack([self.one() for _ in range(n)]).astype(np.float32) / 255.0
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def lr_at(step: int) -> float:
    t = min(step / NOMINAL_STEPS, 1.0)
    return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + np.cos(np.pi * t))


def run(run_dir: Path, max_minutes: float | None, total_steps: int | None) -> None:
    setup(SEED)
    out = run_dir / "sr"
    net = build_net(CHANNELS, LAYERS)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loop = ChunkedTraining(run_dir, "sr", out / "state.pt", opt, {"model": net}, max_minutes=max_minutes, total_steps=total_steps or NOMINAL_STEPS, every=CHECKPOINT_SECONDS, loss_window=200)
    if loop.step >= loop.total_steps:
        log(run_dir, "sr", note="already done", step=loop.step)
        return
    crops = Crops()
    net.train()
    for step in loop:
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        hr = crops.batch(BATCH)
        lr_img = downscale(hr)
        loss = F.l1_loss(net(lr_img), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loop.record(loss.item())
    log(run_dir, "sr", step=loop.step, done=loop.step >= loop.total_steps, seconds=round(loop.seconds, 1))


def export(run_dir: Path, out: Path | None) -> Path:
    from safetensors.torch import save_file

    state = load_state(run_dir / "sr" / "state.pt")
    if state is None:
        raise SystemExit(f"no SR checkpoint in {run_dir / 'sr'}: run the 'sr' stage first")
    out = Path(out or UPSCALER_DIR)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to(torch.float16).contiguous() for k, v in state["model"].items()}
    save_file(weights, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    cfg = {"name": "pocketstudio-sr-x2", "scale": 2, "channels": CHANNELS, "layers": LAYERS,
           "train_steps": int(state["step"]), "train_seconds": round(float(state["seconds"]), 1),
           "heldout_photos": list(HELDOUT_PHOTOS), "dtype": "float16"}
    (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    digest = hashlib.sha256((out / WEIGHTS_FILE).read_bytes()).hexdigest()
    (out / SUMS_FILE).write_text(f"{digest}  {WEIGHTS_FILE}\n")
    log(run_dir, "sr-export", out=str(out), sha256=digest, steps=int(state["step"]))
    return out
