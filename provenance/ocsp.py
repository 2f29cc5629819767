"""OCSP stapling: the claim-signing certificate's revocation status, fetched at signing time.

c2pa's callback signer (c2pa-python 0.38) has no hook for the COSE ``rVals``/``ocspVals`` header,
so the response goes into the manifest as a ``c2pa.certificate-status`` assertion. c2pa-rs 0.91
reads that assertion for the manifest's own signing certificate when it does not fetch OCSP
itself (store.rs collects the responses by serial number, claim.rs hands them to
check_ocsp_status), so an offline validator reports ``signingCredential.ocsp.notRevoked`` instead
of nothing. Fetching tells the CA's responder that this key is signing now: it is the operator's
choice (the setting ``ocsp_staple``), never the default.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pocketstudio.core.base.errors import CertificateRevoked, RevocationUnavailable
from .keys import ocsp_responders

CERTIFICATE_STATUS_LABEL = "c2pa.certificate-status"
TIMEOUT_S = 5.0
_MAX_RESPONSE = 64 * 1024  # an OCSP response for one certificate is a few KB


def fetch_ocsp_response(chain_pem: str, timeout: float = TIMEOUT_S) -> bytes | None:
    """The DER OCSP response saying the leaf of ``chain_pem`` is good; None when the leaf names no responder.

    A revoked leaf raises :class:`CertificateRevoked`; a responder that cannot be reached or
    gives no usable answer raises :class:`RevocationUnavailable` (the caller decides whether
    that stops the release)."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode() if isinstance(chain_pem, str) else chain_pem)
    leaf = chain[0]
    urls = [u for u in ocsp_responders(leaf) if u.lower().startswith(("http://", "https://"))]
    if not urls:
        return None
    if len(chain) < 2:
        raise RevocationUnavailable("the claim-signing chain lacks the leaf's issuer, which an OCSP request names")
    issuer = chain[1]
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()  # SHA-1: RFC 5019
    body = request.public_bytes(serialization.Encoding.DER)
    try:
        http = urllib.request.Request(urls[0], data=body, method="POST",
                                      headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(http, timeout=timeout) as reply:  # noqa: S310 — http(s) only, checked above
            der = reply.read(_MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} could not be reached ({exc})") from exc
    if len(der) > _MAX_RESPONSE:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} sent more than {_MAX_RESPONSE} bytes")
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} sent no OCSP response ({exc})") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} answered {response.response_status.name}")
    if response.serial_number != leaf.serial_number:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} answered for another certificate")
    if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        raise CertificateRevoked(f"the claim-signing certificate was revoked at {response.revocation_time_utc} "
                                 f"according to its OCSP responder {urls[0]}: import a new chain with "
                                 "'pocketstudio keys import' before releasing")
    if response.certificate_status != ocsp.OCSPCertStatus.GOOD:
        raise RevocationUnavailable(f"the OCSP responder {urls[0]} does not know the claim-signing certificate")
    return der


def certificate_status_assertion(ocsp_der: bytes) -> dict:
    """The ``c2pa.certificate-status`` assertion carrying one OCSP response.

    c2pa's manifest JSON has no byte strings, so ``ocspVals`` holds the response as a list of
    byte values, not the CBOR byte string the spec names: c2pa-rs reads it (serde_bytes accepts a
    sequence), a strict validator such as encypher-c2pa does not (README, SECURITY.md)."""
    return {"label": CERTIFICATE_STATUS_LABEL, "created": True, "data": {"ocspVals": [list(ocsp_der)]}}
