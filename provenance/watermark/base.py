"""The watermark interface: engines embed a 64-bit asset id and detect it with a stated error rate.

The payload on the wire is ``id (64 bits) ‖ tag (32 bits)``, where the tag is a keyed MAC of the
id, and the 96 bits are XOR-scrambled with a keyed sequence. Scrambling means an unmarked image
(whose decoder output is often all zeros) does not decode to a fixed pattern, and the tag makes
presence decidable: on an unmarked image the 32 tag bits agree by chance with probability 2^-32,
which is the stated false-positive rate for one image (see ``FALSE_POSITIVE_RATE``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from math import comb
from typing import Protocol

import numpy as np
from PIL import Image

ID_BITS = 64
TAG_BITS = 32
PAYLOAD_BITS = ID_BITS + TAG_BITS
# Probability that an unmarked image yields a tag that checks, assuming decoded bits are
# independent fair coins after keyed scrambling: every one of the 32 tag bits must match.
FALSE_POSITIVE_RATE = 2.0 ** -TAG_BITS


def new_asset_id() -> str:
    """A fresh random 64-bit asset id, as 16 lowercase hex digits."""
    return secrets.token_bytes(8).hex()


@dataclass(frozen=True)
class WatermarkPayload:
    """What an engine embeds: the asset id and the engine that carried it."""

    asset_id: str
    alg: str

    def __post_init__(self):
        if len(self.asset_id) != 16 or any(c not in "0123456789abcdef" for c in self.asset_id):
            raise ValueError("asset_id must be 16 lowercase hex digits (64 bits)")


@dataclass(frozen=True)
class Detection:
    """A detector's answer. ``asset_id`` is set only when the keyed tag checks.

    ``tag_bits_matching`` and ``p_value`` are each engine's own numbers: for the dwtDctSvd engine,
    the matching tag bits of 32 and P(at least that many agree on an unmarked image); for the
    spread-spectrum engine, the matching bits of its 24-bit tag and the bound on P(an unmarked
    image reaches the observed presence statistic). Smaller ``p_value`` is stronger evidence.
    ``false_positive_rate`` is the engine's stated rate for one image. The optional fields are set
    by engines that have them: ``statistic`` (presence statistic), ``threshold`` (what it was held
    to) and ``bits_corrected`` (coded bits the error-correcting code fixed).
    """

    found: bool
    alg: str
    asset_id: str | None = None
    tag_bits_matching: int = 0
    p_value: float = 1.0
    false_positive_rate: float = FALSE_POSITIVE_RATE
    reason: str = ""
    statistic: float | None = None
    threshold: float | None = None
    bits_corrected: int | None = None

    @property
    def confidence(self) -> float:
        return 1.0 - self.p_value


class Watermarker(Protocol):
    """An engine: ``alg`` names it in the manifest's soft-binding assertion (name and version);
    ``strengths`` are the embedding strengths it supports, weakest (its default) first."""

    alg: str
    strengths: tuple[float, ...]

    def check_size(self, width: int, height: int) -> None:
        """Raise WatermarkError unless an image of this size can carry the mark."""

    def embed(self, image: Image.Image, payload: WatermarkPayload, strength: float = 1.0) -> Image.Image: ...

    def detect(self, image: Image.Image) -> Detection: ...


class PayloadCodec:
    """Keyed framing of the 64-bit id: scramble sequence and MAC tag derived from one key."""

    def __init__(self, key: bytes, alg: str):
        if len(key) < 16:
            raise ValueError("watermark key must be at least 16 bytes")
        self._key = key
        self._alg = alg
        stream = hmac.new(key, b"pocketstudio/watermark/scramble/" + alg.encode(), hashlib.sha256).digest()
        self._mask = np.unpackbits(np.frombuffer(stream[: PAYLOAD_BITS // 8], dtype=np.uint8)).astype(bool)

    def _tag(self, id_bytes: bytes) -> np.ndarray:
        mac = hmac.new(self._key, b"pocketstudio/watermark/tag/" + id_bytes, hashlib.sha256).digest()
        return np.unpackbits(np.frombuffer(mac[: TAG_BITS // 8], dtype=np.uint8)).astype(bool)

    def encode(self, asset_id: str) -> np.ndarray:
        id_bytes = bytes.fromhex(asset_id)
        bits = np.concatenate([np.unpackbits(np.frombuffer(id_bytes, dtype=np.uint8)).astype(bool), self._tag(id_bytes)])
        return bits ^ self._mask

    def decode(self, bits: np.ndarray) -> Detection:
        bits = np.asarray(bits, dtype=bool)
        if bits.shape != (PAYLOAD_BITS,):
            return Detection(found=False, alg=self._alg, reason="decoder returned the wrong number of bits")
        clear = bits ^ self._mask
        id_bytes = np.packbits(clear[:ID_BITS]).tobytes()
        matching = int(np.sum(clear[ID_BITS:] == self._tag(id_bytes)))
        p_value = sum(comb(TAG_BITS, k) for k in range(matching, TAG_BITS + 1)) / 2.0 ** TAG_BITS
        if matching == TAG_BITS:
            return Detection(True, self._alg, id_bytes.hex(), matching, p_value)
        return Detection(False, self._alg, None, matching, p_value, reason="no watermark: keyed tag does not check")
