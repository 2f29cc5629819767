"""The XMP packet of a released image: the IPTC digital source type and China's TC260 AIGC label.

Written with exiv2's XMP serializer (``pyexiv2``, which carries its own libexiv2, so a fresh
``pip install`` needs no system library) into the unsigned file: PNG ``iTXt XML:com.adobe.xmp``,
JPEG APP1. The release flow signs after, so the C2PA hard binding covers the packet and an edit
of it is ``tampered`` or ``metadata-edited``.

Reading is separate and never goes through exiv2: a verifier reads anyone's files, so the packet
is found in the bytes and parsed by Python's XML parser with document type declarations refused
(no entity expansion), a size limit, and every field checked for type.

``ReservedCode1`` binds the label to this release: an HMAC-SHA256, under a key derived from the
data directory's watermark key, over the label, the producer and the produce id (the asset id
the watermark carries). A verifier with that key recomputes it; a label copied onto another file,
or one naming our asset id with another producer, does not match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pocketstudio.core.base.errors import SigningError

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE_BASE + "trainedAlgorithmicMedia"
# Digital source types that mean "made or changed by AI" (IPTC NewsCodes).
AI_SOURCE_TYPES = {DIGITAL_SOURCE_TYPE_BASE + t for t in (
    "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
    "compositeSynthetic")}
RESERVED_CODE_PREFIX = "pocketstudio-hmac-sha256:"
MAX_PACKET = 256 * 1024  # larger packets are not read (a verifier's bound, far above any label)
_TC260_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
                 "ReservedCode2")
_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.S)
_exiv2_lock = threading.Lock()  # exiv2's namespace registry is process-wide
_registered = False


@dataclass(frozen=True)
class AigcLabel:
    """The ``TC260:AIGC`` block (GB 45438-2025): what generated it (``Label`` "1": AI-generated),
    who produced it, the producer's id of the content, and the propagation fields (a platform
    that redistributes the file fills them; a producer leaves them empty)."""

    label: str = "1"
    content_producer: str = ""
    produce_id: str = ""
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def to_json(self) -> dict:
        values = (self.label, self.content_producer, self.produce_id, self.reserved_code1,
                  self.content_propagator, self.propagate_id, self.reserved_code2)
        return dict(zip(_TC260_FIELDS, values))

    @classmethod
    def from_json(cls, data: Any) -> "AigcLabel":
        """From the block's JSON object; a field that is not a string reads as empty."""
        if not isinstance(data, dict):
            raise ValueError("the TC260:AIGC value is not a JSON object")
        text = [data.get(k) if isinstance(data.get(k), str) else "" for k in _TC260_FIELDS]
        return cls(*text)


def label_key(watermark_key: bytes) -> bytes:
    """The ReservedCode1 key: derived, so the watermark key itself never signs anything else."""
    return hmac.new(watermark_key, b"pocketstudio/tc260/ReservedCode1/v1", hashlib.sha256).digest()


def reserved_code(key: bytes, label: str, content_producer: str, produce_id: str) -> str:
    message = json.dumps([label, content_producer, produce_id], ensure_ascii=False).encode("utf-8")
    return RESERVED_CODE_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


def check_reserved_code(key: bytes, block: AigcLabel) -> bool:
    expected = reserved_code(key, block.label, block.content_producer, block.produce_id)
    return hmac.compare_digest(expected.encode(), block.reserved_code1.encode("utf-8", "replace"))


def producer_label(key: bytes, content_producer: str, produce_id: str) -> AigcLabel:
    """The label a release carries: AI-generated, ours, bound by ReservedCode1, not propagated."""
    return AigcLabel("1", content_producer, produce_id, reserved_code(key, "1", content_producer, produce_id))


def _exiv2():
    global _registered
    import pyexiv2

    with _exiv2_lock:
        if not _registered:
            pyexiv2.set_log_level(4)  # errors come back as exceptions, not lines on stderr
            pyexiv2.registerNs(TC260_NS, "TC260")
            _registered = True
    return pyexiv2


def embed_xmp(data: bytes, aigc: AigcLabel, digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA) -> bytes:
    """``data`` (PNG or JPEG) with an XMP packet holding the digital source type and the TC260
    block; the pixels' bytes are untouched. Any failure is a SigningError: no release without it."""
    try:
        pyexiv2 = _exiv2()
        with pyexiv2.ImageData(data) as image:
            image.modify_xmp({
                "Xmp.iptcExt.DigitalSourceType": digital_source_type,
                "Xmp.TC260.AIGC": json.dumps(aigc.to_json(), ensure_ascii=False, separators=(",", ":")),
            })
            out = image.get_bytes()
    except SigningError:
        raise
    except Exception as exc:  # noqa: BLE001 — exiv2 raises plain RuntimeErrors
        raise SigningError(f"could not write the XMP packet: {exc}") from exc
    if read_xmp(out).aigc != aigc:
        raise SigningError("the XMP packet written does not read back")
    return out


@dataclass(frozen=True)
class XmpFacts:
    """What an image's XMP says about AI generation (any producer's)."""

    present: bool = False
    digital_source_type: str | None = None
    aigc: AigcLabel | None = None
    aigc_raw: str | None = None  # the block's text when it is not a JSON object
    error: str | None = None

    def to_json(self) -> dict:
        return {"present": self.present, "digital_source_type": self.digital_source_type,
                "tc260_aigc": self.aigc.to_json() if self.aigc else None,
                **({"tc260_aigc_unparsed": self.aigc_raw[:500]} if self.aigc_raw else {}),
                **({"error": self.error} if self.error else {})}


def _value(root: ET.Element, ns: str, name: str) -> str | None:
    """A simple property of any rdf:Description, written as an attribute or as an element."""
    tag = f"{{{ns}}}{name}"
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        if tag in desc.attrib:
            return desc.attrib[tag]
        element = desc.find(tag)
        if element is not None:
            resource = element.attrib.get(f"{{{RDF_NS}}}resource")
            return resource if resource is not None else (element.text or "").strip()
    return None


def read_xmp(data: bytes) -> XmpFacts:
    """The XMP of any image's bytes (the first uncompressed packet, as PNG, JPEG, WebP and TIFF
    carry it). Never raises for what an image's author wrote: a broken packet is ``error``."""
    match = _PACKET.search(data)
    if match is None:
        return XmpFacts()
    packet = match.group(0)
    if len(packet) > MAX_PACKET:
        return XmpFacts(True, error=f"XMP packet larger than {MAX_PACKET} bytes, not read")
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return XmpFacts(True, error="XMP packet with a document type declaration, not read")
    try:
        root = ET.fromstring(packet)
    except ET.ParseError as exc:
        return XmpFacts(True, error=f"XMP packet does not parse: {exc}")
    source = _value(root, IPTC_EXT_NS, "DigitalSourceType")
    raw = _value(root, TC260_NS, "AIGC")
    if raw is None:
        return XmpFacts(True, source)
    try:
        return XmpFacts(True, source, AigcLabel.from_json(json.loads(raw)))
    except ValueError:  # JSONDecodeError is one
        return XmpFacts(True, source, None, raw, "the TC260:AIGC value is not a JSON object")

