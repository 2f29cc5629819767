"""The legacy dwtDctSvd engine, written here without torch, against invisible-watermark itself.

invisible-watermark (installed through the test extra) is the reference: what it embeds, ours
reads; what ours embeds, it reads; and the marked pixels are the same bytes, except where the
library's float-to-byte cast wraps around (a pixel pushed past white became black) and ours clips,
and a few in 100,000 off by one where the exact value is an integer and the two DCTs round it apart.
Real photographs (scikit-image's public-domain samples), a generated-like texture and odd sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from pocketstudio.provenance.watermark import DwtDctSvdWatermarker, PayloadCodec, WatermarkPayload, new_asset_id
from pocketstudio.provenance.watermark.dwtdctsvd import ALG, SCALES, decode_bits, embed_bits

from .conftest import textured_image

imwatermark = pytest.importorskip("imwatermark", reason="the reference library comes with the test extra")

KEY = bytes(range(32))


def _photos() -> dict[str, np.ndarray]:
    astronaut = skimage.data.astronaut()
    return {"astronaut": astronaut, "coffee": skimage.data.coffee(), "chelsea": skimage.data.chelsea(),
            "astronaut-517x391": np.asarray(Image.fromarray(astronaut).resize((517, 391))),
            "texture": np.asarray(textured_image(512, 3))}


def _library_embed(rgb: np.ndarray, bits: np.ndarray) -> np.ndarray:
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", [int(b) for b in bits])
    return np.ascontiguousarray(encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDctSvd",
                                               scales=SCALES)[:, :, ::-1])


def _library_decode(rgb: np.ndarray, n_bits: int) -> np.ndarray:
    decoder = imwatermark.WatermarkDecoder("bits", n_bits)
    return np.asarray(decoder.decode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDctSvd", scales=SCALES), dtype=bool)


@pytest.mark.parametrize("name", list(_photos()))
def test_library_marks_read_by_ours_and_ours_by_the_library(name):
    rgb = _photos()[name]
    codec = PayloadCodec(KEY, ALG)
    asset = new_asset_id()
    bits = codec.encode(asset)

    by_library = _library_embed(rgb, bits)
    assert np.array_equal(decode_bits(by_library), bits)
    assert DwtDctSvdWatermarker(KEY).detect(Image.fromarray(by_library)).asset_id == asset

    by_us = np.asarray(DwtDctSvdWatermarker(KEY).embed(Image.fromarray(rgb), WatermarkPayload(asset, ALG)))
    assert np.array_equal(_library_decode(by_us, len(bits)), bits)
    assert codec.decode(_library_decode(by_us, len(bits))).asset_id == asset


@pytest.mark.parametrize("name", list(_photos()))
def test_marked_pixels_are_the_librarys_except_where_its_cast_wraps_around(name):
    rgb = _photos()[name]
    bits = np.random.default_rng(7).integers(0, 2, 96).astype(bool)
    ours, theirs = embed_bits(rgb, bits).astype(int), _library_embed(rgb, bits).astype(int)
    gap = np.abs(ours - theirs).max(axis=-1)
    # A wrap-around: the library's pixel went from one end of the range to the other.
    assert (gap[gap > 1] > 128).all(), "a difference that is not a wrap-around"
    # Off by one: an exact value (a pure black block plus the mark is a dyadic fraction) on an
    # integer, truncated after the library's DCT rounded it down and ours up, or the reverse.
    assert (gap == 1).mean() < 1e-4

def test_unmarked_photos_decode_the_same_bits_with_both():
    for rgb in _photos().values():
        assert np.array_equal(decode_bits(rgb), _library_decode(rgb, 96))
