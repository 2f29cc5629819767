"""The learned super-resolution stage that brings native generations to 2K / 4K.

``SRNet`` doubles the side of an RGB image: a small conv body predicts, through a pixel shuffle,
the residual over bicubic interpolation (``out = bicubic×2(x) + shuffle(body(x))``; the last conv
starts near zero, so an untrained net is bicubic). It is applied repeatedly (×2, ×4, ×8 …)
and always tiled: each input tile carries a margin wider than the net's receptive field, so the
tiled result equals the whole-image result while memory stays bounded by the tile size.

The weights ship in ``upscaler/`` (fp16 safetensors, ``config.json``, ``SHA256SUMS``) and are
trained by ``python -m training sr`` (see ``training/README.md``).

``fit_to_size(image, width, height, upscaler)`` is what the release flow calls: centre-crop the
native image to the target aspect ratio, then super-resolve (or downscale) it to exactly
``width``×``height``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..base.errors import GenerationError, ModelLoadError

UPSCALER_DIR = Path(__file__).resolve().parent / "upscaler"
WEIGHTS_FILE = "sr_x2.safetensors"
CONFIG_FILE = "config.json"
SUMS_FILE = "SHA256SUMS"
DEFAULT_TILE = 512  # input pixels per tile side (before the margin): ~150 MB of activations
MAX_PASSES = 6  # 64× at most: 64 px → 4096 px
NEGATIVE_SLOPE = 0.1


def build_net(channels: int = 32, layers: int = 3):
    """The ×2 network; module names are the weight file's keys."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SRNet(nn.Module):
        scale = 2

        def __init__(self):
            super().__init__()
            convs = [nn.Conv2d(3, channels, 3, padding=1)]
            convs += [nn.Conv2d(channels, channels, 3, padding=1) for _ in range(layers)]
            self.body = nn.ModuleList(convs)
            self.tail = nn.Conv2d(channels, 3 * self.scale**2, 3, padding=1)
            # near zero, so an untrained net is almost exactly bicubic (exactly zero would leave
            # the body without gradient at the first step)
            nn.init.normal_(self.tail.weight, std=1e-3)
            nn.init.zeros_(self.tail.bias)
            # Receptive-field radius in input pixels: one per 3×3 conv; bicubic reaches 2.
            self.reach = max(len(convs) + 1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.residual(x)

        def base(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)

        def residual(self, x: torch.Tensor) -> torch.Tensor:
            h = x - 0.5
            for conv in self.body:
                # leaky: with plain ReLU the body died early in training (all units negative)
                h = F.leaky_relu(conv(h), NEGATIVE_SLOPE)
            return F.pixel_shuffle(self.tail(h), self.scale)

    return SRNet()


@dataclass(frozen=True)
class UpscalerInfo:
    name: str
    channels: int
    layers: int
    sha256: str  # of the weights file
    train_steps: int | None


class Upscaler:
    """A loaded SR net. ``upscale`` takes PIL images; use :func:`load_upscaler` to make one."""

    def __init__(self, net, info: UpscalerInfo, tile: int = DEFAULT_TILE, precision: str | None = None):
        if tile < 16:
            raise GenerationError(f"tile must be at least 16 pixels, got {tile}")
        import torch

        # The residual body in bfloat16 where the CPU computes it natively (AMX / AVX-512 BF16:
        # ~3x faster per tile here); the bicubic base and the sum stay in float32, so the result
        # moves by at most about one level (bench/upscale.py prints both paths' PSNR).
        if precision is None:
            precision = "bf16" if _cpu_has_fast_bf16() else "fp32"
        if precision not in ("bf16", "fp32"):
            raise GenerationError(f"precision must be bf16 or fp32, got {precision!r}")
        self.precision = precision

        # channels-last convolutions run ~1.5x faster on CPU (oneDNN) at these tile sizes
        self.net = net.eval().to(memory_format=torch.channels_last)
        self.info = info
        self.tile = int(tile)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Upscaler({self.info.name!r}, sha256={self.info.sha256[:12]}…, tile={self.tile})"

    # --- one ×2 pass -------------------------------------------------------------------------

    def double(self, x: np.ndarray) -> np.ndarray:
        """One ×2 pass over an ``H×W×3`` float32 array in [0, 1], tile by tile."""
        import torch

        if x.ndim != 3 or x.shape[2] != 3:
            raise GenerationError(f"expected an H×W×3 image array, got shape {x.shape}")
        h, w, _ = x.shape
        s, m, t = self.net.scale, self.net.reach + 1, self.tile
        out = np.empty((h * s, w * s, 3), dtype=np.float32)
        src = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            for y0 in range(0, h, t):
                for x0 in range(0, w, t):
                    y1, x1 = min(y0 + t, h), min(x0 + t, w)
                    # the tile plus a margin the net's receptive field cannot see past
                    ya, xa = max(y0 - m, 0), max(x0 - m, 0)
                    yb, xb = min(y1 + m, h), min(x1 + m, w)
                    y = self._pass(src[:, :, ya:yb, xa:xb].contiguous(memory_format=torch.channels_last))[0]
                    y = y[:, (y0 - ya) * s:(y0 - ya + y1 - y0) * s, (x0 - xa) * s:(x0 - xa + x1 - x0) * s]
                    out[y0 * s:y1 * s, x0 * s:x1 * s] = y.clamp_(0.0, 1.0).permute(1, 2, 0).numpy()
        return out

    def _pass(self, tile):
        import torch

        if self.precision == "fp32":
            return self.net(tile)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            residual = self.net.residual(tile)
        return self.net.base(tile) + residual.float()

    def upscale(self, image: Image.Image, factor: int = 2) -> Image.Image:
        """``image`` enlarged by ``factor`` (a power of two) with repeated ×2 passes."""
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2 or factor & (factor - 1):
            raise GenerationError(f"factor must be a power of two ≥ 2, got {factor!r}")
        passes = int(math.log2(factor))
        if passes > MAX_PASSES:
            raise GenerationError(f"factor {factor} needs more than {MAX_PASSES} passes")
        x = to_array(image)
        with self._lock:
            for _ in range(passes):
                x = self.double(x)
        return to_image(x)

    def to_size(self, image: Image.Image, width: int, height: int) -> Image.Image:
        """``image`` brought to exactly ``width``×``height`` (same aspect ratio expected): as many
        ×2 passes as needed to reach at least that size, then a Lanczos reduction to it."""
        w, h = image.size
        passes = 0
        while w << passes < width or h << passes < height:
            passes += 1
        if passes > MAX_PASSES:
            raise GenerationError(f"{w}×{h} → {width}×{height} needs more than {MAX_PASSES} ×2 passes")
        if passes:
            image = self.upscale(image, 2**passes)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        return image


def to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def to_image(x: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8), "RGB")


def centre_crop_to_aspect(image: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred crop of ``image`` with the aspect ratio ``width``:``height``."""
    w, h = image.size
    if w * height > h * width:  # too wide: keep the full height
        cw, ch = max(1, round(h * width / height)), h
    else:
        cw, ch = w, max(1, round(w * height / width))
    left, top = (w - cw) // 2, (h - ch) // 2
    return image if (cw, ch) == (w, h) else image.crop((left, top, left + cw, top + ch))


def fit_to_size(image: Image.Image, width: int, height: int, upscaler) -> Image.Image:
    """The release flow's resize: crop to the target aspect, then learned SR up (or Lanczos down).

    ``upscaler``: an :class:`Upscaler`, a zero-argument callable returning one (called only when
    the image must grow), or None (then growing is refused).
    """
    image = centre_crop_to_aspect(image.convert("RGB"), width, height)
    if image.size == (width, height):
        return image
    if image.width >= width and image.height >= height:
        return image.resize((width, height), Image.Resampling.LANCZOS)
    if upscaler is None:
        raise GenerationError(f"{image.width}×{image.height} → {width}×{height} needs the super-resolution stage")
    if not isinstance(upscaler, Upscaler):
        upscaler = upscaler()
    return upscaler.to_size(image, width, height)


def _cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively here (AMX or AVX-512 BF16)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_upscaler(path: str | Path | None = None, tile: int = DEFAULT_TILE, precision: str | None = None) -> Upscaler:
    """Load the SR weights folder (the shipped one when ``path`` is None), checking the weight
    file against its ``SHA256SUMS`` line. Raises :class:`ModelLoadError`."""
    import torch
    from safetensors.torch import load_file

    folder = Path(UPSCALER_DIR if path is None else path).expanduser()
    weights, cfg_path, sums = folder / WEIGHTS_FILE, folder / CONFIG_FILE, folder / SUMS_FILE
    for p in (weights, cfg_path, sums):
        if not p.is_file():
            raise ModelLoadError(f"super-resolution folder {folder} lacks {p.name}")
    listed = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, _, rel = line.partition("  ")
            listed[rel.strip()] = digest.strip()
    digest = _sha256(weights)
    if listed.get(WEIGHTS_FILE) != digest:
        raise ModelLoadError(f"{weights} does not match its SHA256SUMS entry (corrupt or replaced weights)")
    try:
        cfg = json.loads(cfg_path.read_text())
        net = build_net(int(cfg["channels"]), int(cfg["layers"]))
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the super-resolution net from {folder}: {type(exc).__name__}: {exc}") from exc
    info = UpscalerInfo(name=str(cfg.get("name", folder.name)), channels=int(cfg["channels"]),
                        layers=int(cfg["layers"]), sha256=digest, train_steps=cfg.get("train_steps"))
    return Upscaler(net.to(torch.float32), info, tile=tile, precision=precision)
