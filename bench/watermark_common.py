"""Shared pieces of the watermark benchmarks: test images, attacks, engines under test, metrics.

Images
    ``photos()``: the photographs that ship inside scikit-image's wheel (no download).
    ``generated(n)``: the embedded generator's outputs when its model is trained
    (``load_generator(None)``), otherwise the training set's procedural scenes rendered at the
    generator's native 128 px (what the model learns to imitate); the caller is told which.
    ``fit(image, size)``: centre crop to the target aspect, then Lanczos resize (up or down).

Attacks (``ATTACKS``, in table order) are functions ``(PIL RGB image, numpy Generator) -> PIL``.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import io
import math
import os
import platform
import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from hostinfo import cpu_name  # noqa: E402 (bench/ is the script directory)

KEY = bytes.fromhex("5f3c1a9e0b7d2468ace13579bdf02468" * 2)  # fixed benchmark key

SIZES = {"512²": (512, 512), "1024²": (1024, 1024), "2048²": (2048, 2048), "3840×2160": (3840, 2160)}

PHOTO_NAMES = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "hubble_deep_field",
               "retina", "motorcycle_left", "motorcycle_right", "immunohistochemistry", "brick", "grass",
               "gravel", "cell"]


# ------------------------------------------------------------------------------------------------
# Images


def photos(names: list[str] | None = None) -> list[tuple[str, Image.Image]]:
    import skimage.data as data

    out = []
    for name in names or PHOTO_NAMES:
        if name.startswith("motorcycle_"):
            left, right, _ = data.stereo_motorcycle()
            arr = left if name.endswith("left") else right
        else:
            arr = getattr(data, name)()
        image = Image.fromarray(np.asarray(arr))
        out.append((name, image.convert("RGB")))
    return out


def generated(n: int, seed: int = 2024) -> tuple[str, list[tuple[str, Image.Image]]]:
    """n generated-like images and a sentence saying where they came from: half outputs of the
    embedded generator (when its model is installed), half procedural scenes of its training set
    at its native 128 px (what the model learns to imitate); all scenes without the model."""
    from training.dataset import render_scene

    try:
        from pocketstudio.core.generator import load_generator

        gen = load_generator(None)
        try:
            import json

            stages = json.loads((gen.model_dir / "pocketstudio.json").read_text())["training"]["stages"]
        except Exception:
            stages = {}
    except Exception as exc:  # model not trained/installed yet
        images = [(f"scene{i:02d}", render_scene(seed, i, 128).image.convert("RGB")) for i in range(n)]
        return (f"procedural scenes from the generator's training set at its native 128 px "
                f"(the embedded model is not available: {type(exc).__name__})"), images
    n_gen = n // 2
    images = []
    for i in range(n_gen):
        prompt = render_scene(seed, i, 128).caption
        images.append((f"gen{i:02d}", gen.generate(prompt, steps=4, seed=seed + i).image.convert("RGB")))
    images += [(f"scene{i:02d}", render_scene(seed, i, 128).image.convert("RGB")) for i in range(n_gen, n)]
    steps = ", ".join(f"{k} {v.get('steps', '?')} steps" for k, v in stages.items() if isinstance(v, dict) and "steps" in v)
    return (f"{n_gen} outputs of the embedded generator ({gen.model_name}, sha256 {gen.model_sha256[:12]}, "
            f"{steps or 'training record not found'}; 4 steps, native {gen.native_size} px, prompts = the scenes' "
            f"captions) + {n - n_gen} procedural scenes of its training set (native 128 px)"), images


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the aspect ratio of ``size`` and resize to it (Lanczos)."""
    w, h = image.size
    tw, th = size
    if w * th > h * tw:  # too wide
        nw = round(h * tw / th)
        image = image.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    else:
        nh = round(w * th / tw)
        image = image.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    return image.resize(size, Image.Resampling.LANCZOS)


# ------------------------------------------------------------------------------------------------
# Attacks


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def crop_area(image: Image.Image, removed: float, rng: np.random.Generator) -> Image.Image:
    """Remove ``removed`` of the area: keep a window of the same aspect at a random position."""
    w, h = image.size
    k = math.sqrt(1.0 - removed)
    cw, ch = max(1, round(w * k)), max(1, round(h * k))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return image.crop((x, y, x + cw, y + ch))


def resize(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)


def screenshot(image: Image.Image) -> Image.Image:
    """Resize to 1280 px wide (as a screenshot or a social-media re-encode does), then JPEG 85."""
    w, h = image.size
    return jpeg(image.resize((1280, max(1, round(h * 1280 / w))), Image.Resampling.BICUBIC), 85)


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate about the centre, same canvas, black corners (bicubic)."""
    return image.rotate(degrees, Image.Resampling.BICUBIC, expand=False, fillcolor=(0, 0, 0))


def blur(image: Image.Image, sigma: float) -> Image.Image:
    return Image.fromarray(cv2.GaussianBlur(np.asarray(image.convert("RGB")), (0, 0), sigma))


def noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    arr = arr + rng.normal(0.0, sigma, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def grayscale(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


Attack = Callable[[Image.Image, np.random.Generator], Image.Image]

ATTACKS: dict[str, Attack] = {
    "none": lambda im, rng: im,
    "jpeg90": lambda im, rng: jpeg(im, 90),
    "jpeg75": lambda im, rng: jpeg(im, 75),
    "jpeg50": lambda im, rng: jpeg(im, 50),
    "jpeg30": lambda im, rng: jpeg(im, 30),
    "half": lambda im, rng: resize(im, 0.5),
    "half+up": lambda im, rng: resize(resize(im, 0.5), 2.0),
    "crop10": lambda im, rng: crop_area(im, 0.10, rng),
    "crop25": lambda im, rng: crop_area(im, 0.25, rng),
    "crop50": lambda im, rng: crop_area(im, 0.50, rng),
    "shot": lambda im, rng: screenshot(im),
    "gray": lambda im, rng: grayscale(im),
    "bright1.2": lambda im, rng: ImageEnhance.Brightness(im).enhance(1.2),
    "contr0.8": lambda im, rng: ImageEnhance.Contrast(im).enhance(0.8),
    "blur1": lambda im, rng: blur(im, 1.0),
    "noise5": lambda im, rng: noise(im, 5.0, rng),
    "rot2": lambda im, rng: rotate(im, 2.0),
    "rot5": lambda im, rng: rotate(im, 5.0),
    "combo": lambda im, rng: jpeg(screenshot(crop_area(im, 0.25, rng)), 70),
}

ATTACK_DOC = """\
none       the marked image as is (lossless)
jpeg90..30 JPEG re-encode at quality 90 / 75 / 50 / 30 (Pillow, 4:2:0)
half       resize to 0.5 (bicubic) and decode at the small size
half+up    resize to 0.5 and back to the original size
crop10..50 remove 10 / 25 / 50 % of the area: keep a same-aspect window at a random position
shot       screenshot: resize to 1280 px wide (bicubic) + JPEG 85
gray       grayscale (ITU-R 601 luma), stored as RGB
bright1.2  brightness +20 % (PIL ImageEnhance.Brightness 1.2)
contr0.8   contrast 0.8 (PIL ImageEnhance.Contrast)
blur1      Gaussian blur sigma 1 px
noise5     additive Gaussian noise sigma 5 per RGB channel
rot2, rot5 rotation by 2 / 5 degrees about the centre, same canvas, black corners
combo      crop 25 % of the area, then screenshot (1280 wide + JPEG 85), then JPEG 70"""


# ------------------------------------------------------------------------------------------------
# Engines under test


@dataclass
class Engine:
    name: str
    bits: int
    embed: Callable[[Image.Image, int], Image.Image]   # (RGB image, payload as int) -> marked RGB
    decode: Callable[[Image.Image], int | None]        # attacked image -> payload as int, or None
    max_pixels: int | None = None                       # skip sizes above this


def ours() -> Engine:
    from pocketstudio.provenance.watermark import WatermarkPayload
    from pocketstudio.provenance.watermark.spread import SpreadSpectrumWatermarker

    wm = SpreadSpectrumWatermarker(KEY)

    def embed(image, payload):
        return wm.embed(image, WatermarkPayload(f"{payload:016x}", wm.alg))

    def decode(image):
        found = wm.detect(image)
        return int(found.asset_id, 16) if found.found else None

    return Engine("ours (spread-spectrum v1)", 64, embed, decode)


def _bits(payload: int, n: int) -> list[int]:
    return [(payload >> (n - 1 - i)) & 1 for i in range(n)]


def imwatermark(method: str, bits: int, max_pixels: int | None = None) -> Engine:
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    if method == "rivaGan":
        WatermarkEncoder.loadModel()

    def embed(image, payload):
        enc = WatermarkEncoder()
        enc.set_watermark("bits", _bits(payload, bits))
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        out = enc.encode(bgr, method)
        return Image.fromarray(np.ascontiguousarray(out[:, :, ::-1]))

    def decode(image):
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        try:
            got = WatermarkDecoder("bits", bits).decode(bgr, method)
        except Exception:
            return None
        value = 0
        for b in got:
            value = (value << 1) | int(bool(b))
        return value

    return Engine(f"{method} ({bits}-bit)", bits, embed, decode, max_pixels)


def previous_default() -> Engine:
    from pocketstudio.provenance.watermark import DwtDctSvdWatermarker, WatermarkPayload

    wm = DwtDctSvdWatermarker(KEY)

    def embed(image, payload):
        return wm.embed(image, WatermarkPayload(f"{payload:016x}", wm.alg))

    def decode(image):
        found = wm.detect(image)
        return int(found.asset_id, 16) if found.found else None

    return Engine("dwtDctSvd-Y (previous default)", 64, embed, decode)


def make_engine(name: str) -> Engine:
    if name == "ours":
        return ours()
    if name == "dwtDct":
        return imwatermark("dwtDct", 64)
    if name == "dwtDctSvd":
        return imwatermark("dwtDctSvd", 64)
    if name == "dwtDct32":
        return imwatermark("dwtDct", 32)
    if name == "dwtDctSvd32":
        return imwatermark("dwtDctSvd", 32)
    if name == "rivaGan":
        return imwatermark("rivaGan", 32, max_pixels=1024 * 1024)
    if name == "previous":
        return previous_default()
    raise ValueError(f"unknown engine {name}")


# ------------------------------------------------------------------------------------------------
# Metrics and machine


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the luminance (Gaussian window sigma 1.5, K1=0.01, K2=0.03)."""
    x = np.asarray(a.convert("L"), dtype=np.float32)
    y = np.asarray(b.convert("L"), dtype=np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = g(x), g(y)
    sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def machine() -> str:
    model = cpu_name()
    n = os.cpu_count()
    avail = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else n
    return f"{model}, {avail} usable CPU cores ({n} visible), Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}"


def others_running() -> str | None:
    """Another heavy job on this machine (the model training run), which would skew timings."""
    try:
        import subprocess

        out = subprocess.run(["pgrep", "-af", "training"], capture_output=True, text=True).stdout
        lines = [ln for ln in out.splitlines() if "pgrep" not in ln]
        return lines[0][:120] if lines else None
    except Exception:
        return None


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t
