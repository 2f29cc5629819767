"""False positives of the spread-spectrum watermark detector, measured on unmarked images.

    .venv/bin/python bench/watermark_fpr.py              # 10,000 images (~20 min on 2 cores)
    .venv/bin/python bench/watermark_fpr.py --n 500      # a quick look

Every image is one the benchmark key never marked: random crops/rescales of the scikit-image
photos (some re-encoded as JPEG, whose 8-px block grid is periodic), procedural scenes like the
generator's training data, synthetic textures chosen to provoke a periodicity detector (stripes,
checkerboards, grids and dot lattices at many periods and angles, noise, gradients, flat), and
images watermarked by this engine under other keys and by the previous dwtDctSvd engine. Sizes
are random from 64 px to 1024 px, any aspect. The script prints how many were reported as
marked (should be 0), the distribution of the presence statistic against its threshold, and the
calculation behind the stated rate.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import watermark_common as wc  # noqa: E402

KINDS = ["photo-crop", "photo-jpeg", "scene", "texture", "other-key", "other-engine"]
WEIGHTS = [0.30, 0.15, 0.20, 0.20, 0.10, 0.05]

_PHOTOS: list | None = None


def _photos():
    global _PHOTOS
    if _PHOTOS is None:
        _PHOTOS = [np.asarray(im) for _, im in wc.photos()]
    return _PHOTOS


def _random_size(rng, lo=64, hi=1024):
    w = int(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    return w, int(np.clip(round(w * aspect), lo, hi))


def photo_crop(rng) -> Image.Image:
    src = _photos()[int(rng.integers(len(_photos())))]
    h, w = src.shape[:2]
    cw, ch = _random_size(rng, 48, max(64, min(w, h)))
    cw, ch = min(cw, w), min(ch, h)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    im = Image.fromarray(src[y:y + ch, x:x + cw])
    scale = np.exp(rng.uniform(np.log(0.5), np.log(3.0)))
    size = (max(40, round(cw * scale)), max(40, round(ch * scale)))
    return im.resize(size, Image.Resampling.BICUBIC).convert("RGB")


def photo_jpeg(rng) -> Image.Image:
    return wc.jpeg(photo_crop(rng), int(rng.integers(20, 95)))


def scene(rng) -> Image.Image:
    from training.dataset import render_scene

    size = _random_size(rng, 64, 768)
    im = render_scene(int(rng.integers(1 << 30)), int(rng.integers(1 << 20)), 128).image
    out = im.resize(size, Image.Resampling.LANCZOS)
    return wc.jpeg(out, int(rng.integers(30, 95))) if rng.random() < 0.4 else out


def texture(rng) -> Image.Image:
    """Periodic and stochastic patterns: the worst case for a periodicity-based detector."""
    w, h = _random_size(rng, 64, 1024)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = int(rng.integers(7))
    angle = rng.uniform(0, np.pi) if rng.random() < 0.5 else 0.0
    period = float(np.exp(rng.uniform(np.log(3), np.log(160))))
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if kind == 0:  # stripes
        a = np.sign(np.sin(2 * np.pi * u / period))
    elif kind == 1:  # checkerboard / grid
        a = np.sign(np.sin(2 * np.pi * u / period)) * np.sign(np.sin(2 * np.pi * v / period))
    elif kind == 2:  # dot lattice
        a = ((np.mod(u, period) - period / 2) ** 2 + (np.mod(v, period) - period / 2) ** 2 < (period / 4) ** 2) * 2.0 - 1
    elif kind == 3:  # white or smoothed noise
        a = rng.standard_normal((h, w)).astype(np.float32)
        if rng.random() < 0.5:
            import cv2
            a = cv2.GaussianBlur(a, (0, 0), float(rng.uniform(0.5, 4)))
            a /= a.std() + 1e-6
    elif kind == 4:  # gradient
        a = u / max(u.max(), 1) * 2 - 1
    elif kind == 5:  # flat
        a = np.zeros((h, w), np.float32)
    else:  # random rectangles (UI-like)
        img = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 40))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            draw.rectangle([x0, y0, x0 + int(rng.integers(4, w // 2 + 5)), y0 + int(rng.integers(4, h // 2 + 5))],
                           fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        return img
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = (np.clip(a, -3, 3) / 6 + 0.5)[..., None]
    arr = np.clip(c1 * (1 - t) + c2 * t, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    return wc.jpeg(img, int(rng.integers(30, 95))) if rng.random() < 0.3 else img


def other_key(rng) -> Image.Image:
    from pocketstudio.provenance.watermark import WatermarkPayload, new_asset_id
    from pocketstudio.provenance.watermark.spread import SpreadSpectrumWatermarker

    base = photo_crop(rng) if rng.random() < 0.5 else scene(rng)
    if min(base.size) < 64:
        base = base.resize((max(64, base.width), max(64, base.height)))
    wm = SpreadSpectrumWatermarker(rng.bytes(32))
    return wm.embed(base, WatermarkPayload(new_asset_id(), wm.alg))


def other_engine(rng) -> Image.Image:
    from pocketstudio.provenance.watermark import DwtDctSvdWatermarker, WatermarkPayload, new_asset_id

    base = photo_crop(rng)
    if min(base.size) < 256:
        base = base.resize((max(256, base.width), max(256, base.height)))
    wm = DwtDctSvdWatermarker(wc.KEY)
    return wm.embed(base, WatermarkPayload(new_asset_id(), wm.alg))


MAKERS = {"photo-crop": photo_crop, "photo-jpeg": photo_jpeg, "scene": scene, "texture": texture,
          "other-key": other_key, "other-engine": other_engine}

_WM = None


def _task(args):
    index, seed = args
    global _WM
    if _WM is None:
        from pocketstudio.provenance.watermark.spread import SpreadSpectrumWatermarker
        _WM = SpreadSpectrumWatermarker(wc.KEY)
    rng = np.random.default_rng([seed, index])
    kind = KINDS[int(rng.choice(len(KINDS), p=WEIGHTS))]
    image = MAKERS[kind](rng)
    t = time.perf_counter()
    found = _WM.detect(image)
    return (kind, image.size, found.found, found.asset_id, found.statistic, found.reason, time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from pocketstudio.provenance.watermark import spread

    print("# False positives of the spread-spectrum detector on unmarked images")
    print(f"machine    {wc.machine()}")
    busy = wc.others_running()
    print(f"other load {'training run active: ' + busy if busy else 'none of ours'}")
    print(f"images     {args.n}, kinds drawn with weights " + ", ".join(f"{k} {w:.0%}" for k, w in zip(KINDS, WEIGHTS)))
    print()
    print(spread.FPR_CALCULATION)
    print(flush=True)
    started = time.time()
    rows = []
    ctx = mp.get_context("spawn")  # fresh workers: no thread pools inherited from this process
    with ctx.Pool(args.workers) as pool:
        for k, row in enumerate(pool.imap_unordered(_task, [(i, args.seed) for i in range(args.n)], chunksize=8)):
            rows.append(row)
            if (k + 1) % max(1, args.n // 10) == 0:
                print(f"  {k + 1}/{args.n} images, {sum(r[2] for r in rows)} reported as marked, "
                      f"{time.time() - started:.0f} s", flush=True)

    false = [r for r in rows if r[2]]
    z = np.array([r[4] if r[4] is not None else 0.0 for r in rows])
    print()
    print(f"{'kind':13s} {'images':>7s} {'reported':>9s} {'max z':>7s} {'p99.9 z':>8s} {'median z':>9s}")
    for kind in KINDS:
        zk = np.array([r[4] if r[4] is not None else 0.0 for r in rows if r[0] == kind])
        if len(zk):
            print(f"{kind:13s} {len(zk):7d} {sum(r[2] for r in rows if r[0] == kind):9d} {zk.max():7.2f} "
                  f"{np.quantile(zk, 0.999):8.2f} {np.median(zk):9.2f}")
    print(f"{'all':13s} {len(rows):7d} {len(false):9d} {z.max():7.2f} {np.quantile(z, 0.999):8.2f} {np.median(z):9.2f}")
    flat = sum(1 for r in rows if r[4] is None)
    print(f"\n(statistic 0 above: {flat} images answered before any statistic: flat, too small or too narrow)")
    print(f"thresholds: z >= {spread.Z_THRESHOLD} (key-independent lattices), >= {spread.Z_LINE_THRESHOLD} (line search)")
    n = len(rows)
    print(f"\nFALSE DETECTIONS: {len(false)} of {n} unmarked images")
    if not false:
        print(f"  95 % upper confidence bound on the per-image rate from 0/{n}: {3 / n:.1e} (rule of three); "
              f"the design bound is {spread.FALSE_POSITIVE_RATE:.1e}")
    for r in false[:20]:
        print(f"  {r[0]} {r[1]}: id {r[3]}, {r[5]}")
    times = np.array([r[6] for r in rows])
    print(f"detect time on unmarked images: median {np.median(times):.3f} s, max {times.max():.3f} s "
          f"({args.workers} workers in parallel)")
    print(f"total wall time {time.time() - started:.0f} s")
    return 1 if false else 0


if __name__ == "__main__":
    raise SystemExit(main())
