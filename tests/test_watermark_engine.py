"""The spread-spectrum watermark engine on real pixels: round trips, attacks, negatives, ECC."""

import io
import math
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from pocketstudio.core.base.errors import WatermarkError
from training.dataset import render_scene
from pocketstudio.provenance.watermark import (ENGINES, DwtDctSvdWatermarker, SpreadSpectrumWatermarker,
                                               WatermarkPayload, all_detectors, make_watermarker, new_asset_id)
from pocketstudio.provenance.watermark import ecc, spread

KEY = bytes.fromhex("a3" * 32)


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """A natural-image stand-in: 1/f noise in luminance and colour, plus hard-edged shapes."""
    rng = np.random.default_rng(seed)
    h, w = min(height, 1024), min(width, 1024)
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij")
    amp = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(h, w))
    chans = []
    for _ in range(3):
        spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
        c = np.fft.irfft2(spec, s=(h, w))
        chans.append((c - c.mean()) / (c.std() + 1e-9))
    lum = chans[0]
    arr = np.stack([lum + 0.4 * chans[1], lum, lum + 0.4 * chans[2]], -1) * 40 + 120
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(8, max(9, min(w, h) // 5))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image.resize((width, height), Image.Resampling.BICUBIC) if (w, h) != (width, height) else image


def scene(width: int, height: int, index: int) -> Image.Image:
    """A generated-like image: the generator's training scenes at their native 128 px, upscaled."""
    return render_scene(11, index, 128).image.resize((width, height), Image.Resampling.LANCZOS)


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    return 10 * math.log10(255.0 ** 2 / max(float(np.mean((x - y) ** 2)), 1e-12))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def crop_area(image: Image.Image, removed: float, x_frac: float, y_frac: float) -> Image.Image:
    w, h = image.size
    k = math.sqrt(1 - removed)
    cw, ch = round(w * k), round(h * k)
    x, y = round((w - cw) * x_frac), round((h - ch) * y_frac)
    return image.crop((x, y, x + cw, y + ch))


ATTACKS = {
    "jpeg50": lambda im: jpeg(im, 50),
    "crop25": lambda im: crop_area(im, 0.25, 0.37, 0.81),
    "resize0.5": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC),
    "grayscale": lambda im: ImageOps.grayscale(im),
    "rotate2": lambda im: im.rotate(2.0, Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)),
}


@pytest.fixture(scope="module")
def wm():
    return SpreadSpectrumWatermarker(KEY)


@pytest.fixture(scope="module")
def marked(wm):
    """(source, marked, id) for a photo-like and a generated-like image at 512² and 1000×700."""
    out = {}
    for name, source in [("photo512", photo_like(512, 512, 1)), ("scene512", scene(512, 512, 3)),
                         ("photo1000x700", photo_like(1000, 700, 2)), ("scene1000x700", scene(1000, 700, 5))]:
        asset = new_asset_id()
        out[name] = (source, wm.embed(source, WatermarkPayload(asset, wm.alg)), asset)
    return out


@pytest.mark.parametrize("size,kind", [((512, 512), "photo"), ((768, 1024), "scene"), ((1000, 700), "photo"),
                                       ((3840, 2160), "photo"), ((2160, 3840), "scene"), ((200, 150), "photo")])
def test_round_trip_at_many_sizes_keeps_pixels_close(wm, size, kind):
    source = photo_like(*size, seed=size[0]) if kind == "photo" else scene(*size, index=size[1] % 50)
    asset = new_asset_id()
    out = wm.embed(source, WatermarkPayload(asset, wm.alg))
    assert out.size == source.size and out.mode == "RGB"
    assert psnr(source, out) >= 38.0
    found = wm.detect(out)
    assert found.found and found.asset_id == asset and found.alg == spread.ALG
    assert found.statistic >= found.threshold and found.tag_bits_matching == spread.TAG_BITS
    assert found.false_positive_rate <= 1e-6 and found.p_value < 1e-6


def test_mark_is_in_luminance_only(wm, marked):
    source, out, _ = marked["photo512"]
    diff = np.asarray(out, dtype=np.int16) - np.asarray(source, dtype=np.int16)
    unclipped = (np.asarray(source) > 20).all(-1) & (np.asarray(source) < 235).all(-1)
    # the same change in R, G and B wherever no channel clipped
    assert np.array_equal(diff[unclipped][:, 0], diff[unclipped][:, 1])
    assert np.array_equal(diff[unclipped][:, 0], diff[unclipped][:, 2])
    assert np.abs(diff).max() > 0


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_survives_common_handling(wm, marked, attack):
    for name, (_, out, asset) in marked.items():
        found = wm.detect(ATTACKS[attack](out))
        assert found.asset_id == asset, f"{name} after {attack}: {found.reason}"


def test_combined_crop_rescale_and_recompression(wm, marked):
    _, out, asset = marked["photo1000x700"]
    attacked = crop_area(out, 0.25, 0.1, 0.9)
    attacked = jpeg(attacked.resize((640, round(640 * attacked.height / attacked.width)), Image.Resampling.BICUBIC), 70)
    assert wm.detect(attacked).asset_id == asset


def test_flips_and_quarter_turns_are_found(wm, marked):
    _, out, asset = marked["scene512"]
    assert wm.detect(out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).asset_id == asset
    assert wm.detect(out.transpose(Image.Transpose.ROTATE_90)).asset_id == asset


def test_other_key_sees_nothing(marked):
    other = SpreadSpectrumWatermarker(os.urandom(32))
    for _, out, _ in marked.values():
        found = other.detect(out)
        assert not found.found and found.asset_id is None
        assert found.reason.startswith("no watermark")


def test_unmarked_flat_tiny_gray_and_odd_images_are_clean_negatives(wm):
    cases = [photo_like(640, 480, 9), scene(512, 512, 7), scene(300, 900, 8),
             Image.new("RGB", (512, 512), (0, 0, 0)), Image.new("RGB", (800, 600), (255, 255, 255)),
             Image.new("L", (300, 300), 128), ImageOps.grayscale(photo_like(400, 400, 4)),
             Image.new("RGB", (40, 40), (10, 20, 30)), Image.new("RGB", (63, 500), (90, 90, 90)),
             Image.new("RGB", (1, 1)), Image.new("RGB", (4000, 70), (1, 2, 3)),
             photo_like(256, 256, 5).convert("RGBA"), photo_like(256, 256, 6).convert("P"),
             Image.fromarray((np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) * 7) % 60000).convert("I;16"),
             jpeg(photo_like(512, 384, 10), 20)]
    for image in cases:
        found = wm.detect(image)
        assert found.found is False and found.asset_id is None, (image.mode, image.size, found.reason)
        assert found.reason.startswith("no watermark")


def test_embedding_keeps_mode_and_alpha_and_refuses_tiny_images(wm):
    asset = new_asset_id()
    gray = ImageOps.grayscale(photo_like(400, 300, 12))
    out = wm.embed(gray, WatermarkPayload(asset, wm.alg))
    assert out.mode == "L" and wm.detect(out).asset_id == asset
    rgba = photo_like(400, 300, 13).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 200))
    out = wm.embed(rgba, WatermarkPayload(asset, wm.alg))
    assert out.mode == "RGBA" and np.all(np.asarray(out)[..., 3] == 200)
    assert wm.detect(out).asset_id == asset
    with pytest.raises(WatermarkError, match="cannot carry the watermark"):
        wm.embed(Image.new("RGB", (63, 400)), WatermarkPayload(asset, wm.alg))


def test_error_correction_fixes_injected_bit_errors(wm):
    rng = np.random.default_rng(3)
    asset = new_asset_id()
    coded = wm.coded_bits(asset)
    assert coded.shape == (spread.N_CODED,)
    hard = 2.0 * coded - 1.0
    for n_errors in (1, 10, 20):  # up to ~7 % of the coded bits, at random places
        flipped = hard.copy()
        flipped[rng.choice(len(hard), n_errors, replace=False)] *= -1
        assert wm.decode_soft(flipped) == asset
    burst = hard.copy()
    burst[100:106] *= -1  # a burst of 6 adjacent errors
    assert wm.decode_soft(burst) == asset
    noisy = hard + rng.normal(0.0, 0.8, hard.shape)  # soft values: ~11 % would be wrong as hard bits
    assert np.mean((noisy > 0) != coded.astype(bool)) > 0.05
    assert wm.decode_soft(noisy) == asset
    # the Viterbi decoder itself, on bare information bits
    info = rng.integers(0, 2, 88).astype(np.uint8)
    word = 2.0 * ecc.encode(info) - 1.0
    word[rng.choice(len(word), 15, replace=False)] *= -1
    decoded, corrected = ecc.viterbi_decode(word, 88)
    assert np.array_equal(decoded, info) and corrected == 15


def test_tag_rejects_what_the_code_cannot_fix(wm):
    rng = np.random.default_rng(4)
    assert all(wm.decode_soft(rng.standard_normal(spread.N_CODED)) is None for _ in range(50))
    other = SpreadSpectrumWatermarker(os.urandom(32))
    assert other.decode_soft(2.0 * wm.coded_bits(new_asset_id()) - 1.0) is None


def test_stated_false_positive_rate_follows_from_the_thresholds():
    bound = (spread.N_HYPOTHESES * math.exp(-spread.Z_THRESHOLD ** 2 / 2)
             + spread.N_LINE_HYPOTHESES * math.exp(-spread.Z_LINE_THRESHOLD ** 2 / 2))
    assert spread.FPR_STATISTIC_BOUND == pytest.approx(bound) and bound <= 1e-6
    assert spread.FPR_TAG_BOUND == pytest.approx(spread.N_DECODES * 2.0 ** -spread.TAG_BITS)
    assert spread.FPR_TAG_BOUND <= 1e-6
    assert spread.FALSE_POSITIVE_RATE <= 1e-6
    assert "Hoeffding" in spread.FPR_CALCULATION


def test_engine_is_registered_and_older_marks_still_detected(marked):
    assert "spread-spectrum" in ENGINES and "dwtdctsvd" in ENGINES
    assert make_watermarker("spread-spectrum", KEY).alg == "io.pocketstudio.watermark.spread-spectrum.v1"
    old = DwtDctSvdWatermarker(KEY)
    asset = new_asset_id()
    old_marked = old.embed(photo_like(512, 512, 20), WatermarkPayload(asset, old.alg))
    results = [d.detect(old_marked) for d in all_detectors(KEY)]
    assert [r.asset_id for r in results if r.found] == [asset]
    assert next(r for r in results if r.found).alg == old.alg
    _, new_marked, new_asset = marked["photo512"]
    results = [d.detect(new_marked) for d in all_detectors(KEY)]
    assert [r.asset_id for r in results if r.found] == [new_asset]
