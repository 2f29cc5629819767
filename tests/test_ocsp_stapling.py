"""OCSP stapling (issue 19): a CA-issued chain whose leaf names an OCSP responder gets the
responder's answer carried in every manifest when ``ocsp_staple`` is on, so c2pa reports
``signingCredential.ocsp.notRevoked`` offline; a revoked leaf signs nothing; an unreachable
responder fails the release only when ``ocsp_required``. The responder is OpenSSL's, on 127.0.0.1
(tests/ocsp_responder.py)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import c2pa
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import CertificateRevoked, ReleaseBlocked, RevocationUnavailable, SigningError
from pocketstudio.provenance.keys import KeyStore
from pocketstudio.provenance.ocsp import CERTIFICATE_STATUS_LABEL, certificate_status_assertion, fetch_ocsp_response
from pocketstudio.provenance.sign import _sign
from pocketstudio.provenance.verify import trust_context
from tests.conftest import NOW
from tests.ocsp_responder import serve_ocsp
from tests.test_trusted_time import _png

runner = CliRunner()


@pytest.fixture
def responder(tmp_path):
    local, stop = serve_ocsp(tmp_path / "ocsp")
    result = runner.invoke(app, ["keys", "import", "--chain", str(local.chain_file), "--key", str(local.key_file),
                                 "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    yield local
    stop()


def _studio(tmp_path, tiny_generator, **flags) -> Studio:
    return Studio(Settings.load(tmp_path / "home", flags=flags), generator=tiny_generator)


def _request(seed=3) -> GenerationRequest:
    return GenerationRequest(prompt="a red circle", requester="alice", seed=seed, size=128)


def _codes(data: bytes, keys: KeyStore) -> tuple[str, set[str], set[str]]:
    reader = c2pa.Reader.try_create("image/png", io.BytesIO(data), None, trust_context(keys))
    results = reader.get_validation_results()["activeManifest"]
    return (reader.get_validation_state(), {c["code"] for c in results["success"]},
            {c["code"] for c in results["failure"]})


def test_chain_with_ocsp_responder_gets_its_response_stapled_and_c2pa_reports_not_revoked(tmp_path, tiny_generator,
                                                                                          responder):
    studio = _studio(tmp_path, tiny_generator, ocsp_staple=True)
    release = studio.generate(_request(), tmp_path / "a.png", now=NOW)
    assert len(responder.requests) == 1 and not [w for w in release.compliance_warnings if "OCSP" in w]
    state, success, failure = _codes(release.data, studio.keys)
    assert state == "Trusted" and "signingCredential.ocsp.notRevoked" in success and not failure
    labels = [a["label"] for a in c2pa.Reader("image/png", io.BytesIO(release.data)).get_active_manifest()["assertions"]]
    assert CERTIFICATE_STATUS_LABEL in labels


def test_without_ocsp_staple_the_responder_is_not_contacted(tmp_path, tiny_generator, responder):
    release = _studio(tmp_path, tiny_generator).generate(_request(), tmp_path / "a.png", now=NOW)
    assert responder.requests == []
    _, success, _ = _codes(release.data, KeyStore(Settings.load(tmp_path / "home")))
    assert "signingCredential.ocsp.notRevoked" not in success


def test_attack_revoked_claim_signing_key_releases_nothing(tmp_path, tiny_generator, responder):
    responder.revoke(NOW - dt.timedelta(minutes=5))
    studio = _studio(tmp_path, tiny_generator, ocsp_staple=True)
    out = tmp_path / "a.png"
    with pytest.raises(ReleaseBlocked) as err:
        studio.generate(_request(), out, now=NOW)
    assert isinstance(err.value.__cause__, CertificateRevoked) and "revoked" in str(err.value)
    assert not out.exists() and studio.manifests.issued_watermark_algs() == set()


def test_c2pa_reads_a_stapled_revoked_response_as_revoked(tmp_path, responder):
    """What the staple is worth: c2pa-rs itself judges the carried response (here it refuses to
    sign with a leaf the carried response calls revoked), so a validator is told, not only us."""
    keys = KeyStore(Settings.load(tmp_path / "home"))
    signer = keys.claim_signer()
    good = fetch_ocsp_response(signer.chain_pem)
    responder.revoke(NOW - dt.timedelta(minutes=5))
    with pytest.raises(CertificateRevoked):
        fetch_ocsp_response(signer.chain_pem)
    # The responder's revoked answer, carried directly (our own check bypassed):
    req = tmp_path / "req.der"
    req.write_bytes(ocsp.OCSPRequestBuilder().add_certificate(responder.leaf, keys.chain()[1], hashes.SHA1()).build()
                    .public_bytes(serialization.Encoding.DER))
    subprocess.run(["openssl", "ocsp", "-index", str(responder.folder / "index.txt"), "-CA",
                    str(responder.folder / "issuer.pem"), "-rsigner", str(responder.folder / "responder.pem"),
                    "-rkey", str(responder.folder / "responder.key"), "-reqin", str(req), "-respout",
                    str(tmp_path / "revoked.der")], check=True, capture_output=True)
    revoked = (tmp_path / "revoked.der").read_bytes()
    assert revoked != good
    manifest = {"title": "a.png", "format": "image/png", "claim_generator_info": [{"name": "t", "version": "1"}],
                "assertions": [certificate_status_assertion(revoked)]}
    with pytest.raises(SigningError) as err:
        _sign(_png(), "image/png", manifest, signer, False, None)
    assert "signingCredential.ocsp.revoked" in str(err.value)


def test_attack_unreachable_responder_with_ocsp_required_releases_nothing(tmp_path, tiny_generator, responder):
    studio = _studio(tmp_path, tiny_generator, ocsp_staple=True, ocsp_required=True)
    (responder.folder / "responder.key").write_bytes(b"")  # OpenSSL cannot sign: the responder answers 400
    out = tmp_path / "a.png"
    with pytest.raises(ReleaseBlocked) as err:
        studio.generate(_request(), out, now=NOW)
    assert isinstance(err.value.__cause__, RevocationUnavailable) and "ocsp_required" in str(err.value)
    assert responder.url in str(err.value) and not out.exists()


def test_unreachable_responder_without_ocsp_required_releases_with_a_warning(tmp_path, tiny_generator, responder):
    (responder.folder / "responder.key").write_bytes(b"")
    studio = _studio(tmp_path, tiny_generator, ocsp_staple=True)
    release = studio.generate(_request(), tmp_path / "a.png", now=NOW)
    assert (tmp_path / "a.png").exists()
    assert any("without an OCSP response" in w for w in release.compliance_warnings)
    state, success, _ = _codes(release.data, studio.keys)
    assert state == "Trusted" and "signingCredential.ocsp.notRevoked" not in success
