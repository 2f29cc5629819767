"""Trusted time (issue 19): RFC 3161 time-stamps from a real TSA on 127.0.0.1 (OpenSSL's ``ts``
responder, tests/tsa.py), failing closed when required, released untimestamped (and audited) when
not; a time-stamped manifest stays valid after its signing certificate expires."""

from __future__ import annotations

import datetime as dt
import io
import time

import c2pa
import pytest

from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import ReleaseBlocked, TimeStampUnavailable
from pocketstudio.provenance.keys import (ACCEPTED_SIGNER_EKUS, LEAF_LIFETIME, LocalKeySigner,
                                          make_claim_signing_cert, make_root_ca, pem)
from pocketstudio.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA
from pocketstudio.provenance.sign import TIME_STAMP_PENDING, sign_image
from pocketstudio.provenance.verify import Status, Verifier
from tests.conftest import NOW, textured_image
from tests.tsa import serve_tsa, unreachable_url


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    server, stop = serve_tsa(tmp_path_factory.mktemp("tsa"))
    yield server
    stop()


def _studio(tmp_path, tiny_generator, **flags) -> Studio:
    return Studio(Settings.load(tmp_path / "home", flags=flags), generator=tiny_generator)


def _request(seed=3) -> GenerationRequest:
    return GenerationRequest(prompt="a red circle", requester="alice", seed=seed, size=128)


def _codes(reader: c2pa.Reader, kind: str) -> set[str]:
    return {c["code"] for c in reader.get_validation_results()["activeManifest"][kind]}


def test_release_is_time_stamped_by_the_configured_tsa_and_trusted_through_the_anchor_files(tmp_path, tiny_generator,
                                                                                            tsa):
    studio = _studio(tmp_path, tiny_generator, tsa_url=tsa.url, trust_anchor_files=(str(tsa.anchor),))
    before = len(tsa.requests)
    release = studio.generate(_request(), tmp_path / "a.png", now=NOW)
    assert len(tsa.requests) == before + 1
    assert studio.manifests.get(release.asset_id).time_stamp == "stamped"
    assert not [a for a in studio.audit.amendments(release.decision.decision_id)]
    verifier = Verifier.open(studio.settings.home)
    verdict = verifier.verify(release.data)
    assert verdict.status == Status.TRUSTED, verdict.summary
    from pocketstudio.provenance.verify import trust_context

    reader = c2pa.Reader.try_create("image/png", io.BytesIO(release.data), None, trust_context(studio.keys))
    assert {"timeStamp.validated", "timeStamp.trusted"} <= _codes(reader, "success")


def test_attack_unreachable_tsa_with_tsa_required_releases_nothing(tmp_path, tiny_generator):
    studio = _studio(tmp_path, tiny_generator, tsa_url=unreachable_url(), tsa_required=True)
    out = tmp_path / "a.png"
    with pytest.raises(ReleaseBlocked) as err:  # blocked at the sign step, and audited as such
        studio.generate(_request(), out, now=NOW)
    assert isinstance(err.value.__cause__, TimeStampUnavailable) and "tsa_required" in str(err.value)
    assert not out.exists()
    assert studio.manifests.issued_watermark_algs() == set()  # no manifest stored


def test_unreachable_tsa_without_tsa_required_releases_untimestamped_and_audits_it(tmp_path, tiny_generator):
    studio = _studio(tmp_path, tiny_generator, tsa_url=unreachable_url())
    release = studio.generate(_request(), tmp_path / "a.png", now=NOW)
    assert (tmp_path / "a.png").exists()
    assert studio.manifests.get(release.asset_id).time_stamp == "pending"
    events = [a.record["event"] for a in studio.audit.amendments(release.decision.decision_id)]
    assert events == [TIME_STAMP_PENDING]
    assert Verifier.open(studio.settings.home).verify(release.data).status == Status.TRUSTED


def _sign(image: bytes, lifetime: dt.timedelta, tsa_url: str | None):
    root_key, root = make_root_ca()
    key, leaf = make_claim_signing_cert(root_key, root, lifetime=lifetime)
    signer = LocalKeySigner("es256", (pem(leaf) + pem(root)).decode(), key)
    manifest = {"title": "a.png", "format": "image/png", "claim_generator_info": [{"name": "t", "version": "1"}],
                "assertions": [{"label": "c2pa.actions.v2", "created": True, "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}}]}
    return sign_image(image, "image/png", manifest, signer, tsa_url=tsa_url), root, leaf


def _png() -> bytes:
    buf = io.BytesIO()
    textured_image(64).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_time_stamped_manifest_outlives_a_short_lived_leaf_and_an_untimestamped_one_does_not(tsa):
    image = _png()
    stamped, root1, leaf1 = _sign(image, dt.timedelta(seconds=3), tsa.url)
    plain, root2, leaf2 = _sign(image, dt.timedelta(seconds=3), None)
    assert stamped.time_stamp == "stamped" and plain.time_stamp == "none"
    wait = max(leaf1.not_valid_after_utc, leaf2.not_valid_after_utc) - dt.datetime.now(dt.timezone.utc)
    time.sleep(max(0.0, wait.total_seconds()) + 1.5)
    anchors = pem(root1).decode() + pem(root2).decode() + tsa.anchor.read_text()
    ctx = c2pa.Context.from_dict({"trust": {"trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n",
                                            "trust_anchors": anchors},
                                  "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    later_stamped = c2pa.Reader.try_create("image/png", io.BytesIO(stamped.data), None, ctx)
    later_plain = c2pa.Reader.try_create("image/png", io.BytesIO(plain.data), None, ctx)
    assert later_stamped.get_validation_state() == "Trusted", later_stamped.get_validation_results()
    assert later_plain.get_validation_state() == "Invalid"
    assert "signingCredential.expired" in _codes(later_plain, "failure")


def test_local_leaf_follows_the_conformance_certificate_profile(settings):
    from cryptography import x509

    from pocketstudio.provenance.keys import KeyStore

    keys = KeyStore(settings)
    keys.ensure(NOW)
    leaf = keys.chain()[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=366)
    assert LEAF_LIFETIME <= dt.timedelta(days=366)
    ekus = {o.dotted_string for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    assert ekus == {"1.3.6.1.4.1.62558.2.1", "1.3.6.1.5.5.7.3.4"}  # claim signing + emailProtection


# Codes the independent validator's strict 2.4 posture keeps for a locally rooted signer: only a CA
# on the C2PA Trust List with an OCSP responder (and an online check) clears them (README).
LISTED_CA_ONLY = {"com.encypher.conformance.revocationInformationMissing"}


@pytest.mark.slow
def test_independent_validator_strict_posture_before_and_after_the_leaf_expires(tmp_path, tiny_generator, tsa):
    encypher = pytest.importorskip("encypher_c2pa")
    stamped = _studio(tmp_path / "a", tiny_generator, tsa_url=tsa.url, trust_anchor_files=(str(tsa.anchor),))
    plain = _studio(tmp_path / "b", tiny_generator)
    png = stamped.generate(_request(3), tmp_path / "a.png", now=NOW)
    jpeg = stamped.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=4, size=128,
                                              format="jpeg"), tmp_path / "a.jpg", now=NOW)
    untimestamped = plain.generate(_request(5), tmp_path / "b.png", now=NOW)
    after = (stamped.keys.chain()[0].not_valid_after_utc + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def failures(release, studio, when=None) -> set[str]:
        root = (studio.settings.keys_dir / "root-ca.pem").read_text()
        report = encypher.verify(release.data, release.mime_type, trust_pem=root, tsa_trust_pem=tsa.anchor.read_text(),
                                 strict_conformance=True, validation_time=when, telemetry=False)
        return {c["code"] for c in report["validation_results"]["failure"]}

    for release in (png, jpeg):
        assert failures(release, stamped) == LISTED_CA_ONLY
        assert failures(release, stamped, after) == LISTED_CA_ONLY  # still valid after the leaf's notAfter
    assert "com.encypher.conformance.trustedTimeStampMissing" in failures(untimestamped, plain)
    assert "claimSignature.outsideValidity" in failures(untimestamped, plain, after)
