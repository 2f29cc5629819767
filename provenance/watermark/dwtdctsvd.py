"""The legacy ``dwtDctSvd`` watermark, written here from the published algorithm (numpy and cv2 only).

The algorithm is the one invisible-watermark publishes as ``dwtDctSvd``: one level of the Haar wavelet, the approximation band cut into 4×4 blocks,
each block's DCT decomposed by SVD, and one payload bit per block (cyclically, in row-major
order) carried by where the largest singular value falls between multiples of the scale: at
``(⌊s/scale⌋ + ¼ + ½·bit)·scale``; read back as ``s mod scale > scale/2``, averaged over the
blocks of each bit. Here every block is transformed at once (batched matrix products and
SVD). No torch: verification must not need it, and invisible-watermark's package imports it.

Compatibility with the library's output (tests/test_watermark_compat.py embeds and decodes with
both): its inverse wavelet takes the horizontal and vertical detail bands in swapped order (each
2×2 pixel block comes back transposed), and its float-to-byte cast truncates; both are part of
what marked images look like, so both are kept: the bytes are the library's, except where its cast
wraps around (a pixel pushed past 255 became ~0, one pushed below 0 became ~255: this one clips)
and, a few in 100,000, off by one where the exact value is an integer that the two DCTs' roundings
put on either side of.

Measured here (DESIGN.md §4): the library's default marks only the U chroma channel, which JPEG's
4:2:0 subsampling destroys; marking luminance at scale 30 read back 10/10 after JPEG 90 and
JPEG 75 at 43.7 dB PSNR, and survives grayscale, so that is what this engine does. A later engine
replaced it as the default; its ``alg`` stays readable.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from pocketstudio.core.base.errors import WatermarkError
from .base import PAYLOAD_BITS, Detection, PayloadCodec, WatermarkPayload

ALG = "io.pocketstudio.watermark.dwtdctsvd-y.v1"
SCALES = [30, 0, 0]  # luminance only (the library's per-channel scales: Y, U, V)
SCALE = SCALES[0]
BLOCK = 4
MIN_SIDE = 256  # below this there are too few 4x4 blocks for 96 bits to repeat
BOUNDARY_GUARD = 1e-6  # decode_bits: singular values this close to a decision boundary come from the SVD
# The Haar filters' coefficient as a double (1/√2 rounded), used as the library's wavelet uses it, so
# the unmarked parts of the picture come back with the same rounding, byte for byte.
_HAAR = 0.7071067811865476


class DwtDctSvdWatermarker:
    alg = ALG
    strengths = (1.0,)  # the decoder's quantisation step is the embedding scale: one strength only

    def __init__(self, key: bytes):
        self._codec = PayloadCodec(key, ALG)

    def check_size(self, width: int, height: int) -> None:
        """Raise WatermarkError unless a ``width``×``height`` image can carry the mark."""
        if min(width, height) < MIN_SIDE:
            raise WatermarkError(f"a {width}x{height} image cannot carry the watermark (min side {MIN_SIDE} px)")

    def embed(self, image: Image.Image, payload: WatermarkPayload, strength: float = 1.0) -> Image.Image:
        if strength != 1.0:
            raise WatermarkError("the dwtDctSvd engine embeds at one strength only")
        self.check_size(*image.size)
        bits = self._codec.encode(payload.asset_id)
        return Image.fromarray(embed_bits(np.asarray(image.convert("RGB")), bits))

    def detect(self, image: Image.Image) -> Detection:
        if min(image.size) < MIN_SIDE:
            return Detection(False, ALG, reason=f"image smaller than {MIN_SIDE} px: too small to carry this watermark")
        try:
            bits = decode_bits(np.asarray(image.convert("RGB")))
        except Exception as exc:
            return Detection(False, ALG, reason=f"decoder failed: {exc}")
        return self._codec.decode(bits)


def _haar(y: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One level of the 2-D Haar transform (rows, then columns): approximation and the
    (horizontal, vertical, diagonal) detail bands."""
    lo, hi = y[0::2] * _HAAR + y[1::2] * _HAAR, y[0::2] * _HAAR - y[1::2] * _HAAR

    def split(x):
        return x[:, 0::2] * _HAAR + x[:, 1::2] * _HAAR, x[:, 0::2] * _HAAR - x[:, 1::2] * _HAAR

    (ll, lh), (hl, hh) = split(lo), split(hi)
    return ll, (hl, lh, hh)


def _inverse_haar(ll: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_haar` (columns, then rows)."""
    def merge(lo, hi):
        out = np.empty((lo.shape[0], lo.shape[1] * 2))
        out[:, 0::2], out[:, 1::2] = lo * _HAAR + hi * _HAAR, lo * _HAAR - hi * _HAAR
        return out

    lo, hi = merge(ll, vertical), merge(horizontal, diagonal)
    out = np.empty((lo.shape[0] * 2, lo.shape[1]))
    out[0::2], out[1::2] = lo * _HAAR + hi * _HAAR, lo * _HAAR - hi * _HAAR
    return out


def _blocks(ll: np.ndarray, block: int) -> np.ndarray:
    """The whole ``block``×``block`` tiles of ``ll`` in row-major order, as a (n, block, block) view-copy."""
    rows, cols = ll.shape[0] // block, ll.shape[1] // block
    return (ll[: rows * block, : cols * block].reshape(rows, block, cols, block)
            .transpose(0, 2, 1, 3).reshape(-1, block, block))


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``C @ X @ C.T`` is the 2-D DCT of an n×n block (as cv2.dct)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    out = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    out[0] /= np.sqrt(2.0)
    return out


def embed_bits(rgb: np.ndarray, bits: np.ndarray, scale: float = SCALE, block: int = BLOCK) -> np.ndarray:
    """``bits`` into the luminance of an RGB uint8 array (see the module's docstring); a new array."""
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)
    r, c = yuv.shape[0] // 4 * 4, yuv.shape[1] // 4 * 4
    ll, (horizontal, vertical, diagonal) = _haar(yuv[:r, :c, 0].astype(np.float64))
    rows, cols = ll.shape[0] // block, ll.shape[1] // block
    dct = _dct_matrix(block)
    coefficients = dct @ _blocks(ll, block) @ dct.T  # each block's 2-D DCT
    u, s, vt = np.linalg.svd(coefficients)
    bit = np.asarray(bits, dtype=np.float64)[np.arange(len(s)) % len(bits)]
    s[:, 0] = (s[:, 0] // scale + 0.25 + 0.5 * bit) * scale
    tiles = dct.T @ ((u * s[:, None, :]) @ vt) @ dct  # back from the DCT
    ll[: rows * block, : cols * block] = tiles.reshape(rows, cols, block, block).transpose(0, 2, 1, 3).reshape(
        rows * block, cols * block)
    # The published engine rebuilds with the two detail bands swapped; its marks look like that.
    y = _inverse_haar(ll, vertical, horizontal, diagonal)
    yuv[:r, :c, 0] = np.clip(y, 0, 255).astype(np.uint8)  # truncates, as the library's cast does
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)


def decode_bits(rgb: np.ndarray, scale: float = SCALE, n_bits: int = PAYLOAD_BITS, block: int = BLOCK) -> np.ndarray:
    """The payload bits of the luminance channel, for all blocks at once.

    Per block the published decoder reads the largest singular value of the block's DCT; the DCT
    is orthogonal, so that is the block's own largest singular value. Same bits as the library
    (tested), several times faster than its per-block loop.
    """
    y = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)[..., 0]
    r, c = y.shape[0] // 4 * 4, y.shape[1] // 4 * 4
    y = y[:r, :c].astype(np.float64)
    ll = (y[0::2, 0::2] + y[0::2, 1::2] + y[1::2, 0::2] + y[1::2, 1::2]) / 2.0  # Haar LL (orthonormal)
    blocks = _blocks(ll, block)
    # The largest singular value as the root of the Gram matrix's largest eigenvalue: 3x faster
    # than the batched SVD and equal to ~1e-12. Blocks within BOUNDARY_GUARD of a decision boundary
    # (a multiple of scale / 2) are taken from the SVD, as the library does, so no bit can differ.
    top = np.sqrt(np.linalg.eigvalsh(np.matmul(blocks.transpose(0, 2, 1), blocks))[:, -1])
    rem = np.mod(top, scale * 0.5)
    near = (rem < BOUNDARY_GUARD) | (scale * 0.5 - rem < BOUNDARY_GUARD)
    if near.any():
        top[near] = np.linalg.svd(blocks[near], compute_uv=False)[:, 0]
    score = ((top % scale) > scale * 0.5).astype(np.float64)
    bit = np.arange(len(score)) % n_bits  # blocks in row-major order carry bits cyclically
    mean = np.bincount(bit, weights=score, minlength=n_bits) / np.maximum(np.bincount(bit, minlength=n_bits), 1)
    return mean * 255 > 127
