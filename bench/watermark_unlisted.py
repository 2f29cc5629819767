"""The default watermark engine against handling that bench/watermark.py does not list, on images it never uses.

    .venv/bin/python bench/watermark_unlisted.py                 # 1024², ~2 min on 2 cores
    .venv/bin/python bench/watermark_unlisted.py --size 3840 2160

bench/watermark.py measures the issue's attack list on its own image set; this script is the
out-of-sample check: other scikit-image pictures (colour wheel, clock, logo, text: synthetic,
flat and edge-dominated content), procedural scenes from a seed the training set does not use,
and 27 kinds of handling outside that list (flips and quarter turns, other rotation angles and
an expanding rotation, aspect changes, heavy JPEG, WebP, median/sharpen filters, gamma and
saturation changes, wide and padded crops, a caption overlay, a phone-sized screenshot, stronger
noise and blur, and chains of them). A cell counts the images whose exact 64-bit id came back.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import watermark_common as wc  # noqa: E402


def _webp(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "WEBP", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _pad(im: Image.Image, frac: float) -> Image.Image:
    w, h = im.size
    out = Image.new("RGB", (int(w * (1 + 2 * frac)), int(h * (1 + 2 * frac))), (255, 255, 255))
    out.paste(im, (int(w * frac), int(h * frac)))
    return out


def _caption(im: Image.Image) -> Image.Image:
    im = im.copy()
    draw = ImageDraw.Draw(im)
    w, h = im.size
    draw.rectangle([0, int(h * 0.85), w, h], fill=(0, 0, 0))
    draw.text((10, int(h * 0.87)), "@someone  #nofilter  shared from app", fill=(255, 255, 255))
    return im


def _gamma(im: Image.Image, g: float) -> Image.Image:
    return Image.fromarray((255 * (np.asarray(im) / 255.0) ** g).astype(np.uint8))


ATTACKS = {
    "hflip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rot90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rot1": lambda im: wc.rotate(im, 1),
    "rot3": lambda im: wc.rotate(im, 3),
    "rot8": lambda im: wc.rotate(im, 8),
    "rot4-expand": lambda im: im.rotate(4, Image.Resampling.BICUBIC, expand=True),
    "aspect0.8": lambda im: im.resize((im.width, int(im.height * 0.8)), Image.Resampling.BICUBIC),
    "aspect0.95": lambda im: im.resize((int(im.width * 0.95), im.height), Image.Resampling.BICUBIC),
    "down0.3": lambda im: wc.resize(im, 0.3),
    "up1.5": lambda im: wc.resize(im, 1.5),
    "jpeg20": lambda im: wc.jpeg(im, 20),
    "jpeg10": lambda im: wc.jpeg(im, 10),
    "webp50": lambda im: _webp(im, 50),
    "median3": lambda im: im.filter(ImageFilter.MedianFilter(3)),
    "sharpen": lambda im: im.filter(ImageFilter.SHARPEN),
    "gamma0.7": lambda im: _gamma(im, 0.7),
    "desaturate": lambda im: ImageEnhance.Color(im).enhance(0.0),
    "saturate1.5": lambda im: ImageEnhance.Color(im).enhance(1.5),
    "crop75": lambda im: wc.crop_area(im, 0.75, np.random.default_rng(1)),
    "crop-band": lambda im: im.crop((0, int(im.height * 0.3), im.width, int(im.height * 0.7))),
    "pad10": lambda im: _pad(im, 0.1),
    "caption": _caption,
    "shot720": lambda im: wc.jpeg(im.resize((720, round(im.height * 720 / im.width)), Image.Resampling.BICUBIC), 80),
    "noise10": lambda im: wc.noise(im, 10, np.random.default_rng(2)),
    "blur2": lambda im: wc.blur(im, 2.0),
    "crop+rot3+jpeg60": lambda im: wc.jpeg(wc.rotate(wc.crop_area(im, 0.3, np.random.default_rng(3)), 3), 60),
    "jpeg-twice-shift": lambda im: wc.jpeg(wc.jpeg(im, 80).crop((3, 5, im.width, im.height)), 70),
}


def images() -> list[tuple[str, Image.Image]]:
    import skimage.data as sd

    from training.dataset import render_scene

    out = [(name, Image.fromarray(np.asarray(getattr(sd, name)())[..., :3] if name == "logo"
                                  else np.asarray(getattr(sd, name)())).convert("RGB"))
           for name in ("colorwheel", "clock", "logo", "text")]
    out += [(f"scene(seed 99, #{i})", render_scene(99, i, 128).image) for i in range(4)]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", nargs=2, type=int, default=(1024, 1024), metavar=("W", "H"))
    args = ap.parse_args(argv)

    from pocketstudio.provenance.watermark import WatermarkPayload, new_asset_id
    from pocketstudio.provenance.watermark.spread import SpreadSpectrumWatermarker

    wm = SpreadSpectrumWatermarker(wc.KEY)
    pics = images()
    size = tuple(args.size)
    print("# Watermark: handling outside bench/watermark.py's list, images outside its set")
    print(f"machine  {wc.machine()}; 1-min load average {os.getloadavg()[0]:.2f} at the start")
    print(f"engine   {wm.alg}; size {size[0]}x{size[1]}; {len(pics)} images: {', '.join(n for n, _ in pics)}")
    started = time.time()
    ok = {a: 0 for a in ATTACKS}
    rows = []
    for name, source in pics:
        image = wc.fit(source, size)
        asset = new_asset_id()
        marked = wm.embed(image, WatermarkPayload(asset, wm.alg))
        misses = [a for a, fn in ATTACKS.items() if wm.detect(fn(marked)).asset_id != asset]
        for a in ATTACKS:
            ok[a] += a not in misses
        rows.append((name, wc.psnr(image, marked), misses))
    print(f"\n{'image':24s} {'PSNR dB':>8s}  missed")
    for name, p, misses in rows:
        print(f"{name:24s} {p:8.2f}  {', '.join(misses) or '-'}")
    print(f"\n{'attack':18s} exact id")
    for a, k in ok.items():
        print(f"{a:18s} {k}/{len(pics)}")
    total = sum(ok.values())
    print(f"\nruns: {len(pics)} images x {len(ATTACKS)} attacks = {len(pics) * len(ATTACKS)} decodes, "
          f"{total} exact ({100 * total / (len(pics) * len(ATTACKS)):.1f} %); wall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
