"""Signing: embed a C2PA manifest in PNG or JPEG bytes with a :class:`ClaimSigner`.

The thumbnail is off by default (it costs ~100 ms and ~100 KB per image, DESIGN.md §3). The
signed bytes are read back before they are returned: a manifest that does not read back is an
error, never a release.

Trusted time: with a TSA URL, c2pa-rs asks that RFC 3161 time-stamp authority for a token over the
signature and writes it into the COSE signature (``sigTst2``), so the manifest stays valid after
the signing certificate expires. A TSA that cannot be reached fails the release when
``tsa_required``; otherwise the image is signed without one (``SignedAsset.time_stamp`` says
``pending``) and ``pocketstudio timestamp --pending`` adds it later to the stored manifest, while
the certificate is still valid (an update manifest: provenance/timestamping.py).

Revocation: with ``ocsp_staple`` and a leaf that names an OCSP responder, the responder's answer is
fetched before signing and carried in the manifest (provenance/ocsp.py). A revoked leaf never
signs; a responder that cannot answer fails the release when ``ocsp_required``, else the image is
released without it (``SignedAsset.revocation`` says ``unavailable``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass

import c2pa

from pocketstudio.core.base.errors import RevocationUnavailable, SigningError, TimeStampUnavailable
from .keys import ACCEPTED_SIGNER_EKUS, ClaimSigner
from .ocsp import certificate_status_assertion, fetch_ocsp_response

_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
# Amendment events of the audit log about a release's time-stamp.
TIME_STAMP_PENDING = "time-stamp-pending"  # released untimestamped: the TSA could not be reached
TIME_STAMPED = "time-stamped"  # the stored manifest got its time-stamp later (new manifest hash)


@dataclass(frozen=True)
class SignedAsset:
    data: bytes  # the image with its manifest embedded
    manifest: bytes  # the manifest store alone (JUMBF), kept for recovery by watermark id
    manifest_label: str
    manifest_sha256: str
    time_stamp: str = "none"  # none (no TSA configured), pending (the TSA was unreachable) or stamped
    time_stamp_error: str | None = None  # why it is pending
    revocation: str = "none"  # none (not asked, or no responder), stapled, or unavailable (released without)
    revocation_error: str | None = None  # why it is unavailable


def to_c2pa_signer(signer: ClaimSigner, tsa_url: str | None = None) -> c2pa.Signer:
    """c2pa's callback signer: the key stays with ``signer`` (a file, a PKCS#11 token)."""
    try:
        alg = _ALGS[signer.alg]
    except KeyError:
        raise SigningError(f"unsupported signing algorithm {signer.alg!r}") from None
    return c2pa.Signer.from_callback(signer.sign, alg, signer.chain_pem, tsa_url)


def sign_image(image_bytes: bytes, mime_type: str, manifest: dict, signer: ClaimSigner,
               thumbnail: bool = False, tsa_url: str | None = None, tsa_required: bool = False,
               ocsp_staple: bool = False, ocsp_required: bool = False) -> SignedAsset:
    """Embed and sign ``manifest`` into ``image_bytes``; return the signed bytes and the manifest store.

    With ``tsa_url`` the signature is time-stamped. If that fails and signing without the TSA
    succeeds, the TSA was the cause: ``TimeStampUnavailable`` when ``tsa_required``, else the
    untimestamped asset with ``time_stamp="pending"``. ``ocsp_staple``: see the module docstring."""
    revocation, revocation_error = "none", None
    if ocsp_staple:
        try:
            der = fetch_ocsp_response(signer.chain_pem)  # CertificateRevoked propagates: never sign
        except RevocationUnavailable as exc:
            if ocsp_required:
                raise RevocationUnavailable(f"{exc}; nothing was released because ocsp_required is set: check the "
                                            "responder or unset ocsp_required") from exc
            revocation, revocation_error = "unavailable", str(exc)
        else:
            if der is not None:
                manifest = {**manifest, "assertions": [*manifest.get("assertions", ()),
                                                       certificate_status_assertion(der)]}
                revocation = "stapled"
            elif ocsp_required:
                raise RevocationUnavailable("the claim-signing certificate names no OCSP responder, so no OCSP "
                                            "response can be stapled and ocsp_required is set: import a chain "
                                            "whose leaf has one or unset ocsp_required")
    signed = _sign_timed(image_bytes, mime_type, manifest, signer, thumbnail, tsa_url, tsa_required)
    return dataclasses.replace(signed, revocation=revocation, revocation_error=revocation_error)


def _sign_timed(image_bytes: bytes, mime_type: str, manifest: dict, signer: ClaimSigner, thumbnail: bool,
                tsa_url: str | None, tsa_required: bool) -> SignedAsset:
    if tsa_url is None:
        return _sign(image_bytes, mime_type, manifest, signer, thumbnail, None)
    try:
        return _sign(image_bytes, mime_type, manifest, signer, thumbnail, tsa_url)
    except SigningError as exc:
        first = exc
    plain = _sign(image_bytes, mime_type, manifest, signer, thumbnail, None)  # a non-TSA failure raises here
    if tsa_required:
        raise TimeStampUnavailable(f"the time-stamp authority {tsa_url} could not time-stamp the signature "
                                   f"({first}); nothing was released because tsa_required is set: check the "
                                   "TSA or unset tsa_required to release untimestamped and run "
                                   "'pocketstudio timestamp --pending' later") from first
    return dataclasses.replace(plain, time_stamp="pending", time_stamp_error=str(first))


def _sign(image_bytes: bytes, mime_type: str, manifest: dict, signer: ClaimSigner, thumbnail: bool,
          tsa_url: str | None) -> SignedAsset:
    try:
        context = c2pa.Context(settings=c2pa.Settings.from_dict({
            "builder": {"thumbnail": {"enabled": thumbnail}},
            "trust": {"trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n"}}))  # what signing checks the leaf for
        builder = c2pa.Builder.from_json(json.dumps(manifest), context=context)
        out = io.BytesIO()
        manifest_bytes = builder.sign(to_c2pa_signer(signer, tsa_url), mime_type, io.BytesIO(image_bytes), out)
        signed = out.getvalue()
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(signed), None, context)
        if reader is None:
            raise SigningError("the signed image carries no readable manifest")
        label = json.loads(reader.json()).get("active_manifest")
    except c2pa.C2paError as exc:
        raise SigningError(f"C2PA signing failed: {exc}") from exc
    if not label:
        raise SigningError("the signed manifest has no active manifest label")
    return SignedAsset(signed, bytes(manifest_bytes), label, hashlib.sha256(manifest_bytes).hexdigest(),
                       time_stamp="stamped" if tsa_url else "none")
