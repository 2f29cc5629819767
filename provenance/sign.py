"""Signing: embed a C2PA manifest in PNG or JPEG bytes with a :class:`ClaimSigner`.

The thumbnail is off by default (it costs ~100 ms and ~100 KB per image, DESIGN.md §3). The
signed bytes are read back before they are returned: a manifest that does not read back is an
error, never a release.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import c2pa

from pocketstudio.core.base.errors import SigningError
from .keys import ClaimSigner

_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class SignedAsset:
    data: bytes  # the image with its manifest embedded
    manifest: bytes  # the manifest store alone (JUMBF), kept for recovery by watermark id
    manifest_label: str
    manifest_sha256: str


def to_c2pa_signer(signer: ClaimSigner) -> c2pa.Signer:
    try:
        alg = _ALGS[signer.alg]
    except KeyError:
        raise SigningError(f"unsupported signing algorithm {signer.alg!r}") from None
    return c2pa.Signer.from_callback(signer.sign, alg, signer.chain_pem)


def sign_image(image_bytes: bytes, mime_type: str, manifest: dict, signer: ClaimSigner,
               thumbnail: bool = False) -> SignedAsset:
    """Embed and sign ``manifest`` into ``image_bytes``; return the signed bytes and the manifest store."""
    try:
        context = c2pa.Context(settings=c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": thumbnail}}}))
        builder = c2pa.Builder.from_json(json.dumps(manifest), context=context)
        out = io.BytesIO()
        manifest_bytes = builder.sign(to_c2pa_signer(signer), mime_type, io.BytesIO(image_bytes), out)
        signed = out.getvalue()
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(signed), None, context)
        if reader is None:
            raise SigningError("the signed image carries no readable manifest")
        label = json.loads(reader.json()).get("active_manifest")
    except c2pa.C2paError as exc:
        raise SigningError(f"C2PA signing failed: {exc}") from exc
    if not label:
        raise SigningError("the signed manifest has no active manifest label")
    return SignedAsset(signed, bytes(manifest_bytes), label, hashlib.sha256(manifest_bytes).hexdigest())
