"""Super-resolution benchmark: quality against bicubic on held-out photos, and time to 2K / 4K.

Run:  .venv/bin/python bench/upscale.py [IMAGE ...] [--runs 3] [--threads N] [--release]

Quality: each image (default: the scikit-image photos held out of SR training, ``chelsea``,
``coffee``, ``motorcycle_left``; or any image files given) is cropped to a multiple of 4, reduced
×2 and ×4 with antialiased bicubic (the degradation of ``training/sr.py``), brought back with
the shipped SR net (1 or 2 tiled ×2 passes) and with plain bicubic (PIL), and compared with the
original: PSNR over RGB and SSIM (scikit-image, per channel), 4 px border shaved.

Time: the embedded model's native image (128² for v0.1, 256² from v0.2 on) brought to 2048² and to 3840×2160 (centre crop to
16:9, tiled SR passes, Lanczos to the exact size) by ``fit_to_size``, ``--runs`` times; with
``--release`` also the whole ``Studio.generate`` at 4K (generation, upscale, face check,
watermark, C2PA signing, store, audit) in a throw-away data directory.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pocketstudio.core.generator.upscale import fit_to_size, load_upscaler
from training.sr import HELDOUT_PHOTOS, downscale, heldout_photo
from hostinfo import cpu_name  # noqa: E402 (bench/ is the script directory)

SHAVE = 4



def psnr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[SHAVE:-SHAVE, SHAVE:-SHAVE].astype(np.float64), b[SHAVE:-SHAVE, SHAVE:-SHAVE].astype(np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    a, b = a[SHAVE:-SHAVE, SHAVE:-SHAVE], b[SHAVE:-SHAVE, SHAVE:-SHAVE]
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def reduce(hr: np.ndarray, factor: int) -> Image.Image:
    t = torch.from_numpy(hr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    lr = downscale(t, factor)[0].permute(1, 2, 0).numpy()
    return Image.fromarray(np.clip(np.rint(lr * 255), 0, 255).astype(np.uint8))


def images(paths: list[str]) -> dict[str, np.ndarray]:
    if not paths:
        return {name: heldout_photo(name) for name in HELDOUT_PHOTOS}
    return {Path(p).name: np.asarray(Image.open(p).convert("RGB")) for p in paths}


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", help="image files (default: the held-out scikit-image photos)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--release", action="store_true", help="also time the whole release flow at 4K")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    up = load_upscaler()  # the release flow's: bf16 residual where the CPU has it
    current = load_upscaler(precision="fp32")  # the earlier all-float32 path, for the side-by-side
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# upscale benchmark: {up.info.name} ({up.info.channels} ch × {up.info.layers} layers, "
          f"{up.info.train_steps} training steps, sha256 {up.info.sha256[:16]}…)")
    print(f"# machine: {platform.node()}, {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"with {args.threads} thread(s), load average {load:.2f} at start; {args.runs} timed runs per row")

    print(f"# SR = the new path ({up.precision} residual); fp32 = the current all-float32 path; "
          "Δ = new - fp32 (must stay above -0.1 dB)")
    print(f"\n{'image':<22} | {'×':>2} | {'bicubic PSNR':>12} | {'SR PSNR':>8} | {'fp32 PSNR':>9} | {'Δ dB':>6} | "
          f"{'gain dB':>7} | {'bicubic SSIM':>12} | {'SR SSIM':>7} | {'fp32 SSIM':>9}")
    print("-" * 124)
    gains = {2: [], 4: []}
    for name, img in images(args.images).items():
        h, w = (img.shape[0] // 4) * 4, (img.shape[1] // 4) * 4
        hr = img[:h, :w]
        for factor in (2, 4):
            lr = reduce(hr, factor)
            bic = np.asarray(lr.resize((w, h), Image.Resampling.BICUBIC))
            sr = np.asarray(up.upscale(lr, factor))
            old = np.asarray(current.upscale(lr, factor))
            pb, ps, po = psnr(hr, bic), psnr(hr, sr), psnr(hr, old)
            gains[factor].append(ps - pb)
            print(f"{name[:22]:<22} | {factor:>2} | {pb:>12.2f} | {ps:>8.2f} | {po:>9.2f} | {ps - po:>+6.3f} | "
                  f"{ps - pb:>+7.2f} | {ssim(hr, bic):>12.4f} | {ssim(hr, sr):>7.4f} | {ssim(hr, old):>9.4f}")
    for factor, g in gains.items():
        print(f"{'mean gain':<22} | {factor:>2} | {'':>12} | {'':>8} | {np.mean(g):>+7.2f} |")

    from pocketstudio.core.generator import load_generator

    native = load_generator().generate("a red circle on the left, on a blue background", seed=0).image
    print(f"\n{'path (native ' + 'x'.join(map(str, native.size)) + ')':<40} | {'median s':>8} | {'min s':>6} | {'max s':>6}")
    print("-" * 70)
    for label, size in (("fit_to_size → 2048×2048", (2048, 2048)), ("fit_to_size → 3840×2160 (4K)", (3840, 2160))):
        for which, net in (("new", up), ("fp32", current)):
            out = fit_to_size(native, *size, net)
            assert out.size == size
            t = timed(lambda: fit_to_size(native, *size, net), args.runs)
            print(f"{label + ' ' + which:<40} | {statistics.median(t):>8.2f} | {min(t):>6.2f} | {max(t):>6.2f}")
    if args.release:
        from pocketstudio.core.base.config import Settings
        from pocketstudio.core.app.studio import GenerationRequest, Studio

        with tempfile.TemporaryDirectory() as home:
            studio = Studio(Settings.load(Path(home) / "home"), upscaler=up)
            req = GenerationRequest(prompt="a red circle on the left, on a blue background", requester="bench",
                                    size=(3840, 2160), seed=0)
            studio.generate(req, Path(home) / "warm.png")
            t = timed(lambda: studio.generate(req, Path(home) / "out.png"), args.runs)
            print(f"{'Studio.generate 4K PNG (all gates)':<40} | {statistics.median(t):>8.2f} | {min(t):>6.2f} | {max(t):>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
