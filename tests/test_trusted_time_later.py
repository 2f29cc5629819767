"""Trusted time added later (issue 19): a release made while the TSA was down is time-stamped by
'pocketstudio timestamp --pending' once it is back, through a C2PA update manifest over the stored
manifest; a stripped copy then recovers a manifest that carries the time-stamp (real OpenSSL TSA
on 127.0.0.1, tests/tsa.py; the real CLI; real c2pa validation)."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from urllib.parse import urlparse

import c2pa
import pytest
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import AuditError
from pocketstudio.core.base.store import manifests
from pocketstudio.policy.audit import proven_amendments, verify_proof_bundle
from pocketstudio.provenance.keys import (ACCEPTED_SIGNER_EKUS, LocalKeySigner, make_claim_signing_cert,
                                          make_root_ca, pem)
from pocketstudio.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA
from pocketstudio.provenance.sign import TIME_STAMP_PENDING, TIME_STAMPED, sign_image
from pocketstudio.provenance.timestamping import PendingArchives, parent_archive, time_stamp_update
from pocketstudio.provenance.verify import Status, Verifier
from tests.conftest import textured_image
from tests.tsa import serve_tsa

runner = CliRunner()


def _stripped(release) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(release.data)).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _timestamp(home, *extra):
    return runner.invoke(app, ["timestamp", "--pending", "--json", "--home", str(home), *extra])


def test_tsa_down_at_release_then_back_time_stamps_the_stored_manifest_and_the_recovered_copy(tmp_path, tiny_generator):
    tsa, stop = serve_tsa(tmp_path / "tsa")
    port = urlparse(tsa.url).port
    stop()  # the TSA is down when the image is released
    home = tmp_path / "home"
    settings = Settings.load(home, flags={"tsa_url": tsa.url, "trust_anchor_files": (str(tsa.anchor),)})
    studio = Studio(settings, generator=tiny_generator)
    release = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=128),
                              tmp_path / "a.png")
    released = studio.manifests.get(release.asset_id)
    assert released.time_stamp == "pending"
    archive = PendingArchives(home).get(release.asset_id)
    assert archive is not None and b"IDAT" not in archive  # the kept archive holds no pixels

    # Still down: nothing changes, the command says so and exits non-zero.
    result = _timestamp(home, "--tsa-url", tsa.url)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout.splitlines()[0])["status"] == "unreachable"
    assert studio.manifests.get(release.asset_id).time_stamp == "pending"

    # Back up on the same address: the stored manifest is time-stamped.
    tsa, stop = serve_tsa(tmp_path / "tsa", port=port)
    try:
        result = _timestamp(home, "--tsa-url", tsa.url)
    finally:
        stop()
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["status"] == "stamped" and line["asset_id"] == release.asset_id
    stored = studio.manifests.get(release.asset_id)
    assert stored.time_stamp == "stamped" and stored.manifest_label == released.manifest_label
    assert stored.manifest_sha256 == line["manifest_sha256"] != released.manifest_sha256
    assert PendingArchives(home).get(release.asset_id) is None
    assert "no manifest is waiting" in runner.invoke(app, ["timestamp", "--pending", "--home", str(home),
                                                       "--tsa-url", tsa.url]).stdout

    # The log: one decision leaf; the follow-up leaves name it; the new hash is public in a proof.
    decision_id = release.decision.decision_id
    assert [r.kind for r in studio.audit.records() if r.decision_id == decision_id].count("decision") == 1
    amendments = studio.audit.amendments(decision_id)
    assert [a.record["event"] for a in amendments] == [TIME_STAMP_PENDING, TIME_STAMPED]
    assert "manifest_sha256" not in amendments[0].record
    bundle = studio.audit.prove(decision_id)
    verify_proof_bundle(bundle, studio.audit.verifier)
    proven = proven_amendments(bundle, studio.audit.verifier)
    assert proven[-1]["event"] == TIME_STAMPED and proven[-1]["manifest_sha256"] == stored.manifest_sha256
    studio.audit.verify()

    # A stripped copy recovers the time-stamped manifest, trusted, with the release's facts.
    verdict = Verifier.open(settings).verify_bytes(_stripped(release))
    assert verdict.status is Status.RECOVERED, verdict.summary
    recovery = verdict.check("recovery")
    assert recovery.evidence["trusted"] is True
    assert {"timeStamp.validated", "timeStamp.trusted"} <= set(recovery.evidence["success_codes"])
    assert verdict.manifest.decision_id == decision_id and verdict.asset_id == release.asset_id
    audit = verdict.check("audit")
    assert audit.ok is True
    assert audit.evidence["amendments"][-1]["manifest_sha256"] == stored.manifest_sha256
    # The file that left the studio is unchanged and still verifies as released.
    assert Verifier.open(settings).verify_bytes(release.data).status is Status.TRUSTED

    # Attack: the stored manifest rolled back to the untimestamped one (or any other) after the
    # follow-up is named by audit verify: only the hash of the last signed amendment is accepted.
    with studio.store.begin() as conn:
        conn.execute(manifests.update().where(manifests.c.asset_id == release.asset_id).values(
            manifest=released.manifest, manifest_sha256=released.manifest_sha256))
    with pytest.raises(AuditError, match="does not match the leaf"):
        studio.audit.verify()


def test_timestamp_without_a_tsa_is_a_configuration_error(tmp_path):
    result = runner.invoke(app, ["timestamp", "--pending", "--home", str(tmp_path / "h")])
    assert result.exit_code != 0 and "tsa" in result.output.lower()


def _short_lived_release(lifetime: dt.timedelta):
    root_key, root = make_root_ca()
    key, leaf = make_claim_signing_cert(root_key, root, lifetime=lifetime)
    signer = LocalKeySigner("es256", (pem(leaf) + pem(root)).decode(), key)
    buf = io.BytesIO()
    textured_image(64).save(buf, "PNG")
    manifest = {"title": "a.png", "format": "image/png", "claim_generator_info": [{"name": "t", "version": "1"}],
                "assertions": [{"label": "c2pa.actions.v2", "created": True, "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}},
                    {"label": "org.example.fact", "data": {"decision_id": "dec_1"}}]}
    return sign_image(buf.getvalue(), "image/png", manifest, signer), signer, root, leaf


@pytest.mark.slow
def test_manifest_time_stamped_later_outlives_its_short_lived_leaf(tmp_path):
    tsa, stop = serve_tsa(tmp_path / "tsa")
    try:
        signed, signer, root, leaf = _short_lived_release(dt.timedelta(seconds=4))
        assert signed.time_stamp == "none"
        stamped = time_stamp_update(parent_archive(signed.data, "image/png", "a.png"), "image/png", "a.png",
                                    signer, tsa.url)
    finally:
        stop()
    assert stamped.parent_label == signed.manifest_label
    time.sleep(max(0.0, (leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.5)
    ctx = c2pa.Context.from_dict({"trust": {"trust_config": "\n".join(ACCEPTED_SIGNER_EKUS) + "\n",
                                            "trust_anchors": pem(root).decode() + tsa.anchor.read_text()},
                                  "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})

    def failures(manifest: bytes) -> set[str]:
        results = c2pa.Reader.try_create("application/c2pa", io.BytesIO(manifest), None, ctx).get_validation_results()
        codes = {c["code"] for c in results["activeManifest"]["failure"]}
        for delta in results.get("ingredientDeltas") or []:
            codes |= {c["code"] for c in delta["validationDeltas"]["failure"]}
        return codes - {"assertion.dataHash.mismatch"}  # a stored manifest is read without its image

    assert "signingCredential.expired" in failures(signed.manifest)  # as released: invalid after expiry
    assert failures(stamped.manifest) == set()  # followed up: the release's signature is vouched for in time
