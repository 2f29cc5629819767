"""Invisible watermarks carrying the asset id that leads back to the stored manifest."""

from .base import FALSE_POSITIVE_RATE, Detection, PayloadCodec, Watermarker, WatermarkPayload, new_asset_id
from .dwtdctsvd import DwtDctSvdWatermarker
from .spread import SpreadSpectrumWatermarker

# Name in settings → engine class (taking the watermark key). The verifier tries them all, in this
# order, so that images marked by an older default still verify.
ENGINES = {"spread-spectrum": SpreadSpectrumWatermarker, "dwtdctsvd": DwtDctSvdWatermarker}


def make_watermarker(engine: str, key: bytes) -> Watermarker:
    """The engine named in settings, keyed with the data directory's watermark key."""
    try:
        return ENGINES[engine](key)
    except KeyError:
        raise ValueError(f"unknown watermark engine {engine!r}; known: {', '.join(ENGINES)}") from None


def all_detectors(key: bytes) -> list[Watermarker]:
    """Every engine, so that images marked by an older default still verify."""
    return [cls(key) for cls in ENGINES.values()]


__all__ = ["Detection", "DwtDctSvdWatermarker", "FALSE_POSITIVE_RATE", "PayloadCodec", "SpreadSpectrumWatermarker",
           "Watermarker", "WatermarkPayload", "all_detectors", "make_watermarker", "new_asset_id"]
