"""Tiled spread-spectrum watermark that re-synchronises from its own periodicity (engine v1).

Embedding (``SpreadSpectrumWatermarker.embed``)
    1. Luminance is area-resampled to a working image whose short side is ``WORK_SIDE`` px (never
       upsampled: smaller images are worked on at their own size).
    2. A keyed tile of 27×27 chips (``TILE_CHIPS``), each 2×2 working px (``CHIP``), is repeated
       over the working image: a 54-px period (``TILE``), about a fifth of the short side and
       sharing only a factor 2 with the 1/4 and 1/8 grids common in pictures. 204 chips
       (``N_PILOT``) carry keyed pilot signs (known to the detector: synchronisation and the
       presence statistic); the other 525 carry the payload: 64-bit id + ``TAG_BITS``-bit keyed tag
       (HMAC-SHA256 of the id), coded with a K=9 rate-1/3 convolutional code (``ecc``, 288 coded
       bits), each coded bit on 1-2 chips per tile at keyed positions with keyed scrambling signs.
    3. Informed embedding: the detector's reading of the unmarked image (its own "host" fold) is
       computed and ``HOST_CANCEL`` of it is cancelled in the chip amplitudes (improved spread
       spectrum, Wiener-regularised on the chip grid), which matters on busy textures.
    4. Strength follows local texture (``TEX_*``: stronger in busy areas, a floor in flat ones);
       the chips are pre-emphasised (their lowest frequencies, which the detector discards, are
       removed), upsampled bilinearly to the image size and added equally to R, G and B, so the
       mark lives in luminance only: grayscale conversion and chroma subsampling leave it intact.
       The overall RMS is set for ``TARGET_PSNR_DB``, lowered towards ``BUSY_PSNR_DB`` (never
       below) on images that are busy all over, whose texture masks more.
    5. ``strength`` multiplies that RMS. The release pipeline embeds at 1 and steps up through
       ``STRENGTHS`` only for an image that does not read back its id with a margin (small, flat
       images: a 128² picture holds under six tiles).

Detection (``detect``; any size, mode or content; never raises)
    1. Working image at the same short side (up- or down-sampled), whitened: high-pass divided
       by the local contrast and clipped, so that host texture and edges weigh little.
    2. Lattice candidates, in order: the unmoved lattice (no geometric change), the same refined on
       the autocorrelation's peaks, then the autocorrelation's best lattices over scale
       (``PERIOD_RANGE``), rotation (± ``ROTATION_RANGE_DEG``) and aspect ratio, each refined by
       weighted least squares on sub-pixel peak positions (a general 2×2 matrix). If none carries
       the mark, a key-driven line search (``_line_search``) over scale-only and rotation-only
       lattices, for busy images whose autocorrelation is too weak.
    3. For a lattice, the working image is warped onto the canonical tile grid and folded (all
       tiles summed) at 4 sub-pixel phases; the crop offset is a cyclic shift of the folded tile,
       and all ``TILE``² shifts and the 8 flips/quarter-turns are tested at once by FFT correlation
       with the pilot. This is a small loop over at most 14 lattices; everything inside is numpy.
    4. Presence statistic ``z`` (normalised pilot correlation) against ``Z_THRESHOLD``: see
       ``FPR_CALCULATION`` for the calculation of the false-positive rate (<= 1e-6 per image).
    5. Only then: descramble and sum the payload chips per coded bit, Viterbi-decode, and report
       the id only if its keyed tag checks too.

``Detection.tag_bits_matching`` is the number of the 24 tag bits that match, ``p_value`` the bound
on the probability that an unmarked image reaches the observed statistic (union bound, as in
``FPR_CALCULATION``), ``statistic``/``threshold`` the z value and the threshold it was held to.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import cv2
import numpy as np
import scipy.fft
from PIL import Image

from pocketstudio.core.base.errors import WatermarkError
from . import ecc
from .base import ID_BITS, Detection, WatermarkPayload

ALG = "io.pocketstudio.watermark.spread-spectrum.v1"

# Geometry
WORK_SIDE = 256           # working image short side (px)
WORK_MAX_LONG = 1024      # cap on the working image's long side (very wide panoramas)
CHIP = 2                  # chip side in working px (4 px of a 512² image, 8 px of a 4K one)
TILE_CHIPS = 27           # chips per tile side
TILE = CHIP * TILE_CHIPS  # tile period in working px (54: not a simple fraction of the side)
N_CHIPS = TILE_CHIPS * TILE_CHIPS
MIN_EMBED_SIDE = 64
MIN_DETECT_SIDE = 64

# Payload
N_PILOT = 204             # pilot chips per tile; the other 525 carry the coded payload
TAG_BITS = 24
N_INFO = ID_BITS + TAG_BITS
N_CODED = ecc.coded_length(N_INFO)  # 288

# Strength
TARGET_PSNR_DB = 40.0     # PSNR of the mark on ordinary images
BUSY_PSNR_DB = 38.1       # ... lowered to this on images busy all over (texture masks the mark; >= 38 after rounding)
BUSY_ACTIVITY = 8.0       # median local contrast of the working image from which it is lowered
TEX_GAMMA, TEX_LO, TEX_HI = 0.7, 0.35, 3.0  # strength ~ (local contrast / median)^gamma, clipped
BUSY_TEX_GAMMA = 0.35     # ... gamma lowered to this on images busy all over (with the PSNR)
PRE_EMPHASIS = 0.5        # share of each chip's local mean removed (low frequencies the detector drops)
HOST_CANCEL = 0.5         # share of the detector's host reading cancelled at embedding
HOST_REG = 0.1            # Wiener regularisation of that cancellation
HOST_SHARE = 0.6          # most of the energy budget the cancellation may take
STRENGTHS = (1.0, 1.5, 2.25)  # RMS multipliers the release pipeline may step through (-3.5, -7 dB)

# Detection
HP_SIGMA = 1.0            # whitening high-pass (working px)
LOCAL_SIGMA, LOCAL_FLOOR = 3.0, 0.5  # local contrast normalisation
PHASES = (0.0, 0.5)       # sub-pixel fold offsets tried per axis
PHASE_PRETEST = 5.0       # ... the other three only if phase (0, 0) reaches this statistic
PERIOD_RANGE = (0.6, 3.0)           # detectable tile period, relative to the embedded one
ROTATION_RANGE_DEG = 10.0           # detectable rotation (±, on top of the 8 flips/quarter-turns)
N_LATTICE_CANDIDATES = 12           # key-independent lattices tried per image
LATTICE_REACH = 2                   # autocorrelation score: lattice points up to ±2 periods
BACKGROUND_SIGMA = 4.0              # autocorrelation peaks are measured above this local mean
PEAK_SIGNIFICANCE = 4.0             # refinement uses peaks this many noise spreads high
LINE_PERIOD_RANGE = (0.95, 2.2)     # line search: scales (no rotation), relative to the unmoved period
LINE_PERIOD_STEP = 0.0015           # ... log steps
LINE_ANGLE_STEP_DEG = 0.08          # line search: rotations at the unmoved scale
LINE_REFINE = 3                     # full-resolution refinement: grid LINE_REFINE times finer ...
LINE_REFINE_PEAKS = 2               # ... around this many distinct half-resolution peaks
LINE_REFINE_REACH = 12              # ... over this many of its steps either side of each
LINE_REFINE_EXACT = 8               # ... ranked with approximate phases; the best 8 folded exactly
BUSY_HP_SIGMA, BUSY_LOCAL_SIGMA = 0.6, 1.5  # the line search's sharper whitening (busy images)
# Every lattice the full-resolution statistic can be evaluated on (the refined grid) is counted.
N_LINE_LATTICES = (len(np.arange(math.log(LINE_PERIOD_RANGE[0]), math.log(LINE_PERIOD_RANGE[1]),
                                 LINE_PERIOD_STEP / LINE_REFINE))
                   + len(np.arange(-math.radians(ROTATION_RANGE_DEG), math.radians(ROTATION_RANGE_DEG) + 1e-9,
                                   math.radians(LINE_ANGLE_STEP_DEG) / LINE_REFINE)))
N_LINE_DECODES = 2                  # best lattices of the line search that are tested
LINE_SEARCH_MIN_CONTRAST = 6.0      # ... run only on busy images (median local contrast, working image)
PILOT_Z_CHUNK = 64                  # tiles per FFT block in _pilot_z (cache-sized blocks: faster, same values)

# False positives (see FPR_CALCULATION)
FPR_TARGET = 1e-6
N_SHIFTS = TILE * TILE
N_DIHEDRAL = 8
N_HYPOTHESES = N_LATTICE_CANDIDATES * len(PHASES) ** 2 * N_DIHEDRAL * N_SHIFTS
Z_THRESHOLD = 7.5
N_LINE_HYPOTHESES = N_LINE_LATTICES * len(PHASES) ** 2 * N_SHIFTS
Z_LINE_THRESHOLD = 8.1
FPR_STATISTIC_BOUND = (N_HYPOTHESES * math.exp(-Z_THRESHOLD ** 2 / 2)
                       + N_LINE_HYPOTHESES * math.exp(-Z_LINE_THRESHOLD ** 2 / 2))
N_DECODES = N_LATTICE_CANDIDATES + N_LINE_DECODES
FPR_TAG_BOUND = N_DECODES * 2.0 ** -TAG_BITS
FALSE_POSITIVE_RATE = min(FPR_STATISTIC_BOUND, FPR_TAG_BOUND)

FPR_CALCULATION = f"""\
Presence statistic and its false-positive rate (per image, for any id, hence also for one id):
  For one candidate alignment (lattice L, sub-pixel phase, flip/turn D, cyclic shift s) let a_j be
  the folded tile at the pilot chips; the statistic is z = sum_j a_j p_j / sqrt(sum_j a_j^2).
  The pilot signs p_j are keyed pseudo-random +-1, independent of an unmarked image, so for a
  given alignment S = sum_j a_j p_j is a Rademacher sum and Hoeffding's inequality gives,
  whatever the image,   P(z >= t) = P(S >= t * ||a||) <= exp(-t^2 / 2).
  Union bound over every alignment the detector can look at:
    group 1, lattices chosen without the key ({N_LATTICE_CANDIDATES}: unmoved, refined, autocorrelation peaks)
      x {len(PHASES) ** 2} phases x {N_DIHEDRAL} flips/turns x {N_SHIFTS} shifts = {N_HYPOTHESES} alignments, threshold {Z_THRESHOLD}:
      {N_HYPOTHESES} * exp(-{Z_THRESHOLD}^2/2) = {N_HYPOTHESES * math.exp(-Z_THRESHOLD ** 2 / 2):.2e}
    group 2, the key-driven line search ({N_LINE_LATTICES} lattices of its full-resolution grid, all counted
      although only a few dozen are evaluated and the best {N_LINE_DECODES} tested) x {len(PHASES) ** 2} phases x {N_SHIFTS} shifts, unflipped = {N_LINE_HYPOTHESES} alignments, threshold {Z_LINE_THRESHOLD}:
      {N_LINE_HYPOTHESES} * exp(-{Z_LINE_THRESHOLD}^2/2) = {N_LINE_HYPOTHESES * math.exp(-Z_LINE_THRESHOLD ** 2 / 2):.2e}
    P(some z passes its threshold on an unmarked image) <= {FPR_STATISTIC_BOUND:.2e}  (target <= {FPR_TARGET:g})
  Independently, an id is reported only if its {TAG_BITS}-bit keyed tag (HMAC-SHA256 of the id) checks
  after Viterbi decoding; at most {N_DECODES} decodes per image:
    P(a tag checks on an unmarked image) <= {N_DECODES} * 2^-{TAG_BITS} = {FPR_TAG_BOUND:.2e}  (target <= {FPR_TARGET:g})
  Both must pass, so the false-positive rate is at most min of the two = {FALSE_POSITIVE_RATE:.1e} per image,
  about {FPR_STATISTIC_BOUND * FPR_TAG_BOUND:.0e} if the two keyed streams are treated as independent; for one given
  id it is smaller still (a further 2^-64 of the decoded ids)."""


@dataclass(frozen=True)
class _Keyed:
    pilot_pos: np.ndarray      # (N_PILOT,) flat tile indices
    pilot_sign: np.ndarray     # (N_PILOT,) ±1
    data_pos: np.ndarray       # (N_CHIPS - N_PILOT,) flat tile indices
    data_bit: np.ndarray       # coded-bit index carried by each data chip
    data_sign: np.ndarray      # keyed scrambling ±1 per data chip
    pilot_tile: np.ndarray     # (TILE, TILE) pilot values, 0 at data chips
    pilot_mask: np.ndarray     # (TILE, TILE) 1 at pilot chips
    tag_key: bytes

    @cached_property
    def pilot_spectra(self) -> tuple[np.ndarray, np.ndarray]:
        """conj(rfft2) of the pilot template and mask: correlating with them is a product."""
        return np.conj(scipy.fft.rfft2(self.pilot_tile)), np.conj(scipy.fft.rfft2(self.pilot_mask))

    @cached_property
    def chip_pilot_spectra(self) -> tuple[np.ndarray, np.ndarray]:
        """The same on the chip grid (one value per chip), for the line search."""
        return (np.conj(scipy.fft.rfft2(self.pilot_tile[::CHIP, ::CHIP])),
                np.conj(scipy.fft.rfft2(self.pilot_mask[::CHIP, ::CHIP])))


def _derive(key: bytes) -> _Keyed:
    if len(key) < 16:
        raise ValueError("watermark key must be at least 16 bytes")
    seed = hmac.new(key, b"pocketstudio/watermark/" + ALG.encode() + b"/layout", hashlib.sha256).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    perm = rng.permutation(N_CHIPS)
    pilot_pos, data_pos = perm[:N_PILOT], perm[N_PILOT:]
    pilot_sign = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), N_PILOT)
    n_data = N_CHIPS - N_PILOT
    data_bit = np.arange(n_data) % N_CODED  # every coded bit gets 1 or 2 chips per tile, at keyed places
    data_sign = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), n_data)
    # Pilot template on the pixel grid of the tile: one entry at each pilot chip's top-left pixel.
    pilot_tile = np.zeros((TILE, TILE), dtype=np.float32)
    pilot_mask = np.zeros((TILE, TILE), dtype=np.float32)
    py, px = np.divmod(pilot_pos, TILE_CHIPS)
    pilot_tile[py * CHIP, px * CHIP] = pilot_sign
    pilot_mask[py * CHIP, px * CHIP] = 1.0
    tag_key = hmac.new(key, b"pocketstudio/watermark/" + ALG.encode() + b"/tag", hashlib.sha256).digest()
    return _Keyed(pilot_pos, pilot_sign, data_pos, data_bit, data_sign, pilot_tile, pilot_mask, tag_key)


def _tag(keyed: _Keyed, id_bytes: bytes) -> np.ndarray:
    mac = hmac.new(keyed.tag_key, id_bytes, hashlib.sha256).digest()
    return np.unpackbits(np.frombuffer(mac[: TAG_BITS // 8], dtype=np.uint8))


def _info_bits(keyed: _Keyed, asset_id: str) -> np.ndarray:
    id_bytes = bytes.fromhex(asset_id)
    return np.concatenate([np.unpackbits(np.frombuffer(id_bytes, dtype=np.uint8)), _tag(keyed, id_bytes)])


def _chips(keyed: _Keyed, coded: np.ndarray) -> np.ndarray:
    """The tile's ±1 chip values (TILE_CHIPS × TILE_CHIPS): pilots and scrambled coded bits."""
    chips = np.empty(N_CHIPS, dtype=np.float32)
    chips[keyed.pilot_pos] = keyed.pilot_sign
    chips[keyed.data_pos] = (2.0 * coded[keyed.data_bit].astype(np.float32) - 1.0) * keyed.data_sign
    return chips.reshape(TILE_CHIPS, TILE_CHIPS)


def _chip_pixels(chips: np.ndarray) -> np.ndarray:
    """Chip values → the TILE × TILE pixel tile (each chip a CHIP × CHIP square)."""
    px = np.kron(chips, np.ones((CHIP, CHIP), dtype=np.float32)) if CHIP > 1 else chips
    if PRE_EMPHASIS > 0:  # drop the low frequencies the detector's high-pass would discard anyway
        wide = np.tile(px, (3, 3))
        px = px - PRE_EMPHASIS * cv2.GaussianBlur(wide, (0, 0), HP_SIGMA)[TILE:2 * TILE, TILE:2 * TILE]
    return px


def _chip_sums(tile_px: np.ndarray) -> np.ndarray:
    """TILE × TILE pixel tile → sum over each chip's pixels (what the detector reads per chip)."""
    return tile_px.reshape(TILE_CHIPS, CHIP, TILE_CHIPS, CHIP).sum(axis=(1, 3))


def _chip_kernel() -> np.ndarray:
    """Spectrum (on the chip grid) of the detector's response to one chip: high-pass, chip sum."""
    impulse = np.zeros((TILE_CHIPS, TILE_CHIPS), dtype=np.float32)
    impulse[0, 0] = 1.0
    px = np.tile(_chip_pixels(impulse), (3, 3))  # periodic neighbourhood for the filter
    resp = _highpass(px)[TILE:2 * TILE, TILE:2 * TILE]
    return np.fft.fft2(_chip_sums(resp))


def _fold_unmoved(a: np.ndarray) -> np.ndarray:
    """Average of all tiles of a working-size array, tiles anchored at (0, 0) as embedded."""
    h, w = a.shape
    ph, pw = -h % TILE, -w % TILE
    padded = np.pad(a, ((0, ph), (0, pw)))
    count = np.pad(np.ones_like(a), ((0, ph), (0, pw)))
    shape = (padded.shape[0] // TILE, TILE, padded.shape[1] // TILE, TILE)
    return padded.reshape(shape).sum(axis=(0, 2)) / np.maximum(count.reshape(shape).sum(axis=(0, 2)), 1e-6)


# ---------------------------------------------------------------------------------------------
# Images and strength


def _luma(image: Image.Image) -> np.ndarray:
    """8-bit luminance (ITU-R 601, as PIL's "L") of any PIL image."""
    if image.mode == "L":
        return np.asarray(image)
    if image.mode == "RGB":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    return np.asarray(image.convert("L"))


def _working_shape(h: int, w: int, allow_upsample: bool) -> tuple[int, int]:
    scale = WORK_SIDE / min(h, w)
    scale = min(scale, WORK_MAX_LONG / max(h, w))
    if not allow_upsample:
        scale = min(scale, 1.0)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _working_luma(y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """8-bit luminance → float32 working image: area average down (on the 8-bit image, which is
    fast at 4K; the rounding it adds is far below the mark), bilinear up."""
    h, w = shape
    if (h, w) == y.shape[:2]:
        return y.astype(np.float32)
    if h * w < y.shape[0] * y.shape[1]:
        return cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.resize(y.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _highpass(y: np.ndarray) -> np.ndarray:
    return y - cv2.GaussianBlur(y, (0, 0), HP_SIGMA)


def _texture_weight(yw: np.ndarray) -> tuple[np.ndarray, float]:
    """Embedding strength per working pixel (grows with local contrast, with a floor for flat
    areas) and the image's overall RMS target: TARGET_PSNR_DB, lowered towards BUSY_PSNR_DB for
    images busy all over (whose texture masks more)."""
    hp = _highpass(yw)
    act = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 2.0))
    median = float(np.median(act))
    max_boost = 10 ** ((TARGET_PSNR_DB - BUSY_PSNR_DB) / 20)
    boost = min(max(math.sqrt(median / BUSY_ACTIVITY), 1.0), max_boost)
    # On an image busy all over, texture masks the mark everywhere, so the strength follows it
    # less steeply: energy the detector's contrast normalisation would discard in the busiest
    # places goes to the calmer ones instead.
    gamma = TEX_GAMMA - (boost - 1.0) / (max_boost - 1.0) * (TEX_GAMMA - BUSY_TEX_GAMMA)
    weight = np.clip((act + 0.5) / (median + 1.0), TEX_LO, TEX_HI) ** gamma
    base = 255.0 / 10 ** (TARGET_PSNR_DB / 20)
    return weight, base * boost


def _saturating_add(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """clip(rgb + delta) for uint8 rgb (H, W[, C]) and an integer-valued float delta (H, W)."""
    pos = np.clip(delta, 0, 255).astype(np.uint8)
    neg = np.clip(-delta, 0, 255).astype(np.uint8)
    if rgb.ndim == 3:
        pos = cv2.merge([pos] * rgb.shape[2])
        neg = cv2.merge([neg] * rgb.shape[2])
    return cv2.subtract(cv2.add(rgb, pos), neg)


# ---------------------------------------------------------------------------------------------
# Detection: whitening, autocorrelation, lattice search, folding


def _whiten_weight(yw: np.ndarray) -> np.ndarray:
    hp = _highpass(yw)
    return 1.0 / (np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), LOCAL_SIGMA)) + LOCAL_FLOOR)


def _whiten(yw: np.ndarray) -> np.ndarray:
    """High-pass divided by the local contrast, clipped: host texture and edges weigh little."""
    return np.clip(_highpass(yw) * _whiten_weight(yw), -3.0, 3.0)


def _autocorrelation(r: np.ndarray) -> np.ndarray:
    """Generalised autocorrelation (inverse FFT of |F|, not |F|²: sharper peaks, less dominated by
    strong texture), zero-padded, normalised to 1 at lag 0."""
    h, w = r.shape
    fh, fw = cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w)
    spec = scipy.fft.rfft2(r - r.mean(), s=(fh, fw))
    ac = scipy.fft.irfft2(np.abs(spec), s=(fh, fw)).astype(np.float32)
    return ac / max(float(ac[0, 0]), 1e-12)


def _sample(a: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bilinear samples of the periodic array a at real coordinates (any shape)."""
    h, w = a.shape
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    y0, x0 = y0.astype(np.int64) % h, x0.astype(np.int64) % w
    y1, x1 = (y0 + 1) % h, (x0 + 1) % w
    return ((1 - fy) * ((1 - fx) * a[y0, x0] + fx * a[y0, x1]) + fy * ((1 - fx) * a[y1, x0] + fx * a[y1, x1]))


def _half_plane(reach: int, step: float = 1.0, offset: float = 0.0) -> np.ndarray:
    g = np.arange(-reach, reach + 1) * step + offset
    mm, kk = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([mm.ravel(), kk.ravel()], 1)
    keep = ((pts[:, 1] > 0) | ((pts[:, 1] == 0) & (pts[:, 0] > 0))) & (np.abs(pts).max(1) <= reach)
    return pts[keep]


_LATTICE_PTS = _half_plane(LATTICE_REACH)
_HALF_PTS = np.concatenate([_LATTICE_PTS + (0.5, 0), _LATTICE_PTS + (0, 0.5)])


class _LatticeGrid(NamedTuple):
    """A grid of lattice bases with the autocorrelation samples each one's score gathers, as flat
    indices into the autocorrelation followed by one zero slot (lags beyond what the image shows
    point at it). It depends on the image's shape only, so it is computed once per shape."""
    bases: np.ndarray   # (..., 2, 2), columns = period vectors (x, y)
    lat: np.ndarray     # (..., len(_LATTICE_PTS)) flat indices of the lattice points
    n_lat: np.ndarray   # (...,) lattice points the image shows
    half: np.ndarray    # (..., len(_HALF_PTS)) flat indices of the half-lattice points
    n_half: np.ndarray  # (...,) half-lattice points the image shows


def _lattice_grid(shape: tuple[int, int], reach: tuple[float, float], ax, ay, bx, by) -> _LatticeGrid:
    """The grid of bases (a, b) given by the broadcastable component arrays."""
    ax, ay, bx, by = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(ax, ay, bx, by))
    bases = np.stack([ax, bx, ay, by], -1).reshape(*ax.shape, 2, 2)
    ax, ay, bx, by = (v[..., None] for v in (ax, ay, bx, by))
    h, w = shape

    def indices(pts):
        m, k = pts[:, 0], pts[:, 1]
        x = m * ax + k * bx
        y = m * ay + k * by
        inside = (np.abs(x) <= reach[0]) & (np.abs(y) <= reach[1])  # lags the image shows
        flat = (np.rint(y).astype(np.int32) % h) * w + np.rint(x).astype(np.int32) % w
        return np.where(inside, flat, h * w).astype(np.int32), inside.sum(axis=-1, dtype=np.float32)

    return _LatticeGrid(bases, *indices(_LATTICE_PTS), *indices(_HALF_PTS))


def _lattice_scores(flat: np.ndarray, grid: _LatticeGrid) -> np.ndarray:
    """Lattice score of every basis of ``grid`` on the (peak-filtered) autocorrelation, given
    flattened with the grid's zero slot appended."""
    # Half-lattice points must not be peaks too (that is a finer periodic structure, e.g. JPEG's
    # 8-px grid); only their positive part counts, so that troughs do not earn a score. The sum
    # over n points is divided by sqrt(n), so that candidates seeing few lattice points (long
    # periods) are not favoured by the larger spread of a short average.
    lat = flat.take(grid.lat).sum(axis=-1)
    half = np.maximum(flat.take(grid.half), 0).sum(axis=-1)
    n_lat, n_half = grid.n_lat, grid.n_half
    sc = (lat - half * n_lat / np.maximum(n_half, 1)) / np.sqrt(np.maximum(n_lat, 1))
    return np.where(n_lat < 4, -np.inf, sc)


def _basis(period: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[period * c, -period * s], [period * s, period * c]])


def _top(sc: np.ndarray, bases: np.ndarray, n: int, taken: list) -> list[np.ndarray]:
    """The n best-scoring bases (bases[..., 2, 2] aligned with sc), each at least 5 % of its
    period away from every basis already taken."""
    flat_sc, flat_b = sc.ravel(), bases.reshape(-1, 2, 2)
    out = []
    for idx in np.argsort(np.nan_to_num(flat_sc, nan=-np.inf))[::-1][:400]:
        if len(out) == n or not np.isfinite(flat_sc[idx]):
            break
        b = flat_b[idx]
        if any(np.abs(b - t).max() < 0.05 * np.abs(t).max() for t in taken):
            continue
        taken.append(b)
        out.append(b)
    return out


def _conformal(periods: np.ndarray, angles: np.ndarray):
    P, A = np.broadcast_arrays(periods, angles)
    c, s = np.cos(A), np.sin(A)
    return P * c, P * s, -P * s, P * c


@lru_cache(maxsize=4)
def _candidate_grids(shape: tuple[int, int], reach: tuple[float, float], unmoved: float) -> tuple[_LatticeGrid, ...]:
    """The four families ``_lattice_candidates`` ranks, for an autocorrelation of this shape."""
    lo, hi = PERIOD_RANGE
    zero = np.zeros(1)
    fine = TILE * np.exp(np.arange(math.log(lo), math.log(hi), 0.003))
    fine_angles = np.deg2rad(np.arange(-ROTATION_RANGE_DEG, ROTATION_RANGE_DEG + 1e-9, 0.15))
    coarse = TILE * np.exp(np.arange(math.log(lo), math.log(hi), 0.008))
    px, py = np.meshgrid(coarse, coarse, indexing="ij")
    pair = (np.abs(np.log(px / py)) <= math.log(1.5)) & (np.abs(np.log(px / py)) > 0.03)
    angles = np.deg2rad(np.arange(-ROTATION_RANGE_DEG, ROTATION_RANGE_DEG + 1e-9, 0.4))
    return (_lattice_grid(shape, reach, *_conformal(fine, zero)),
            _lattice_grid(shape, reach, *_conformal(np.array([unmoved]), fine_angles)),
            _lattice_grid(shape, reach, px[pair], 0.0, 0.0, py[pair]),
            _lattice_grid(shape, reach, *_conformal(coarse[:, None], angles[None, :])))


def _lattice_candidates(ac: np.ndarray, n: int, reach: tuple[float, float], unmoved: float) -> list[np.ndarray]:
    """Lattice candidates from the autocorrelation: the best scale with no rotation (a crop or a
    resize), the best rotation at the unmoved scale (a rotation on the same canvas), the best
    pair of scales along x and y (an aspect-ratio change), then the best of a joint grid over
    scale and rotation; n in all, distinct."""
    # Peaks are measured above the local background of the autocorrelation (texture makes it
    # positive over wide areas), and a 3x3 max filter lets the coarse grid land anywhere near one.
    peaks = ac - cv2.GaussianBlur(ac, (0, 0), BACKGROUND_SIGMA)
    smooth = cv2.dilate(peaks, np.ones((3, 3), np.uint8))
    flat = np.append(smooth.ravel(), np.float32(0))  # + the zero slot of _LatticeGrid
    taken: list = [np.eye(2) * unmoved]
    out: list[np.ndarray] = []
    grids = _candidate_grids(ac.shape, (float(reach[0]), float(reach[1])), float(unmoved))
    for grid, count in zip(grids, (1, 1, 1, None)):
        out.extend(_top(_lattice_scores(flat, grid), grid.bases, n - len(out) if count is None else count, taken))
    return out


def _ac_noise(ac: np.ndarray) -> float:
    """Robust spread of the autocorrelation away from its central peak."""
    h, w = ac.shape
    body = np.concatenate([ac[8: h - 8: 3, ::3].ravel(), ac[:8, 8: w - 8: 3].ravel()])
    return 1.4826 * float(np.median(np.abs(body - np.median(body)))) + 1e-12


def _refine(ac: np.ndarray, basis: np.ndarray, reach: tuple[float, float], noise: float) -> np.ndarray:
    """Least-squares lattice basis (columns = period vectors, (x, y)) from sub-pixel peak positions."""
    rng = int(max(reach) // max(np.linalg.norm(basis, axis=0).min(), 1.0)) + 1
    mm, kk = np.meshgrid(np.arange(-rng, rng + 1), np.arange(0, rng + 1), indexing="ij")
    q = np.stack([mm.ravel(), kk.ravel()], 1).astype(float)
    q = q[(q[:, 1] > 0) | (q[:, 0] > 0)]
    for win in (2, 1, 1):
        pred = q @ basis.T  # (n, 2) as (x, y)
        keep = (np.abs(pred[:, 0]) <= reach[0]) & (np.abs(pred[:, 1]) <= reach[1])
        qk, pk = q[keep], pred[keep]
        if len(qk) < 2:
            return basis
        off = np.arange(-win, win + 1)
        ys = np.round(pk[:, 1])[:, None, None] + off[None, :, None]
        xs = np.round(pk[:, 0])[:, None, None] + off[None, None, :]
        vals = _sample(ac, ys + 0 * xs, xs + 0 * ys)  # (n, 2w+1, 2w+1) at integer positions
        flat = vals.reshape(len(qk), -1)
        best = np.argmax(flat, axis=1)
        by, bx = np.unravel_index(best, vals.shape[1:])
        cy = np.round(pk[:, 1]) + off[by]
        cx = np.round(pk[:, 0]) + off[bx]
        # parabolic sub-pixel offsets from the three-point neighbourhoods
        c0 = _sample(ac, cy, cx)
        dx = _parabola(_sample(ac, cy, cx - 1), c0, _sample(ac, cy, cx + 1))
        dy = _parabola(_sample(ac, cy - 1, cx), c0, _sample(ac, cy + 1, cx))
        obs = np.stack([cx + dx, cy + dy], 1)
        background = np.median(flat, axis=1)
        prominence = c0 - background
        # Only peaks that stand out of the autocorrelation's noise steer the fit.
        wgt = np.where(prominence > PEAK_SIGNIFICANCE * noise, prominence, 0.0)
        if np.count_nonzero(wgt) < 3 or np.linalg.matrix_rank(qk[wgt > 0]) < 2:
            return basis
        W = wgt[:, None]
        sol, *_ = np.linalg.lstsq(qk * np.sqrt(W), obs * np.sqrt(W), rcond=None)
        basis = sol.T
    return basis


def _parabola(a, b, c):
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    return np.clip(d, -0.5, 0.5)


def _fold(r: np.ndarray, basis: np.ndarray, phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Warp the whitened working image onto the canonical tile grid and sum all tiles (sums, not
    means: a tile position seen more often carries proportionally more signal than noise)."""
    m = basis / TILE  # canonical px → working px
    inv = np.linalg.inv(m)
    h, w = r.shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float) @ inv.T
    lo = np.floor(corners.min(0)) + np.asarray(phase)
    size = np.ceil(corners.max(0) - lo).astype(int)
    wc = int(math.ceil(size[0] / TILE) * TILE)
    hc = int(math.ceil(size[1] / TILE) * TILE)
    # dst(u, v) = src(m @ ((u, v) + lo))
    affine = np.hstack([m, (m @ lo)[:, None]]).astype(np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(r, affine, (wc, hc), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    folded = warped.reshape(hc // TILE, TILE, wc // TILE, TILE).sum(axis=(0, 2))
    # Host structure that repeats with the tile (a periodic texture) folds coherently into a few
    # large values; clip them so that they cannot dominate the statistic's normalisation.
    limit = 2.5 * float(np.median(np.abs(folded))) + 1e-9
    return np.clip(folded, -limit, limit)


def _dihedral(f: np.ndarray) -> list[np.ndarray]:
    return [np.rot90(f, k) for k in range(4)] + [np.rot90(f.T, k) for k in range(4)]


def _cyclic_box_sum(stack: np.ndarray) -> np.ndarray:
    """out[..., y, x] = sum of stack[..., (y + a) % T, (x + b) % T] for a, b < CHIP: separable, by
    slices (np.roll over the CHIP² shifts cost as much as the FFTs that follow)."""
    rows = stack.copy()
    for a in range(1, CHIP):
        rows[:, :-a] += stack[:, a:]
        rows[:, -a:] += stack[:, :a]
    out = rows.copy()
    for b in range(1, CHIP):
        out[:, :, :-b] += rows[:, :, b:]
        out[:, :, -b:] += rows[:, :, :b]
    return out


def _pilot_z(stack: np.ndarray, spectra: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The pilot statistic z of every tile in ``stack`` (N, T, T) at every cyclic shift: the
    correlation with the pilot template over the root of the energy under the pilot mask, both
    taken as products with the (conjugated) spectra of template and mask."""
    fp, fm = spectra
    if len(stack) > PILOT_Z_CHUNK:
        return np.concatenate([_pilot_z(stack[i: i + PILOT_Z_CHUNK], spectra)
                               for i in range(0, len(stack), PILOT_Z_CHUNK)])
    num = scipy.fft.irfft2(scipy.fft.rfft2(stack) * fp, s=stack.shape[1:])
    den = scipy.fft.irfft2(scipy.fft.rfft2(stack * stack) * fm, s=stack.shape[1:])
    return num / np.sqrt(np.maximum(den, 1e-12))


def _pilot_statistic(keyed: _Keyed, folds: np.ndarray) -> np.ndarray:
    """The best pilot statistic over cyclic shifts of each unflipped folded tile (N, T, T) → (N,)."""
    stack = _cyclic_box_sum(folds) if CHIP > 1 else folds
    return _pilot_z(stack, keyed.pilot_spectra).reshape(len(stack), -1).max(axis=1)


def _best_alignment(keyed: _Keyed, folded: np.ndarray, flips: bool = True) -> tuple[float, np.ndarray]:
    """Max pilot statistic over the 8 flips/turns (or none) and all cyclic shifts, and the aligned tile."""
    stack = np.stack(_dihedral(folded)) if flips else folded[None]  # (8 or 1, T, T)
    if CHIP > 1:  # sum over each chip's pixels: value at (y, x) = chip whose top-left pixel is (y, x)
        stack = _cyclic_box_sum(stack)
    z = _pilot_z(stack, keyed.pilot_spectra)
    d, sy, sx = np.unravel_index(int(np.argmax(z)), z.shape)
    aligned = np.roll(stack[d], (-sy, -sx), axis=(0, 1))
    return float(z[d, sy, sx]), aligned


def _line_search(r: np.ndarray, keyed: _Keyed, unmoved: float, top: int) -> list[np.ndarray]:
    """Key-driven lattice search for images whose autocorrelation is too weak (busy textures):
    the pilot statistic itself, unflipped, over the two one-parameter families common attacks
    produce: scale with no rotation (crops, resizes) and rotation at the unmoved scale (rotations
    on the same canvas). Coarse to fine: at half resolution (one pixel per chip) every other
    lattice of the line grid, then the grid neighbours of the best three; then, at full working
    resolution, a ``LINE_REFINE`` times finer grid around the best ``LINE_REFINE_PEAKS`` distinct
    half-resolution peaks (half resolution ranks well but peaks a few steps off: a chip that
    straddles two half-resolution pixels is blurred into its neighbour). Returns the best ``top``
    lattices; each is then tested like any other candidate, against ``Z_LINE_THRESHOLD``, which
    counts all ``N_LINE_LATTICES`` lattices of the refined grid."""
    h, w = r.shape
    half = cv2.resize(r, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    tc = TILE_CHIPS
    lattices = _line_lattices(unmoved)

    def statistic(indices):
        h2, w2 = half.shape
        folds = np.empty((len(indices), tc, tc), dtype=np.float32)
        for k, i in enumerate(indices):
            period, angle = lattices[i]
            f = period / TILE
            if angle == 0.0:  # scale only: a plain resize (the offset it differs by is a cyclic shift)
                small = cv2.resize(half, (0, 0), fx=1 / f, fy=1 / f, interpolation=cv2.INTER_LINEAR)
                # zero-pad to whole tiles (np.pad costs more than the resize at these sizes)
                warped = np.zeros((-(-small.shape[0] // tc) * tc, -(-small.shape[1] // tc) * tc), np.float32)
                warped[: small.shape[0], : small.shape[1]] = small
            else:
                m = f * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
                corners = np.array([[0, 0], [w2, 0], [0, h2], [w2, h2]]) @ np.linalg.inv(m).T
                lo = np.floor(corners.min(0))
                size = np.ceil(corners.max(0) - lo).astype(int)
                affine = np.hstack([m, (m @ lo)[:, None]])
                warped = cv2.warpAffine(half, affine, (int(-(-size[0] // tc) * tc), int(-(-size[1] // tc) * tc)),
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
            folds[k] = warped.reshape(warped.shape[0] // tc, tc, warped.shape[1] // tc, tc).sum(axis=(0, 2))
        return _pilot_z(folds, keyed.chip_pilot_spectra).reshape(len(indices), -1).max(axis=1)

    coarse = np.arange(0, len(lattices), 2)
    z_coarse = statistic(coarse)
    best = coarse[np.argsort(z_coarse)[::-1][:3]]
    fine = np.array(sorted({int(j) for i in best for j in (i - 1, i + 1) if 0 <= j < len(lattices)} - set(coarse.tolist())))
    scores = dict(zip(coarse.tolist(), z_coarse.tolist()))
    if len(fine):
        scores.update(zip(fine.tolist(), statistic(fine).tolist()))
    peaks: list[int] = []
    for i in sorted(scores, key=scores.get, reverse=True):
        if all(abs(i - j) > 2 * LINE_REFINE_REACH // LINE_REFINE for j in peaks):
            peaks.append(i)
        if len(peaks) == LINE_REFINE_PEAKS:
            break
    return _line_refine(r, keyed, unmoved, [lattices[i] for i in peaks], top)


def _line_refine(r: np.ndarray, keyed: _Keyed, unmoved: float, peaks: list[tuple[float, float]],
                 top: int) -> list[np.ndarray]:
    """The full-resolution pilot statistic (every phase, unflipped) on the refined line grid
    around each half-resolution peak; the best ``top`` distinct lattices."""
    lo, hi = math.log(LINE_PERIOD_RANGE[0]), math.log(LINE_PERIOD_RANGE[1])
    scale_step = LINE_PERIOD_STEP / LINE_REFINE
    angle_step = math.radians(LINE_ANGLE_STEP_DEG) / LINE_REFINE
    max_angle = math.radians(ROTATION_RANGE_DEG)
    candidates: dict[tuple[float, float], None] = {}  # the grids around the peaks, in order, once each
    for period, angle in peaks:
        if angle == 0.0:  # the scale family: grid index of the peak on the refined grid
            centre = round((math.log(period / unmoved) - lo) / scale_step)
            grid = [(unmoved * math.exp(lo + k * scale_step), 0.0)
                    for k in range(centre - LINE_REFINE_REACH, centre + LINE_REFINE_REACH + 1)
                    if k >= 0 and lo + k * scale_step < hi]
        else:
            centre = round((angle + max_angle) / angle_step)
            grid = [(unmoved, -max_angle + k * angle_step)
                    for k in range(centre - LINE_REFINE_REACH, centre + LINE_REFINE_REACH + 1)
                    if -max_angle - 1e-12 <= -max_angle + k * angle_step <= max_angle + 1e-12]
        candidates.update(dict.fromkeys(grid))
    # Every sub-pixel phase: at the right scale a half-pixel offset can split each chip between
    # two fold pixels, and the phase-0 statistic then peaks on both sides of the true lattice.
    # The half-pixel phases are approximated from the phase-0 fold (the average of neighbouring
    # fold pixels, cyclically): a ranking only; the chosen lattices are folded exactly later.
    lattices = list(candidates)
    f00 = np.stack([_fold(r, _basis(*lattice)) for lattice in lattices])
    f01 = 0.5 * (f00 + np.roll(f00, -1, axis=2))
    f10 = 0.5 * (f00 + np.roll(f00, -1, axis=1))
    f11 = 0.5 * (f01 + np.roll(f01, -1, axis=1))
    z = _pilot_statistic(keyed, np.concatenate([f00, f01, f10, f11]))
    z = z.reshape(4, len(lattices)).max(axis=0)
    shortlist = [lattices[i] for i in np.argsort(z)[::-1][:LINE_REFINE_EXACT]]
    exact = _pilot_statistic(keyed, np.stack([_fold(r, _basis(*lattice), (py, px)) for lattice in shortlist
                                              for py in PHASES for px in PHASES]))
    scored = dict(zip(shortlist, exact.reshape(len(shortlist), -1).max(axis=1).tolist()))
    ranked = sorted(scored, key=scored.get, reverse=True)
    out: list[tuple[float, float]] = []
    for lattice in ranked:  # distinct: not a grid neighbour of one already chosen
        if all(abs(math.log(lattice[0] / o[0])) > 1.5 * scale_step or abs(lattice[1] - o[1]) > 1.5 * angle_step
               for o in out):
            out.append(lattice)
        if len(out) == top:
            break
    return [_basis(*lattice) for lattice in out]


def _line_lattices(unmoved: float) -> list[tuple[float, float]]:
    lo, hi = LINE_PERIOD_RANGE
    scales = [(unmoved * math.exp(x), 0.0) for x in np.arange(math.log(lo), math.log(hi), LINE_PERIOD_STEP)]
    step = math.radians(LINE_ANGLE_STEP_DEG)
    angles = [(unmoved, a) for a in np.arange(-math.radians(ROTATION_RANGE_DEG), math.radians(ROTATION_RANGE_DEG) + 1e-9, step)]
    return scales + angles


def _host_correction(yw: np.ndarray, alpha: np.ndarray, chips: np.ndarray, target: float):
    """Informed embedding ("improved spread spectrum"): cancel ``HOST_CANCEL`` of the image's
    own contribution to the detector's folded chip values.

    The detector reads the chips as v = g·K⊛p + h: h is the host's own fold (computed here on
    the working image exactly as the detector would), K the detector's response to one chip
    (high-pass, chip sum: a circular convolution on the chip grid), g the mean local weight,
    p the chip amplitudes in luminance units. The correction d minimising
    |g·K⊛d + λ·h|² + μ|d|² is solved per frequency on the chip grid (Wiener-regularised, so no
    energy goes where the detector hardly sees the pattern). The chips get the rest of the
    energy budget: p = a·c + d with rms(pattern) = target. Returns (a, d).
    """
    weight = _whiten_weight(yw)
    host = _chip_sums(_fold_unmoved(np.clip(_highpass(yw) * weight, -3.0, 3.0)))
    kern = _chip_kernel()
    gain = float(np.mean(weight * alpha))  # detector response per unit chip amplitude, times K
    k2 = np.abs(kern) ** 2
    d = np.fft.ifft2(-HOST_CANCEL * np.conj(kern) * np.fft.fft2(host) / (gain * (k2 + HOST_REG * k2.max()))).real
    ms_d = float(np.mean(d * d)) * float(np.mean(alpha * alpha))
    ms_c = float(np.mean(chips * chips)) * float(np.mean(alpha * alpha))
    # At most HOST_SHARE of the energy for the correction; the chips keep the rest.
    if ms_d > HOST_SHARE * target ** 2:
        d *= math.sqrt(HOST_SHARE * target ** 2 / ms_d)
        ms_d = HOST_SHARE * target ** 2
    a = math.sqrt(max(target ** 2 - ms_d, 0.0) / ms_c)
    return a, d.astype(np.float32)


class SpreadSpectrumWatermarker:
    """Keyed tiled spread-spectrum watermark; see the module docstring for the design."""

    alg = ALG
    false_positive_rate = FALSE_POSITIVE_RATE
    strengths = STRENGTHS

    def __init__(self, key: bytes):
        self._keyed = _derive(key)

    # -- embedding -------------------------------------------------------------------------------

    def check_size(self, width: int, height: int) -> None:
        """Raise WatermarkError unless a ``width``×``height`` image can carry the mark: the release
        asks before it generates, so an impossible size costs nothing. The working image must hold
        a whole tile across its short side: min side ``MIN_EMBED_SIDE``, and long : short at most
        ``WORK_MAX_LONG`` : ``TILE`` (about 19:1) once the long side is capped."""
        shape = _working_shape(height, width, allow_upsample=False)
        if min(width, height) < MIN_EMBED_SIDE or min(shape) < TILE:
            raise WatermarkError(f"a {width}x{height} image cannot carry the watermark: the short side must be at "
                                 f"least {MIN_EMBED_SIDE} px and the long side at most "
                                 f"{math.floor(10 * WORK_MAX_LONG / TILE) / 10}× the short side")

    def embed(self, image: Image.Image, payload: WatermarkPayload, strength: float = 1.0) -> Image.Image:
        """The image with ``payload.asset_id`` embedded; same size, mode RGB, RGBA (alpha kept) or L.
        ``strength`` multiplies the mark's RMS (1: the PSNR targets above)."""
        if not 0.0 < strength <= STRENGTHS[-1]:
            raise WatermarkError(f"watermark strength {strength} outside (0, {STRENGTHS[-1]}]")
        w, h = image.size
        self.check_size(w, h)
        mode = image.mode
        if mode not in ("RGB", "L", "RGBA"):
            image = image.convert("RGBA" if "A" in mode or "transparency" in image.info else "RGB")
            mode = image.mode
        pixels = np.asarray(image)
        colour = np.ascontiguousarray(pixels[..., :3]) if mode == "RGBA" else pixels
        y = colour if mode == "L" else cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
        marked = _saturating_add(colour, self.residual(y, payload.asset_id, strength))
        if mode == "RGBA":
            marked = np.dstack([marked, pixels[..., 3]])
        return Image.fromarray(marked, mode)

    def residual(self, y: np.ndarray, asset_id: str, strength: float = 1.0) -> np.ndarray:
        """The integer-valued luminance change (float32, H×W) that carries ``asset_id`` in luminance ``y``."""
        h, w = y.shape
        shape = _working_shape(h, w, allow_upsample=False)
        yw = _working_luma(y, shape)
        chips = _chips(self._keyed, ecc.encode(_info_bits(self._keyed, asset_id)))
        alpha, target = _texture_weight(yw)
        if HOST_CANCEL > 0:
            a, d = _host_correction(yw, alpha, chips, target)
            chips = a * chips + d
        reps = (-(-shape[0] // TILE), -(-shape[1] // TILE))
        pattern = np.tile(_chip_pixels(chips), reps)[: shape[0], : shape[1]] * alpha
        if shape != (h, w):
            pattern = cv2.resize(pattern, (w, h), interpolation=cv2.INTER_LINEAR)
        rms = math.sqrt(max(float(cv2.norm(pattern, cv2.NORM_L2SQR)) / (h * w), 1e-12))
        return np.rint(pattern * (target * strength / rms))

    # -- detection -------------------------------------------------------------------------------

    def detect(self, image: Image.Image) -> Detection:
        """Look for a mark made with this key. Any image gets an answer; none raises."""
        try:
            w, h = image.size
            if min(w, h) < MIN_DETECT_SIDE:
                return self._none(f"image smaller than {MIN_DETECT_SIDE} px")
            return self.detect_luma(_luma(image))
        except Exception as exc:  # an unreadable image is "no watermark", never a crash of the verifier
            return self._none(f"the detector could not read the image ({type(exc).__name__}: {exc})")

    def detect_luma(self, y: np.ndarray) -> Detection:
        h, w = y.shape
        if min(h, w) < MIN_DETECT_SIDE or min(_working_shape(h, w, allow_upsample=True)) < TILE:
            return self._none("image too small or too narrow")
        best_z, tag_failed = None, None
        for z, aligned, threshold in self.alignments(y):
            best_z = z if best_z is None else max(best_z, z)
            if z >= threshold:
                found = self._decode(aligned, z, threshold)
                if found.found:
                    return found
                tag_failed = found
        if best_z is None:
            return self._none("flat image")
        if tag_failed is not None:
            return tag_failed
        return self._none(f"statistic {best_z:.2f} below threshold {Z_THRESHOLD}", best_z)

    def alignments(self, y: np.ndarray):
        """Yield, per lattice candidate: the best pilot statistic over sub-pixel phases, flips/turns
        and cyclic shifts, the folded tile so aligned, and the threshold that applies to it."""
        h, w = y.shape
        shape = _working_shape(h, w, allow_upsample=True)
        yw = _working_luma(y, shape)
        hp = _highpass(yw)
        local = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), LOCAL_SIGMA))
        r = np.clip(hp / (local + LOCAL_FLOOR), -3.0, 3.0)  # = _whiten(yw)
        if float(np.mean(r * r)) < 1e-4:
            return
        reach = (0.45 * shape[1], 0.45 * shape[0])  # lags (x, y) whose peaks the image can show
        # The period this image's tiles had if it was embedded at its present size.
        unmoved = np.eye(2) * TILE * shape[0] / _working_shape(h, w, allow_upsample=False)[0]

        def key_independent_lattices():
            yield unmoved  # first: most handling (re-encoding, filters, resizes) moves nothing
            ac = _autocorrelation(r)
            noise = _ac_noise(ac)
            refined = _refine(ac, unmoved, reach, noise)
            n = 1
            if np.abs(refined - unmoved).max() * max(reach) / TILE > 0.1:
                n += 1
                yield refined
            wide = (0.6 * shape[1], 0.6 * shape[0])
            for candidate in _lattice_candidates(ac, N_LATTICE_CANDIDATES - n, wide, unmoved[0, 0]):
                yield _refine(ac, candidate, reach, noise)

        def best(basis, flips, r=r):
            # Phase (0, 0) first; the other sub-pixel phases only where it shows something. All
            # phases are counted in the false-positive bound whether or not they are evaluated.
            first = _best_alignment(self._keyed, _fold(r, basis, (PHASES[0], PHASES[0])), flips)
            if first[0] < PHASE_PRETEST:
                return first
            return max([first] + [_best_alignment(self._keyed, _fold(r, basis, (py, px)), flips)
                                  for py in PHASES for px in PHASES if (py, px) != (PHASES[0], PHASES[0])],
                       key=lambda t: t[0])

        for basis in key_independent_lattices():
            if np.all(np.isfinite(basis)) and abs(np.linalg.det(basis)) >= (0.5 * TILE) ** 2:
                yield (*best(basis, True), Z_THRESHOLD)
        # Nothing found: the key-driven line search, for busy images (a weak autocorrelation).
        if float(np.median(local)) < LINE_SEARCH_MIN_CONTRAST:
            return
        # A sharper whitening: on busy texture the mark's 2-px chips stand out of a narrower
        # high-pass and a more local contrast normalisation (measured: more exact ids after crops).
        hp = yw - cv2.GaussianBlur(yw, (0, 0), BUSY_HP_SIGMA)
        r = np.clip(hp / (np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), BUSY_LOCAL_SIGMA)) + LOCAL_FLOOR), -3.0, 3.0)
        for basis in _line_search(r, self._keyed, unmoved[0, 0], N_LINE_DECODES):
            yield (*best(basis, False, r), Z_LINE_THRESHOLD)

    def _decode(self, aligned: np.ndarray, z: float, threshold: float) -> Detection:
        k = self._keyed
        dy, dx = np.divmod(k.data_pos, TILE_CHIPS)
        soft = np.bincount(k.data_bit, weights=aligned[dy * CHIP, dx * CHIP] * k.data_sign, minlength=N_CODED)
        info, corrected = ecc.viterbi_decode(soft, N_INFO)
        id_bytes = np.packbits(info[:ID_BITS]).tobytes()
        matching = int(np.sum(info[ID_BITS:] == _tag(k, id_bytes)))
        found = matching == TAG_BITS
        reason = (f"statistic z={z:.2f} >= {threshold}, {corrected} of {N_CODED} coded bits corrected, tag checks"
                  if found else f"no watermark: statistic z={z:.2f} passed but the payload tag does not check "
                                f"({matching}/{TAG_BITS} bits)")
        return Detection(found, ALG, id_bytes.hex() if found else None, matching, _p_value(z), FALSE_POSITIVE_RATE,
                         reason, statistic=z, threshold=threshold, bits_corrected=corrected if found else None)

    @staticmethod
    def _none(why: str, z: float | None = None) -> Detection:
        return Detection(False, ALG, p_value=_p_value(z or 0.0), false_positive_rate=FALSE_POSITIVE_RATE,
                         reason=f"no watermark: {why}", statistic=z, threshold=Z_THRESHOLD)

    # -- used by tests -------------------------------------------------------------------------------

    def coded_bits(self, asset_id: str) -> np.ndarray:
        """The 288 coded bits (before chip scrambling) that carry ``asset_id``."""
        return ecc.encode(_info_bits(self._keyed, asset_id))

    def decode_soft(self, soft: np.ndarray) -> str | None:
        """Viterbi-decode soft coded bits (>0 means 1); the id if its tag checks, else None."""
        info, _ = ecc.viterbi_decode(soft, N_INFO)
        id_bytes = np.packbits(info[:ID_BITS]).tobytes()
        return id_bytes.hex() if np.array_equal(info[ID_BITS:], _tag(self._keyed, id_bytes)) else None


def _p_value(z: float) -> float:
    """Bound on P(some alignment reaches z) for an unmarked image: the union bound of
    FPR_CALCULATION over every alignment of both groups."""
    return float(min(1.0, (N_HYPOTHESES + N_LINE_HYPOTHESES) * math.exp(-max(z, 0.0) ** 2 / 2)))
