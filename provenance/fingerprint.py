"""Perceptual fingerprint: the second soft binding, against watermarks moved onto other pictures.

The watermark carries an id; anyone who can copy the watermark signal onto another picture makes
that picture "recover" a manifest that was never about it. The fingerprint binds the manifest to
what the released picture looks like, so the verifier can compare (C2PA guidance for Durable
Content Credentials: watermark + fingerprint).

Algorithm ``io.pocketstudio.fingerprint.v1`` (our own name; the value is base64 of):

    width (uint16 BE) ‖ height (uint16 BE) ‖ pHash (8 bytes) ‖ 32×32 luminance thumbnail (1024 bytes)

- pHash: the 32×32 area-averaged luminance, 2-D DCT-II, the 8×8 lowest frequencies, each bit
  ``coefficient > median`` (the classic perceptual hash, as in the ``imagehash`` package). It
  does not change under re-encoding, resizing or grayscale conversion (Hamming distance 0–4 of
  64 measured on photos with JPEG 50, half size, screenshot-like resize), and distinct pictures
  are 20–44 bits apart. It is the lookup key (``/matches/byBinding``).
- The thumbnail makes the comparison tolerate crops, which move the pHash as far as a different
  picture would (8–38 bits for 10–25 % crops): the query is searched for inside the thumbnail
  over scales and offsets with normalised cross-correlation.

The manifest carries the value, signed, so a verifier that only has the manifest (e.g. from a
remote resolution service) can compare too.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pocketstudio.core.base.errors import InvalidImageError

ALG = "io.pocketstudio.fingerprint.v1"
THUMB = 32
_HEADER = struct.Struct(">HH")
VALUE_BYTES = _HEADER.size + 8 + THUMB * THUMB

# Decision thresholds (see tests/test_fingerprint.py for the measured cases they separate).
PHASH_MATCH_BITS = 10  # ≤ this many of 64 bits differ: the same picture (re-encoded, resized)
NCC_MATCH = 0.94  # best normalised cross-correlation of the query inside the thumbnail
MIN_CROP_FRACTION = 0.5  # the query must cover at least half the width and height of the original
BLUR_SIGMA = 1.0  # thumbnail pixels
MIN_CONTRAST = 2.0  # luminance standard deviation (0–255) below which a picture is too flat to compare


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(THUMB)


def _luma_small(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    gray = image.convert("L")
    # Box filter = area average: the anti-aliased downscale, and cheap even from 4K.
    return np.asarray(gray.resize(size, Image.Resampling.BOX, reducing_gap=3.0), dtype=np.float64)


def phash_of(thumb: np.ndarray) -> int:
    coeffs = _DCT @ thumb @ _DCT.T
    low = coeffs[:8, :8].ravel()
    bits = low > np.median(low)
    return int("".join("1" if b else "0" for b in bits), 2)


@dataclass(frozen=True)
class Fingerprint:
    width: int
    height: int
    phash: int  # 64 bits
    thumbnail: bytes  # 32×32 uint8 luminance, row-major

    @classmethod
    def of(cls, image: Image.Image) -> "Fingerprint":
        thumb = _luma_small(image, (THUMB, THUMB))
        return cls(image.width, image.height, phash_of(thumb), np.clip(np.rint(thumb), 0, 255).astype(np.uint8).tobytes())

    @property
    def phash_hex(self) -> str:
        return f"{self.phash:016x}"

    def to_bytes(self) -> bytes:
        return _HEADER.pack(min(self.width, 65535), min(self.height, 65535)) + self.phash.to_bytes(8, "big") + self.thumbnail

    def to_value(self) -> str:
        """The soft-binding value: base64 of the binary layout in the module docstring."""
        return base64.b64encode(self.to_bytes()).decode()

    def thumbnail_data_url(self) -> str:
        """The 32×32 luminance thumbnail as a PNG ``data:`` URL: what the signed picture looked like,
        for a person to set beside the picture in hand (the verifier page shows both)."""
        buf = io.BytesIO()
        Image.frombytes("L", (THUMB, THUMB), self.thumbnail).save(buf, "PNG", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    @classmethod
    def from_value(cls, value: str) -> "Fingerprint":
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidImageError(f"fingerprint value is not base64: {exc}") from None
        if len(raw) != VALUE_BYTES:
            raise InvalidImageError(f"fingerprint value has {len(raw)} bytes, expected {VALUE_BYTES} ({ALG})")
        width, height = _HEADER.unpack_from(raw)
        if not width or not height:
            raise InvalidImageError("fingerprint value names an empty image")
        phash = int.from_bytes(raw[4:12], "big")
        return cls(width, height, phash, raw[12:])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def phash_from_value(value: str) -> int:
    """The 64-bit pHash of a soft-binding value: the full value, or 8 bytes of pHash alone."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidImageError(f"fingerprint value is not base64: {exc}") from None
    if len(raw) == 8:
        return int.from_bytes(raw, "big")
    return Fingerprint.from_value(value).phash


@dataclass(frozen=True)
class Comparison:
    """How an image relates to the picture a fingerprint was taken of."""

    outcome: str  # "same" | "crop" | "different" | "undecidable"
    phash_distance: int
    ncc: float | None = None
    crop: dict | None = None  # region of the original the query matches, as fractions

    @property
    def matches(self) -> bool | None:
        return {"same": True, "crop": True, "different": False}.get(self.outcome)

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "phash_distance": self.phash_distance, "ncc": self.ncc, "crop": self.crop}


def _blur(a: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Separable Gaussian blur (reflected edges): makes the match tolerate sub-pixel offsets."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(a, r, mode="reflect")
    rows = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, padded)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, rows)


def _ncc_best(query: np.ndarray, ref: np.ndarray) -> tuple[float, int, int]:
    """Best normalised cross-correlation of ``query`` at every offset inside ``ref``."""
    th, tw = query.shape
    windows = np.lib.stride_tricks.sliding_window_view(ref, (th, tw))  # (oy, ox, th, tw)
    q = query - query.mean()
    qn = np.sqrt((q * q).sum())
    w = windows - windows.mean(axis=(2, 3), keepdims=True)
    num = np.einsum("yxij,ij->yx", w, q)
    den = np.sqrt((w * w).sum(axis=(2, 3))) * qn
    ncc = np.where(den > 1e-9, num / np.maximum(den, 1e-9), -1.0)
    oy, ox = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    return float(ncc[oy, ox]), int(oy), int(ox)


def compare(image: Image.Image, reference: Fingerprint) -> Comparison:
    """Is ``image`` the fingerprinted picture (re-encoded, resized, cropped) or another one?

    1. pHash distance ≤ ``PHASH_MATCH_BITS``: the same picture.
    2. Otherwise search the image inside the reference thumbnail (the crop keeps the aspect of
       what is left; sizes from ``MIN_CROP_FRACTION`` to the whole): NCC ≥ ``NCC_MATCH`` is a crop.
    3. Pictures too flat to tell apart are "undecidable" — not a match.
    """
    ref = np.frombuffer(reference.thumbnail, dtype=np.uint8).astype(np.float64).reshape(THUMB, THUMB)
    mine = _luma_small(image, (THUMB, THUMB))
    distance = hamming(phash_of(mine), reference.phash)
    if ref.std() < MIN_CONTRAST or mine.std() < MIN_CONTRAST:
        return Comparison("undecidable", distance)
    if distance <= PHASH_MATCH_BITS:
        return Comparison("same", distance)
    # Template sizes in thumbnail pixels: tw = crop width / original width × 32, and the height
    # follows from the query's aspect ratio and the original's.
    aspect = (image.height / image.width) * (reference.width / reference.height)
    lo = int(np.ceil(THUMB * MIN_CROP_FRACTION))
    ref = _blur(ref)
    best = (-1.0, 0, 0, 0, 0)
    for tw in range(lo, THUMB + 1):
        th = int(round(tw * aspect))
        if not lo <= th <= THUMB:
            continue
        query = _blur(_luma_small(image, (tw, th)))
        if query.std() < MIN_CONTRAST:
            continue
        score, oy, ox = _ncc_best(query, ref)
        if score > best[0]:
            best = (score, tw, th, ox, oy)
    score, tw, th, ox, oy = best
    crop = None
    if tw:
        crop = {"x": round(ox / THUMB, 3), "y": round(oy / THUMB, 3), "width": round(tw / THUMB, 3),
                "height": round(th / THUMB, 3)}
    outcome = "crop" if score >= NCC_MATCH else "different"
    return Comparison(outcome, distance, round(score, 4), crop)
