"""Likeness and consent on real face photos, through the real release flow."""

import datetime as dt
import io

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from pocketstudio.core.base.errors import PolicyDenied
from pocketstudio.core.base.store import consent_grants, face_templates
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.provenance.verify import Verifier
from pocketstudio.provenance.watermark import all_detectors
from pocketstudio.safety.consent import ConsentError
from pocketstudio.safety.faces import FaceAnalyzer
from pocketstudio.safety.registry import EnrollmentError, load_image, new_person_key

from .conftest import NOW


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer()


@pytest.fixture
def enrolled(studio, face_photos, analyzer):
    """A person enrolled from two photos, holding their own key."""
    studio.likeness.registry._analyzer = analyzer
    key, public = new_person_key()
    person = studio.likeness.registry.register(
        "Barack Obama", ["Barry O'Bama"], public_key=public,
        photos=[load_image(face_photos["obama.jpg"]), load_image(face_photos["obama2.jpg"])])
    return person, key


def _request(prompt="a portrait in a park", reference=None, requester="alice", purpose="general"):
    refs = (load_image(reference),) if reference else ()
    return GenerationRequest(prompt=prompt, requester=requester, purpose=purpose, references=refs, size=256)


def _grant(studio, person, key, **kw):
    args = dict(grantee="alice", purposes=["general"], not_before=NOW - dt.timedelta(days=1),
                not_after=NOW + dt.timedelta(days=30))
    args.update(kw)
    return studio.consent.grant(person.person_id, key, **args)


def test_enrolment_refuses_photos_without_exactly_one_face(studio, face_photos, analyzer):
    registry = studio.likeness.registry
    registry._analyzer = analyzer
    two = Image.new("RGB", (1400, 700), (90, 90, 90))  # two real people side by side
    for x, name in ((0, "obama.jpg"), (700, "biden.jpg")):
        photo = load_image(face_photos[name]).convert("RGB")
        photo.thumbnail((700, 700))
        two.paste(photo, (x, 0))
    with pytest.raises(EnrollmentError, match="2 faces found"):
        registry.register("Two People", photos=[two], photo_names=["two.png"])
    with pytest.raises(EnrollmentError, match="flat.png: no face found"):
        registry.register("Nobody", photos=[Image.new("RGB", (400, 400), (90, 90, 90))], photo_names=["flat.png"])
    assert registry.all() == []  # nothing half-registered


def test_templates_are_encrypted_and_photos_not_kept(studio, enrolled, face_photos, analyzer):
    person, _ = enrolled
    with studio.store.connect() as conn:
        blobs = [r.ciphertext for r in conn.execute(sa.select(face_templates))]
    assert len(blobs) == 2
    descriptor = analyzer.analyze(load_image(face_photos["obama.jpg"]))[0].descriptor
    assert all(descriptor.astype("<f4").tobytes()[:16] not in b for b in blobs)
    with pytest.raises(Exception):
        type(studio.likeness.registry)(studio.store, template_key=b"\x00" * 32).templates()
    opened = studio.likeness.registry.templates()[person.person_id]
    assert min(np.linalg.norm(opened - descriptor, axis=1)) < 1e-5


def test_registered_face_in_a_reference_is_denied_without_naming_anyone(studio, enrolled, face_photos, tmp_path):
    person, _ = enrolled
    out = tmp_path / "x.png"
    with pytest.raises(PolicyDenied) as denied:
        studio.generate(_request(reference=face_photos["obama3.jpg"]), out, now=NOW)
    assert not out.exists()
    message = str(denied.value)
    assert "registered likeness without valid consent" in message
    assert "Obama" not in message and person.person_id not in message
    record = studio.audit.get(denied.value.decision.decision_id)
    assert record.outcome == "denied"
    [finding] = studio.audit.details(record)["findings"]
    assert finding["kind"] == "face" and finding["source"] == "reference-1" and finding["band"] == "match"
    assert person.person_id not in str(record.record)  # only a salted commitment
    assert finding["person_id"] == person.person_id  # the operator's opening, checked against its commitment
    opening = studio.audit.openings(record.entry_id)["findings"]
    from pocketstudio.policy.audit import commit_value

    assert commit_value(opening["value"], bytes.fromhex(opening["salt"])) == record.record["commitments"]["findings"]


def test_valid_grant_allows_and_goes_into_the_manifest(studio, enrolled, face_photos, tmp_path):
    person, key = enrolled
    grant = _grant(studio, person, key)
    release = studio.generate(_request(reference=face_photos["obama3.jpg"]), tmp_path / "ok.png", now=NOW)
    assert release.decision.consent_grant_ids == (grant.grant_id,)
    verifier = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit)
    import c2pa
    from pocketstudio.provenance.verify import trust_context

    reader = c2pa.Reader.try_create("image/png", io.BytesIO(release.data), None, trust_context(studio.keys))
    decision = next(a["data"] for a in reader.get_active_manifest()["assertions"] if a["label"] == "io.pocketstudio.decision")
    assert decision["consent_grant_ids"] == [grant.grant_id]
    assert "Obama" not in reader.json()
    assert verifier.verify_bytes(release.data).status.value == "trusted"


@pytest.mark.parametrize("case", ["wrong-requester", "wrong-purpose", "expired", "not-yet-valid", "revoked"])
def test_grants_that_do_not_fit_deny(studio, enrolled, face_photos, tmp_path, case):
    person, key = enrolled
    kw = {"wrong-requester": dict(grantee="bob"), "wrong-purpose": dict(purposes=["advertising"]),
          "expired": dict(not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1)),
          "not-yet-valid": dict(not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=2))}.get(case, {})
    grant = _grant(studio, person, key, **kw)
    if case == "revoked":
        studio.consent.revoke(grant.grant_id, NOW)
    with pytest.raises(PolicyDenied):
        studio.generate(_request(reference=face_photos["obama3.jpg"]), tmp_path / "x.png", now=NOW)
    assert not (tmp_path / "x.png").exists()


def test_grants_cannot_be_forged_by_the_database_operator(studio, enrolled, face_photos, tmp_path):
    person, key = enrolled
    other, _ = new_person_key()
    with pytest.raises(ConsentError, match="not the key"):
        studio.consent.grant(person.person_id, other, grantee="alice", purposes=["general"],
                             not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=1))
    _grant(studio, person, key, purposes=["advertising"])
    with studio.store.begin() as conn:  # widen the grant behind the person's back
        conn.execute(consent_grants.update().values(purposes='["advertising", "general"]'))
    assert studio.consent.verified(person.person_id) == []
    with pytest.raises(PolicyDenied):
        studio.generate(_request(reference=face_photos["obama3.jpg"]), tmp_path / "x.png", now=NOW)


def test_unregistered_face_passes(studio, enrolled, face_photos, tmp_path):
    release = studio.generate(_request(reference=face_photos["biden.jpg"]), tmp_path / "ok.png", now=NOW)
    record = studio.audit.get(release.decision.decision_id)
    assert studio.audit.details(record)["findings"] == [] and studio.audit.details(record)["image_checks"][0]["faces"] == 1


@pytest.mark.parametrize("prompt", [
    "barack obama giving a speech", "BARACK  OBAMA", "Bаrаck Obаmа on stage", "B a r a c k O b a m a",
    "b4r4ck 0b4m4", "Barak Obama at night", "Barack\u200bObama", "Bárack Óbama", "barack-obama", "Barry O'Bama waving",
])
def test_evasive_prompts_are_denied(studio, enrolled, tmp_path, prompt):
    with pytest.raises(PolicyDenied):
        studio.generate(_request(prompt), tmp_path / "x.png", now=NOW)


@pytest.mark.parametrize("prompt", [
    "Barack the builder", "a drama on a bahama beach", "obamacare protest sign", "a red circle on the left",
    "an embarrassing parrot", "Barry the bear",
])
def test_ordinary_prompts_and_first_names_alone_pass_the_prompt_check(studio, enrolled, prompt):
    assert studio.likeness.check_prompt(prompt) == []


class ReplayGenerator:
    """Wraps the real tiny generator but hands back a given real photo as its output, so the
    output gate sees a real face (the tiny model cannot draw one)."""

    def __init__(self, real, photo):
        self.real, self.photo = real, photo

    def generate(self, prompt, **kw):
        made = self.real.generate(prompt, **kw)
        from dataclasses import replace

        side = min(self.photo.size)
        return replace(made, image=self.photo.convert("RGB").crop((0, 0, side, side)))


def test_output_showing_a_registered_face_is_blocked_before_watermarking(settings, tiny_generator, face_photos, analyzer, tmp_path):
    base = Studio(settings, generator=tiny_generator)
    base.likeness.registry._analyzer = analyzer
    key, public = new_person_key()
    base.likeness.registry.register("Barack Obama", public_key=public, photos=[load_image(face_photos["obama.jpg"])])
    studio = Studio(settings, store=base.store, keys=base.keys, likeness=base.likeness,
                    generator=ReplayGenerator(tiny_generator, load_image(face_photos["obama2.jpg"])))
    with pytest.raises(PolicyDenied) as denied:
        studio.generate(GenerationRequest("a man in a suit", "alice", size=512), tmp_path / "x.png", now=NOW)
    record = studio.audit.get(denied.value.decision.decision_id)
    assert [e["stage"] for e in studio.audit.details(record)["evaluations"]] == ["pre", "post"]
    assert studio.audit.details(record)["findings"][0]["source"] == "output" and record.asset_id is None
    assert not (tmp_path / "x.png").exists()


def test_corrupt_or_huge_input_images_are_typed_errors(tmp_path):
    from pocketstudio.core.base.errors import InvalidImageError

    corrupt = tmp_path / "c.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(InvalidImageError, match="not a readable image"):
        load_image(corrupt)
    huge = tmp_path / "h.png"
    Image.new("1", (9000, 8000)).save(huge)  # 72 MP, tiny file
    with pytest.raises(InvalidImageError, match="more than"):
        load_image(huge)
