"""The ISCC image code (ISO 24138, ``io.iscc.v0`` on the C2PA soft-binding algorithm list): a
registered soft binding beside our own, so that a resolver that speaks only registered algorithms
can still find our manifests.

The code itself is iscc-core's ``gen_image_code_v0`` (not a re-implementation). iscc-core takes
normalised pixels; the normalisation is iscc-sdk's ``image_normalize`` (EXIF transpose, white
behind transparency, uniform border trimmed, grey, 32×32 bicubic), written out here because
iscc-sdk pulls PDF, e-book, audio-tag and exiv2 libraries a verifier does not need.

The soft-binding value is base64 of the code's bytes (header and 64-bit body), like every other
binding value we write; lookups also take the canonical ``ISCC:…`` text.
"""

from __future__ import annotations

import base64
import binascii

import iscc_core
from PIL import Image, ImageOps

from pocketstudio.core.base.errors import InvalidImageError

ALG = "io.iscc.v0"
BITS = 64
# Stored codes within this many of the 64 body bits are the same picture (re-encoded, resized):
# ISCC's own default match threshold for image codes is 12 bits.
MAX_DISTANCE = 12


def _normalize(image: Image.Image) -> list[int]:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        image = white
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    reference = image.getpixel((0, 0))
    reference = reference if isinstance(reference, tuple) else (reference,)
    lut = [255 if v != c else 0 for c in reference for v in range(256)]
    box = image.point(lut).getbbox()
    if box is not None and box != (0, 0) + image.size:
        image = image.crop(box)
    small = image.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return list(small.get_flattened_data() if hasattr(small, "get_flattened_data") else small.getdata())


def image_code(image: Image.Image) -> str:
    """The canonical ISCC image code of ``image``'s pixels, ``ISCC:EEA…``."""
    return iscc_core.gen_image_code_v0(_normalize(image), bits=BITS)["iscc"]


def to_value(code: str) -> str:
    """The soft-binding value: base64 of the code's bytes."""
    return base64.b64encode(_raw(code)).decode()


def from_value(value: str) -> str:
    """The canonical code from a binding value (base64 of its bytes) or from its ``ISCC:…`` text."""
    value = value.strip()
    if value.upper().startswith("ISCC:"):
        raw = _raw(value)
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidImageError(f"an {ALG} value is base64 of the code or ISCC:…, not {value[:40]!r}") from exc
    try:
        code = "ISCC:" + iscc_core.encode_base32(raw)
        main, sub, _, length, _ = iscc_core.iscc_decode(code)
    except (ValueError, KeyError, IndexError) as exc:
        raise InvalidImageError(f"not an ISCC code: {exc}") from exc
    if (main, sub) != (iscc_core.MT.CONTENT, iscc_core.ST_CC.IMAGE):
        raise InvalidImageError("the ISCC code is not an image code (Content-Code Image)")
    return code


def body(code: str) -> int:
    """The code's 64-bit similarity hash (its body) as an integer, for Hamming distances."""
    *_, digest = iscc_core.iscc_decode(code)
    return int.from_bytes(digest[:BITS // 8], "big")


def _raw(code: str) -> bytes:
    try:
        return iscc_core.decode_base32(iscc_core.iscc_clean(code))
    except (ValueError, binascii.Error) as exc:
        raise InvalidImageError(f"not an ISCC code: {exc}") from exc
