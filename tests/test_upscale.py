"""The learned super-resolution stage of the 2K/4K path: shipped weights, quality against bicubic
on a photo held out of its training, exact tiling, sizing, and a 2048² release that verifies."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.base.errors import GenerationError, ModelLoadError
from pocketstudio.core.generator.upscale import (UPSCALER_DIR, WEIGHTS_FILE, Upscaler, centre_crop_to_aspect,
                                                 fit_to_size, load_upscaler, to_array)
from pocketstudio.core.app.studio import GenerationRequest, Studio, output_size, parse_size
from training.sr import HELDOUT_PHOTOS, TRAIN_PHOTOS, downscale, heldout_photo

from .conftest import NOW


@pytest.fixture(scope="module")
def up() -> Upscaler:
    return load_upscaler()


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 4) -> float:
    a = a[shave:-shave, shave:-shave].astype(np.float64)
    b = b[shave:-shave, shave:-shave].astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def reduce2(hr: np.ndarray) -> Image.Image:
    t = torch.from_numpy(hr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return Image.fromarray(np.rint(downscale(t, 2)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))


# --- the shipped weights ------------------------------------------------------------------------


def test_shipped_weights_load_and_match_their_sha256(up):
    listed = dict(reversed(line.split("  ", 1)) for line in (UPSCALER_DIR / "SHA256SUMS").read_text().splitlines())
    digest = hashlib.sha256((UPSCALER_DIR / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert listed == {WEIGHTS_FILE: digest}
    assert up.info.sha256 == digest
    cfg = json.loads((UPSCALER_DIR / "config.json").read_text())
    assert (up.info.channels, up.info.layers, up.info.train_steps) == (cfg["channels"], cfg["layers"], cfg["train_steps"])
    assert up.info.train_steps > 0
    assert (UPSCALER_DIR / WEIGHTS_FILE).stat().st_size < 256 * 1024
    # trained: the residual head is no longer the zero it starts from (which would be plain bicubic)
    assert up.net.tail.weight.abs().max() > 0


def test_heldout_photos_are_not_training_photos():
    assert not set(HELDOUT_PHOTOS) & set(TRAIN_PHOTOS)
    assert "cat" not in TRAIN_PHOTOS  # skimage's cat is chelsea


def test_sr_beats_bicubic_psnr_on_a_heldout_photo(up):
    hr = heldout_photo("chelsea")
    hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
    lr = reduce2(hr)
    bicubic = np.asarray(lr.resize((hr.shape[1], hr.shape[0]), Image.Resampling.BICUBIC))
    sr = np.asarray(up.upscale(lr, 2))
    assert sr.shape == hr.shape
    gain = psnr(hr, sr) - psnr(hr, bicubic)
    assert gain > 0.5, gain


def test_corrupt_or_missing_weights_raise_model_load_error(tmp_path):
    copy = shutil.copytree(UPSCALER_DIR, tmp_path / "sr")
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="SHA256SUMS"):
        load_upscaler(copy)
    (copy / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelLoadError, match=WEIGHTS_FILE):
        load_upscaler(copy)


# --- tiling, passes, sizing ------------------------------------------------------------------


def test_tiled_result_equals_whole_image_result(up):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).resize((90, 70), Image.Resampling.BICUBIC)
    small_tiles = Upscaler(up.net, up.info, tile=16, precision="fp32")
    one_tile = Upscaler(up.net, up.info, tile=4096, precision="fp32")
    a, b = small_tiles.double(to_array(img)), one_tile.double(to_array(img))
    assert a.shape == (140, 180, 3)
    assert np.abs(a - b).max() < 1e-5
    # the bfloat16 residual (issue 22's 4K path) stays within about one level of the float32 result
    fast = Upscaler(up.net, up.info, tile=16, precision="bf16").double(to_array(img))
    assert np.abs(fast - b).max() < 1.5 / 255


def test_upscale_factor_is_a_power_of_two(up):
    img = Image.new("RGB", (20, 10), (10, 200, 30))
    assert up.upscale(img, 4).size == (80, 40)
    for bad in (3, 1, 0, 2.0, True):
        with pytest.raises(GenerationError, match="factor"):
            up.upscale(img, bad)


def test_flat_colour_stays_flat(up):
    out = np.asarray(up.upscale(Image.new("RGB", (24, 24), (200, 40, 90)), 4)).astype(int)
    assert np.abs(out - [200, 40, 90]).max() <= 2


def test_fit_to_size_crops_to_aspect_then_reaches_the_exact_size(up):
    rng = np.random.default_rng(1)
    native = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert centre_crop_to_aspect(native, 16, 9).size == (64, 36)
    out = fit_to_size(native, 300, 170, up)
    assert out.size == (300, 170)
    assert fit_to_size(native, 32, 32, None).size == (32, 32)  # down: no SR needed
    with pytest.raises(GenerationError, match="super-resolution"):
        fit_to_size(native, 256, 256, None)
    called = []
    fit_to_size(native, 32, 32, lambda: called.append(1))
    assert not called  # the factory is only called when the image has to grow


@pytest.mark.parametrize("text,expected", [("4k", (3840, 2160)), ("4K", (3840, 2160)), ("2048", 2048),
                                           ("640x360", (640, 360)), (None, None), (512, 512)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["huge", "12x", "x9"])
def test_parse_size_refuses_nonsense(bad):
    with pytest.raises(GenerationError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize("size", [(5000, 100), (100, 32), 4097, 63, (100.0, 100), (1, 2, 3)])
def test_output_size_limits(size):
    with pytest.raises(GenerationError, match="size"):
        output_size(size)


# --- through the release flow ------------------------------------------------------------------


def verify(studio, data: bytes):
    from pocketstudio.provenance.verify import Verifier
    from pocketstudio.provenance.watermark import all_detectors

    return Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit).verify_bytes(data)


def test_non_square_release_is_upscaled_and_names_the_sr_net(settings, tiny_generator, up, tmp_path):
    from pocketstudio.provenance.verify import Status

    studio = Studio(settings, generator=tiny_generator, upscaler=up)
    release = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", size=(320, 180), seed=2),
                              tmp_path / "wide.png", now=NOW)
    assert (release.width, release.height) == (320, 180)
    assert Image.open(tmp_path / "wide.png").size == (320, 180)
    verdict = verify(studio, release.data)
    assert verdict.status is Status.TRUSTED
    generation = _generation_assertion(release.data)
    assert generation["upscaler"] == {"name": up.info.name, "sha256": up.info.sha256}
    assert generation["native_size"] == {"width": 64, "height": 64} and (generation["width"], generation["height"]) == (320, 180)


def _generation_assertion(data: bytes) -> dict:
    import io

    import c2pa

    from pocketstudio.provenance.manifest import GENERATION_LABEL, assertion

    reader = c2pa.Reader.try_create("image/png", io.BytesIO(data))
    return assertion(reader.get_active_manifest(), GENERATION_LABEL)


@pytest.mark.slow
def test_cli_generate_2048_with_the_embedded_model_verifies_trusted(tmp_path):
    from pocketstudio.core.app.cli import app

    home, out = tmp_path / "home", tmp_path / "big.png"
    runner = CliRunner()
    gen = runner.invoke(app, ["generate", "a red circle on the left, on a blue background", "-o", str(out),
                              "--size", "2048", "--seed", "3", "--home", str(home), "--json"], catch_exceptions=False)
    assert gen.exit_code == 0, gen.output
    result = json.loads(gen.stdout.strip().splitlines()[-1])
    assert result["size"] == [2048, 2048]
    assert Image.open(out).size == (2048, 2048)
    from pocketstudio.core.base.config import Settings
    from pocketstudio.provenance.verify import Status

    verdict = verify(Studio(Settings.load(home)), out.read_bytes())
    assert verdict.status is Status.TRUSTED
    assert verdict.asset_id == result["asset_id"]
    from pocketstudio.core.generator import DEFAULT_MODEL_DIR

    native = json.loads((DEFAULT_MODEL_DIR / "pocketstudio.json").read_text())["native_size"]
    assert _generation_assertion(out.read_bytes())["native_size"] == {"width": native, "height": native}
