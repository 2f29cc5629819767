"""The release flow end to end on real components (tiny random LCM, real c2pa, real SQLite)."""

import dataclasses
import datetime as dt
import io
import json

import pytest
import skimage.data
import sqlalchemy as sa
from PIL import Image

from pocketstudio.core.base.errors import GenerationError, OutputPathError, PolicyDenied, ReleaseBlocked
from pocketstudio.core.generator import load_generator
from pocketstudio.core.base.store import manifests
from pocketstudio.core.app.studio import READBACK_MARGIN, GenerationRequest, Studio, embed_readable, encode_image
from pocketstudio.policy.audit import AuditLog
from pocketstudio.provenance.keys import CallbackSigner
from pocketstudio.provenance.resolution import ManifestRepository
from pocketstudio.provenance.verify import Status, Verifier
from pocketstudio.provenance.watermark import WatermarkPayload, all_detectors, new_asset_id
from pocketstudio.safety.likeness import LikenessChecker
from pocketstudio.safety.registry import Registry

from .conftest import NOW, change_one_pixel_keep_manifest


def verifier(studio):
    return Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit)


def request(prompt="a red circle on a blue background", **kw):
    return GenerationRequest(prompt=prompt, requester="alice", **kw)


def test_release_verifies_trusted_with_matching_ids(studio, tmp_path):
    out = tmp_path / "out.png"
    release = studio.generate(request(seed=7, size=256), out, now=NOW)
    assert out.read_bytes() == release.data
    verdict = verifier(studio).verify_bytes(out.read_bytes())
    assert verdict.status is Status.TRUSTED
    assert verdict.asset_id == release.asset_id
    assert verdict.manifest.soft_binding.value == release.asset_id
    assert verdict.manifest.decision_id == release.decision.decision_id
    assert verdict.manifest.model.to_json() == {"name": release.model_name, "sha256": release.model_sha256,
                                                "family": "lcm"}
    assert verdict.manifest.digital_source_type.endswith("trainedAlgorithmicMedia")
    assert verdict.manifest.actions == ("c2pa.created", "c2pa.watermarked.bound")
    assert verdict.check("audit").ok is True
    assert verdict.check("soft-binding").ok
    record = studio.audit.get(release.decision.decision_id)
    assert record.outcome == "released" and record.effect == "allow"
    assert record.record["asset_id"] == release.asset_id
    assert record.record["manifest_sha256"] == release.manifest_sha256
    assert studio.audit.details(record)["watermark"] == {"alg": release.watermark_alg, "id": release.asset_id,
                                          "strength": studio.audit.details(record)["watermark"]["strength"]}
    assert studio.audit.details(record)["watermark"]["strength"] in studio.watermarker.strengths
    assert studio.audit.details(record)["evaluations"][0]["stage"] == "pre" and studio.audit.details(record)["evaluations"][1]["stage"] == "post"
    assert "red circle" not in json.dumps(record.record)


# 128² pictures of flat shapes hold under six watermark tiles. With the embedded model these
# three read back at the default strength with a presence statistic of only 8.2-8.7 (threshold
# 7.5), and seed 2's id did not decode at all: a CI run on another CPU failed its release there.
WEAK_PROMPT = "rusty on the right and a blue square on the left, on a yellow background"
WEAK_SEEDS = (2, 3, 5)


@pytest.mark.slow
def test_a_weakly_readable_image_is_marked_at_the_weakest_strength_that_reads_back(studio):
    embedded = load_generator(None)
    wm = studio.watermarker
    chosen = []
    for seed, fmt in zip(WEAK_SEEDS, ("png", "jpeg", "png")):
        image = embedded.generate(WEAK_PROMPT, seed=seed).image.convert("RGB").resize((128, 128), Image.LANCZOS)
        payload = WatermarkPayload(new_asset_id(), wm.alg)
        marked, encoded, strength, _ = embed_readable(wm, image, payload, fmt)
        assert Image.open(io.BytesIO(encoded)).format == fmt.upper()
        found = wm.detect(Image.open(io.BytesIO(encoded)))
        assert found.asset_id == payload.asset_id and found.statistic >= READBACK_MARGIN * found.threshold
        for weaker in [s for s in wm.strengths if s < strength]:  # each weaker one misses the margin
            again = wm.detect(Image.open(io.BytesIO(encode_image(wm.embed(image, payload, strength=weaker), fmt))))
            assert again.asset_id != payload.asset_id or again.statistic < READBACK_MARGIN * found.threshold
        chosen.append(strength)
    assert max(chosen) > wm.strengths[0]


@pytest.mark.slow
def test_small_flat_release_reads_back_and_records_its_strength(settings, tmp_path):
    studio = Studio(settings, generator=load_generator(None))
    release = studio.generate(GenerationRequest(WEAK_PROMPT, "alice", seed=WEAK_SEEDS[0], size=128), tmp_path / "w.png", now=NOW)
    found = studio.watermarker.detect(Image.open(io.BytesIO(release.data)))
    assert found.asset_id == release.asset_id and found.statistic >= READBACK_MARGIN * found.threshold
    # Which strength reaches the margin depends on the data directory's random watermark key (with
    # some keys this image reads back at x1): the record names the one used, whichever it was.
    assert studio.audit.details(studio.audit.get(release.decision.decision_id))["watermark"]["strength"] \
        in studio.watermarker.strengths
    assert verifier(studio).verify_bytes(release.data, now=NOW).status is Status.TRUSTED


def test_jpeg_reencode_strips_manifest_and_recovers_it_via_watermark(studio, tmp_path):
    release = studio.generate(request(seed=3), tmp_path / "a.png", now=NOW)
    buf = io.BytesIO()
    Image.open(io.BytesIO(release.data)).convert("RGB").save(buf, "JPEG", quality=90)
    verdict = verifier(studio).verify_bytes(buf.getvalue())
    assert verdict.status is Status.RECOVERED
    assert verdict.recovered and verdict.asset_id == release.asset_id
    assert verdict.check("c2pa").ok is None  # nothing embedded any more
    assert verdict.check("recovery").evidence["trusted"] is True
    assert verdict.manifest.decision_id == release.decision.decision_id


def test_default_engine_is_spread_spectrum_and_named_in_the_soft_binding(studio, tmp_path):
    release = studio.generate(request(seed=5), tmp_path / "a.png", now=NOW)
    assert release.watermark_alg == "io.pocketstudio.watermark.spread-spectrum.v1"
    verdict = verifier(studio).verify_bytes(release.data)
    assert verdict.manifest.soft_binding.alg == release.watermark_alg
    assert verdict.check("watermark").evidence["alg"] == release.watermark_alg


def test_images_marked_by_the_older_engine_still_verify(settings, tiny_generator, tmp_path):
    """A release made while dwtDctSvd was the default, then stripped by a PNG re-save (lossless,
    the strongest handling that engine survives), is still found and its manifest recovered."""
    old = Studio(dataclasses.replace(settings, watermark_engine="dwtdctsvd"), generator=tiny_generator)
    release = old.generate(request(seed=11), tmp_path / "old.png", now=NOW)
    assert "dwt" in release.watermark_alg.lower()
    buf = io.BytesIO()
    Image.open(io.BytesIO(release.data)).convert("RGB").save(buf, "PNG")
    current = Studio(settings, generator=tiny_generator)
    assert current.watermarker.alg.endswith("spread-spectrum.v1")
    verdict = verifier(current).verify_bytes(buf.getvalue())
    assert verdict.status is Status.RECOVERED and verdict.asset_id == release.asset_id
    assert verdict.check("watermark").evidence["alg"] == release.watermark_alg


def test_older_engines_run_only_for_stores_that_issued_them(studio, tiny_generator, tmp_path):
    """A store that holds no dwtDctSvd manifests does not pay for that detector on every image:
    a dwtDctSvd mark made with the store's key but never released cannot lead to a manifest, so
    the verifier does not look for it; with no store to ask, every engine runs."""
    from pocketstudio.provenance.watermark import DwtDctSvdWatermarker, WatermarkPayload, new_asset_id

    studio.generate(request(seed=3), tmp_path / "a.png", now=NOW)
    assert studio.manifests.issued_watermark_algs() == {"io.pocketstudio.watermark.spread-spectrum.v1"}
    picture = Image.fromarray(skimage.data.astronaut()).resize((512, 512))  # a photo no engine marked
    legacy = DwtDctSvdWatermarker(studio.keys.watermark_key())
    asset_id = new_asset_id()
    buf = io.BytesIO()
    legacy.embed(picture, WatermarkPayload(asset_id, legacy.alg)).save(buf, "PNG")

    with_store = verifier(studio).verify_bytes(buf.getvalue())
    assert with_store.check("watermark").evidence["alg"] == "io.pocketstudio.watermark.spread-spectrum.v1"
    assert with_store.status is Status.NO_PROVENANCE and with_store.asset_id is None

    no_store = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), None,
                        audit=studio.audit).verify_bytes(buf.getvalue())
    assert no_store.status is Status.WATERMARK_ONLY and no_store.asset_id == asset_id
    assert no_store.check("watermark").evidence["alg"] == legacy.alg


def test_one_pixel_change_is_tampered(studio, tmp_path):
    release = studio.generate(request(seed=5), tmp_path / "a.png", now=NOW)
    verdict = verifier(studio).verify_bytes(change_one_pixel_keep_manifest(release.data))
    assert verdict.status is Status.TAMPERED
    assert "assertion.dataHash.mismatch" in verdict.check("c2pa").evidence["failure_codes"]


def test_jpeg_output_is_signed_too(studio, tmp_path):
    release = studio.generate(request(format="jpeg"), tmp_path / "a.jpg", now=NOW)
    assert release.data[:2] == b"\xff\xd8"
    assert verifier(studio).verify_bytes(release.data).status is Status.TRUSTED


def test_unrelated_image_has_no_provenance(studio):
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (20, 120, 200)).save(buf, "PNG")
    assert verifier(studio).verify_bytes(buf.getvalue()).status is Status.NO_PROVENANCE


def test_registered_name_without_consent_is_denied_before_generation(studio, tmp_path):
    Registry(studio.store).register("Jane Example", ["Janey"])
    out = tmp_path / "x.png"
    with pytest.raises(PolicyDenied) as denied:
        studio.generate(request("a portrait of jane EXAMPLE at the beach"), out, now=NOW)
    assert not out.exists() and not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*partial"))
    decision = denied.value.decision
    assert "likeness.no-consent" in decision.rule_ids and "Jane" not in str(denied.value)
    record = studio.audit.get(decision.decision_id)
    assert record.outcome == "denied" and record.effect == "deny" and record.asset_id is None
    assert len(studio.audit.details(record)["evaluations"]) == 1  # no pixels were generated


def test_consent_lets_the_grantee_through_and_is_audited(studio, tmp_path):
    from pocketstudio.safety.registry import new_person_key

    key, public = new_person_key()
    person = Registry(studio.store).register("Jane Example", ["Janey"], public_key=public)
    grant_id = studio.consent.grant(person.person_id, key, grantee="alice", purposes=["general"],
                                    not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=1)).grant_id
    release = studio.generate(request("Janey waving"), tmp_path / "ok.png", now=NOW)
    assert release.decision.consent_grant_ids == (grant_id,)
    assert studio.audit.details(studio.audit.get(release.asset_id))["consent_grant_ids"] == [grant_id]
    studio.consent.revoke(grant_id, NOW)
    with pytest.raises(PolicyDenied):
        studio.generate(request("Janey waving"), tmp_path / "again.png", now=NOW)


# -- forcing a failure in each release step ---------------------------------------------------------

class _Boom(RuntimeError):
    pass


class FailingGenerator:
    def __init__(self, real):
        self.real = real

    def generate(self, *a, **kw):
        raise GenerationError("forced generator failure")


class FailingLikeness(LikenessChecker):
    def check_image(self, image, stage):
        raise _Boom("forced output-check failure")


class FailingRepository(ManifestRepository):
    def put(self, conn, item):
        raise _Boom("forced manifest-store failure")


class FailingAudit(AuditLog):
    """Refuses to write a released decision's leaf (inside the release's transaction)."""

    def _append(self, conn, items, locked=False):
        if any(item.record.get("outcome") == "released" for item in items):
            raise _Boom("forced audit failure")
        return super()._append(conn, items, locked)


class FailingWatermarker:
    def __init__(self, real, mode):
        self.real, self.mode, self.alg, self.strengths = real, mode, real.alg, real.strengths

    def embed(self, image, payload, strength=1.0):
        if self.mode == "raise":
            raise _Boom("forced watermark failure")
        return image  # "silent": claims success but marks nothing

    def detect(self, image):
        return self.real.detect(image)


def _failing_studio(settings, tiny_generator, step):
    base = Studio(settings, generator=tiny_generator)
    kw = dict(generator=tiny_generator, store=base.store, keys=base.keys)
    if step == "generate":
        kw["generator"] = FailingGenerator(tiny_generator)
    elif step == "output-check":
        kw["likeness"] = FailingLikeness(Registry(base.store))
    elif step in ("watermark", "watermark-silent"):
        kw["watermarker"] = FailingWatermarker(base.watermarker, "raise" if step == "watermark" else "silent")
    elif step == "sign":
        kw["claim_signer"] = CallbackSigner("es256", base.keys.claim_signer().chain_pem,
                                            lambda data: (_ for _ in ()).throw(_Boom("forced signing failure")))
    elif step == "store-manifest":
        kw["manifests"] = FailingRepository(base.store)
    elif step == "audit":
        kw["audit"] = FailingAudit(base.store, base.keys.audit_signer())
    return Studio(settings, **kw)


@pytest.mark.parametrize("step,blocked_at", [
    ("generate", "generate"), ("output-check", "output-check"), ("watermark", "watermark"),
    ("watermark-silent", "watermark"), ("sign", "sign"), ("store-manifest", "store-manifest"), ("audit", "audit"),
])
def test_a_failing_step_writes_nothing_and_is_audited(settings, tiny_generator, tmp_path, step, blocked_at):
    studio = _failing_studio(settings, tiny_generator, step)
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(request(seed=1), outdir / "x.png", now=NOW)
    assert blocked.value.step == blocked_at
    assert list(outdir.iterdir()) == []  # no file, no partial file
    record = studio.audit.get(blocked.value.decision_id)
    assert record.outcome == f"failed:{blocked_at}" and record.effect == "deny"
    with studio.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(manifests)).scalar() == 0
    assert studio.audit.verify()["records"] == 1


def test_bad_requests_are_typed_errors(studio, tmp_path):
    with pytest.raises(GenerationError, match="empty"):
        studio.generate(request("   "), tmp_path / "a.png")
    with pytest.raises(GenerationError, match="format"):
        studio.generate(request(format="gif"), tmp_path / "a.gif")
    with pytest.raises(GenerationError, match="size"):
        studio.generate(request(size=10_000), tmp_path / "a.png")
    with pytest.raises(OutputPathError, match="folder"):
        studio.generate(request(), tmp_path / "missing" / "a.png")
    with pytest.raises(GenerationError, match="steps"):  # checked up front, before the model runs
        studio.generate(request(steps=20), tmp_path / "a.png")
    assert list(tmp_path.glob("*.png")) == []
    assert studio.audit.records() == []  # nothing was decided: every check above comes first
