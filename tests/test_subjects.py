"""Subjects (textual inversion) on real components: the embedded model, real face photos, real
c2pa, the real database. Learning runs the real code path with few steps."""

import datetime as dt
import hashlib
import io
import json

import c2pa
import numpy as np
import pytest
import sqlalchemy as sa
import torch
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.errors import (InvalidImageError, PolicyDenied, ReleaseBlocked, SubjectError, SubjectExists,
                                      UnknownSubject)
from pocketstudio.core.generator import load_generator
from pocketstudio.core.generator.hashing import combined_sha256
from pocketstudio.core.generator.subject import LearnSettings, encode, split_prompt, subject_token_ids
from pocketstudio.core.base.store import subjects as subjects_table
from pocketstudio.core.app.studio import GenerationRequest, Studio, SubjectRequest
from training import dataset as D
from pocketstudio.provenance.verify import Status, Verifier, trust_context
from pocketstudio.provenance.watermark import all_detectors
from pocketstudio.safety.faces import FaceAnalyzer
from pocketstudio.safety.likeness import LikenessChecker
from pocketstudio.safety.registry import Registry, load_image, new_person_key

from .conftest import NOW

FAST = LearnSettings(steps=12, batch=4, views=16)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def embedded():
    return load_generator(None)


@pytest.fixture(scope="module")
def pip_refs():
    """Three renders of one character with fixed identity features: Pip wearing a red hat."""
    return tuple(D.render_character("red", place, 1000 + i).image for i, place in enumerate(["left", "center", "right"]))


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer()


def test_prompt_names_the_subject_or_gets_it_prepended(embedded):
    assert split_prompt("Rusty on the left and rusty again", "rusty") == (["", " on the left and ", " again"], True)
    assert split_prompt("trusty rusty-like on a blue background", "rusty") == (["", " trusty rusty-like on a blue background"], False)
    tok = embedded._pipe.tokenizer
    ids, slots = subject_token_ids(tok, ["", " on a blue background"], 3)
    plain = tok("on a blue background", padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
    assert ids.shape == plain.shape and slots[0, 1:4].tolist() == [0, 1, 2] and (slots[0, 4:] == -1).all()
    assert ids[0, 4:].tolist() == plain[0, 1:-3].tolist()  # the prompt's own tokens follow the subject's
    # A prompt without a subject slot encodes exactly as the pipeline encodes it (the hook changes nothing else).
    te = embedded._pipe.text_encoder
    prompt_ids, prompt_slots = subject_token_ids(tok, ["a red circle on the left, on a blue background"], 0)
    with torch.no_grad():
        ours = encode(te, prompt_ids, prompt_slots, torch.zeros(0, 256))
        theirs = embedded._pipe.encode_prompt("a red circle on the left, on a blue background", "cpu", 1, False)[0]
    assert torch.equal(ours, theirs)


@pytest.mark.slow
def test_learned_subject_generates_with_its_hash_in_the_manifest(settings, embedded, pip_refs, tmp_path):
    studio = Studio(settings, generator=embedded)
    seen = []
    record = studio.create_subject(SubjectRequest("rusty", pip_refs, "alice", learn=FAST), now=NOW,
                                   progress=lambda done, total, loss: seen.append((done, total, loss)))
    assert [s[0] for s in seen] == list(range(1, 13)) and all(np.isfinite(s[2]) for s in seen)
    # the embedding file: in the data directory, named by the opaque id, its sha256 recorded
    path = settings.subjects_dir / record.embedding_file
    assert record.embedding_file == f"{record.subject_id}.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record.embedding_sha256
    assert (record.vectors, record.dim) == (8, 256) and record.model_sha256 == embedded.model_sha256
    assert record.reference_sha256s[0] == hashlib.sha256(b"128x128\n" + pip_refs[0].tobytes()).hexdigest()
    from safetensors.torch import load_file

    stored = load_file(path)
    assert list(stored) == [record.token] and stored[record.token].shape == (8, 256)
    # the creation decision is audited
    created = studio.audit.get(record.decision_id)
    assert created.outcome == "subject-created" and created.effect == "allow"
    assert [c["source"] for c in studio.audit.details(created)["image_checks"]] == ["reference-1", "reference-2", "reference-3"]
    assert studio.audit.details(created)["subject"] == {"subject_id": record.subject_id, "embedding_sha256": record.embedding_sha256}

    prompt = "rusty on the right and a blue square on the left, on a yellow background"
    release = studio.generate(GenerationRequest(prompt, "alice", subject="rusty", seed=5, size=128), tmp_path / "s.png", now=NOW)
    plain = studio.generate(GenerationRequest(prompt, "alice", seed=5, size=128), tmp_path / "p.png", now=NOW)
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), np.asarray(Image.open(tmp_path / "p.png")))
    # the model identity combines the checkpoint with the subject's embedding, and names both
    assert release.model_sha256 == combined_sha256([("checkpoint", embedded.model_sha256), ("subject", record.embedding_sha256)])
    assert plain.model_sha256 == embedded.model_sha256 and release.model_name.endswith(f"subject:{record.subject_id}")
    assert studio.audit.details(studio.audit.get(release.decision.decision_id))["subject"] == studio.audit.details(created)["subject"]
    assert "subject" not in studio.audit.details(studio.audit.get(plain.decision.decision_id))
    verdict = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit).verify_bytes(release.data)
    assert verdict.status is Status.TRUSTED
    reader = c2pa.Reader.try_create("image/png", io.BytesIO(release.data), None, trust_context(studio.keys))
    generation = next(a["data"] for a in reader.get_active_manifest()["assertions"] if a["label"] == "io.pocketstudio.generation")
    assert generation["model"]["components"] == [
        {"role": "checkpoint", "name": "pocketstudio-lcd-tiny", "sha256": embedded.model_sha256},
        {"role": "subject", "name": record.subject_id, "sha256": record.embedding_sha256}]
    assert "rusty" not in reader.json()  # the subject's name stays private; its id and hash identify it

    # a prompt that does not name the subject gets it prepended
    named = studio.generator.generate("Rusty on a white background", seed=1, subject=studio.subjects.load("rusty")[1]).image
    prepended = studio.generator.generate("on a white background", seed=1, subject=studio.subjects.load("rusty")[1]).image
    assert np.array_equal(np.asarray(named), np.asarray(prepended))


@pytest.mark.slow
def test_name_clash_unknown_and_damaged_subjects_are_typed_errors(settings, embedded, pip_refs, tmp_path):
    studio = Studio(settings, generator=embedded)
    studio.create_subject(SubjectRequest("rusty", pip_refs[:1], "alice", learn=FAST), now=NOW)
    with pytest.raises(SubjectExists, match="exists already"):
        studio.create_subject(SubjectRequest("rusty", pip_refs[:1], "alice", learn=FAST), now=NOW)
    with pytest.raises(SubjectError, match="a word the model knows"):
        studio.create_subject(SubjectRequest("robot", pip_refs[:1], "alice", learn=FAST), now=NOW)
    with pytest.raises(SubjectError, match="must be 2-32 characters"):
        studio.create_subject(SubjectRequest("Rusty The Robot", pip_refs[:1], "alice", learn=FAST), now=NOW)
    with pytest.raises(UnknownSubject, match="no learned subject named 'dusty'.*known: rusty"):
        studio.generate(GenerationRequest("dusty in a park", "alice", subject="dusty"), tmp_path / "x.png", now=NOW)
    # a changed embedding file is refused, not used
    record = studio.subjects.get("rusty")
    path = settings.subjects_dir / record.embedding_file
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(SubjectError, match="changed or damaged"):
        studio.generate(GenerationRequest("rusty in a park", "alice", subject="rusty"), tmp_path / "x.png", now=NOW)
    assert not (tmp_path / "x.png").exists()
    studio.subjects.delete("rusty")
    assert not path.exists() and studio.subjects.list() == []


def test_subject_learned_on_another_model_is_refused(settings, embedded, tiny_generator, pip_refs, tmp_path):
    learner = Studio(settings, generator=tiny_generator)
    learner.create_subject(SubjectRequest("tinybot", pip_refs[:1], "alice", learn=FAST), now=NOW)
    studio = Studio(settings, store=learner.store, keys=learner.keys, generator=embedded)
    with pytest.raises(SubjectError, match="learned on .* not on the model in use"):
        studio.generate(GenerationRequest("tinybot", "alice", subject="tinybot"), tmp_path / "x.png", now=NOW)


def test_bad_reference_images_are_typed_errors(settings, embedded, tmp_path):
    studio = Studio(settings, generator=embedded)
    with pytest.raises(InvalidImageError, match="too small for a subject reference"):
        studio.create_subject(SubjectRequest("rusty", (Image.new("RGB", (16, 16)),), "alice", learn=FAST), now=NOW)
    with pytest.raises(SubjectError, match="1 to 8 reference images"):
        studio.create_subject(SubjectRequest("rusty", (), "alice", learn=FAST), now=NOW)
    corrupt = tmp_path / "c.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(InvalidImageError, match="not a readable image"):
        load_image(corrupt)
    result = run("subject", "create", "rusty", "--image", corrupt, "--home", tmp_path / "home")
    assert result.exit_code == 1 and "not a readable image" in result.output
    assert not (tmp_path / "home" / "subjects").exists() or not any((tmp_path / "home" / "subjects").iterdir())


def _enrol(studio, face_photos, analyzer):
    studio.likeness.registry._analyzer = analyzer
    key, public = new_person_key()
    person = studio.likeness.registry.register("Barack Obama", public_key=public, photos=[
        load_image(face_photos["obama.jpg"]), load_image(face_photos["obama2.jpg"])])
    return person, key


def test_a_registered_face_needs_consent_to_become_a_subject_and_to_stay_one(settings, tiny_generator, face_photos,
                                                                            analyzer, tmp_path):
    studio = Studio(settings, generator=tiny_generator)
    person, key = _enrol(studio, face_photos, analyzer)
    face = load_image(face_photos["obama3.jpg"])
    with pytest.raises(PolicyDenied) as denied:  # the same typed deny as the release flow's
        studio.create_subject(SubjectRequest("barry", (face,), "alice", learn=FAST), now=NOW)
    assert "registered likeness without valid consent" in str(denied.value) and "Obama" not in str(denied.value)
    record = studio.audit.get(denied.value.decision.decision_id)
    assert record.outcome == "denied" and studio.audit.details(record)["findings"][0]["source"] == "reference-1"
    assert studio.subjects.list() == [] and not list(settings.subjects_dir.glob("*"))
    # a registered name as the subject's name is a finding too
    with pytest.raises(PolicyDenied):
        studio.create_subject(SubjectRequest("barack-obama", (Image.new("RGB", (64, 64), (200, 30, 30)),), "alice", learn=FAST), now=NOW)

    grant = studio.consent.grant(person.person_id, key, grantee="alice", purposes=["general"],
                                 not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30))
    with pytest.raises(PolicyDenied):  # consent is per requester
        studio.create_subject(SubjectRequest("barry", (face,), "bob", learn=FAST), now=NOW)
    made = studio.create_subject(SubjectRequest("barry", (face,), "alice", learn=FAST), now=NOW)
    assert made.person_ids == (person.person_id,) and made.consent_grant_ids == (grant.grant_id,)
    ok = studio.generate(GenerationRequest("barry on the left", "alice", subject="barry", size=128), tmp_path / "a.png", now=NOW)
    assert ok.decision.consent_grant_ids == (grant.grant_id,)
    with pytest.raises(PolicyDenied):  # someone else using alice's subject needs their own consent
        studio.generate(GenerationRequest("barry on the left", "bob", subject="barry", size=128), tmp_path / "b.png", now=NOW)
    studio.consent.revoke(grant.grant_id, NOW)
    with pytest.raises(PolicyDenied):  # revocation reaches the subject at its next use
        studio.generate(GenerationRequest("barry on the left", "alice", subject="barry", size=128), tmp_path / "c.png", now=NOW)
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "c.png").exists()


def test_a_reference_that_cannot_be_checked_fails_closed(settings, tiny_generator, face_photos, analyzer):
    base = Studio(settings, generator=tiny_generator)
    _enrol(base, face_photos, analyzer)
    # the same registry read with the wrong template key: the faces cannot be compared, so nothing is learned
    unreadable = LikenessChecker(Registry(base.store, template_key=b"\x01" * 32, analyzer=analyzer))
    studio = Studio(settings, store=base.store, keys=base.keys, generator=tiny_generator, likeness=unreadable)
    with pytest.raises(ReleaseBlocked, match="^subject creation blocked at step 'reference-check'") as blocked:
        studio.create_subject(SubjectRequest("barry", (load_image(face_photos["biden.jpg"]),), "alice", learn=FAST), now=NOW)
    failed = studio.audit.get(blocked.value.decision_id)
    assert failed.outcome == "failed:reference-check" and studio.audit.details(failed)["reason"].startswith("subject creation failed")
    with studio.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subjects_table)).scalar() == 0


def test_subject_commands(tmp_path, tiny_model_dir, pip_refs):
    home = tmp_path / "home"
    files = []
    for i, im in enumerate(pip_refs[:2]):
        files += ["--image", tmp_path / f"r{i}.png"]
        im.save(tmp_path / f"r{i}.png")
    made = run("subject", "create", "rusty", *files, "--model", tiny_model_dir, "--steps", "5", "--home", home, "--json")
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["created"] and created["name"] == "rusty" and created["training"]["steps"] == 5
    listed = json.loads(run("subject", "list", "--json", "--home", home).stdout)
    assert [s["subject_id"] for s in listed] == [created["subject_id"]]
    shown = json.loads(run("subject", "show", "rusty", "--home", home).stdout)
    assert shown["embedding_verified"] and shown["embedding_sha256"] == created["embedding_sha256"]
    assert run("subject", "create", "rusty", *files, "--model", tiny_model_dir, "--home", home).exit_code == 1

    out = tmp_path / "s.png"
    gen = run("generate", "rusty on the left", "--subject", "rusty", "-o", out, "--model", tiny_model_dir,
              "--size", "128", "--home", home, "--json")
    assert gen.exit_code == 0, gen.output
    released = json.loads(gen.stdout)
    assert released["model_sha256"] != created["model"]["sha256"]
    verdict = json.loads(run("verify", out, "--home", home, "--json").stdout)
    assert verdict["status"] == "trusted" and verdict["manifest"]["model"]["sha256"] == released["model_sha256"]

    unknown = run("generate", "x", "--subject", "dusty", "-o", tmp_path / "u.png", "--model", tiny_model_dir, "--home", home)
    assert unknown.exit_code == 1 and "no learned subject named 'dusty'" in unknown.output
    assert run("subject", "delete", "rusty", "--home", home).exit_code == 0
    assert json.loads(run("subject", "list", "--json", "--home", home).stdout) == []
    assert run("subject", "show", "rusty", "--home", home).exit_code == 1


def test_identity_scorer_sees_the_subject_in_its_renders_and_not_elsewhere():
    from training import fidelity as F

    rusty = F.BENCH_SUBJECTS[0]
    ref = F.reference_signature(rusty)
    scenes = rusty.scenes(8)  # the held-out scenes the benchmark generates rusty into
    assert len(scenes) == 8 and all(named.startswith("rusty") and "pip" not in named for named, _, _ in scenes)
    assert all(d.startswith("pip the robot wearing a red hat") for _, d, _ in scenes)
    # renders of Pip in rusty's hat (the identity generations are asked for) score as rusty
    renders = []
    for i, place in enumerate(["left", "right", "center", "left", "right", "center", "left", "right"]):
        scene = D.render_character("red", place, 50 + i)
        renders.append(F.subject_identity(scene.image, F.parse_caption(scene.caption), "red"))
    agg = F.aggregate_identity(renders, ref)
    assert agg["robot"] == 1.0 and agg["hat_colour"] == 1.0 and agg["reference"] >= 0.8 and agg["agreement"] >= 0.8
    # another hat: the same robot, not the same subject; no robot at all: nothing
    blue = D.render_character("blue", "left", 7)
    other = F.subject_identity(blue.image, F.parse_caption(blue.caption), "red")
    assert other["robot"] and not other["hat_colour"] and F.signature_similarity(other["signature"], ref) < agg["reference"]
    shapes = next(s for s in (D.render_scene(F.EVAL_SEED, i) for i in range(50)) if "pip" not in s.caption)
    none = F.subject_identity(shapes.image, F.parse_caption(shapes.caption), "red")
    assert not none["robot"] and none["identity"] == 0.0 and F.signature_similarity(none["signature"], ref) == 0.0
