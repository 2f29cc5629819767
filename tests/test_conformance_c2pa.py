"""C2PA conformance (issue 19): what every released manifest carries, as a conformance reviewer
and an independent validator read it, and the registered ISCC soft binding through the Soft
Binding Resolution API."""

from __future__ import annotations

import base64
import io
import json

import c2pa
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pocketstudio.core.app.server import Limits, create_app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.provenance import fingerprint as fp
from pocketstudio.provenance import iscc
from pocketstudio.provenance.manifest import (SPEC_VERSION, TRAINED_ALGORITHMIC_MEDIA, TRAINING_MINING_ENTRIES,
                                              WATERMARKED_BOUND)
from pocketstudio.provenance.verify import Status, Verifier, trust_context
from tests.conftest import NOW, textured_image

OURS = {"c2pa.actions.v2", "c2pa.soft-binding", "c2pa.soft-binding__1", "c2pa.soft-binding__2",
        "io.pocketstudio.generation", "io.pocketstudio.decision", "cawg.training-mining"}


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_generator):
    settings = Settings.load(tmp_path_factory.mktemp("conf") / "home")
    studio = Studio(settings, generator=tiny_generator)
    out = tmp_path_factory.mktemp("out")
    png = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=256), out / "a.png", now=NOW)
    jpeg = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=4, size=256, format="jpeg"), out / "b.jpg", now=NOW)
    ref = textured_image(256, seed=5)
    i2i = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=5, size=256, references=(ref,)),
                          out / "c.png", now=NOW)
    return {"settings": settings, "studio": studio, "png": png, "jpeg": jpeg, "i2i": i2i, "reference": ref}


def detailed(studio, release) -> tuple[dict, dict, c2pa.Reader]:
    reader = c2pa.Reader.try_create(release.mime_type, io.BytesIO(release.data), None, trust_context(studio.keys))
    doc = json.loads(reader.detailed_json())
    return doc["manifests"][doc["active_manifest"]], doc, reader


@pytest.mark.parametrize("which", ["png", "jpeg"])
def test_manifest_carries_what_the_conformance_program_asks(home, which):
    studio, release = home["studio"], home[which]
    manifest, doc, reader = detailed(studio, release)
    assert reader.get_validation_state() == "Trusted"
    claim, store = manifest["claim"], manifest["assertion_store"]

    # claim_generator_info: name, version and the spec version c2pa-rs validates under.
    info = claim["claim_generator_info"]
    assert info["name"] == "pocketstudio" and info["version"] and info["specVersion"] == SPEC_VERSION
    assert doc["validation_results"]["specVersion"] == SPEC_VERSION

    # c2pa.actions.v2: all actions listed, created by a trained model, the bound watermark.
    actions = store["c2pa.actions.v2"]
    assert actions["allActionsIncluded"] is True
    created, watermarked = actions["actions"]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": "pocketstudio", "version": info["version"]}
    assert watermarked["action"] == WATERMARKED_BOUND

    # Soft bindings: alg, blocks [{scope, value}], pad; every value base64.
    bindings = {v["alg"]: v for k, v in store.items() if k.startswith("c2pa.soft-binding")}
    assert set(bindings) == {studio.watermarker.alg, fp.ALG, iscc.ALG}
    for b in bindings.values():
        assert set(b) == {"alg", "blocks", "pad"} and set(b["blocks"][0]) == {"scope", "value"}
        base64.b64decode(b["blocks"][0]["value"], validate=True)
    assert base64.b64decode(bindings[studio.watermarker.alg]["blocks"][0]["value"]).hex() == release.asset_id
    pixels = Image.open(io.BytesIO(release.data))
    assert iscc.from_value(bindings[iscc.ALG]["blocks"][0]["value"]) == iscc.image_code(pixels)

    # Every assertion of ours is a created assertion: the signer vouches for it.
    created_labels = {u["url"].rsplit("/", 1)[1] for u in claim["created_assertions"]}
    assert {k for k in store if k in OURS} <= created_labels
    assert not [u for u in claim.get("gathered_assertions", []) if u["url"].rsplit("/", 1)[1] in OURS]

    # CAWG training and data mining: the operator's default choice, for every entry.
    entries = store["cawg.training-mining"]["entries"]
    assert {k: v["use"] for k, v in entries.items()} == dict.fromkeys(TRAINING_MINING_ENTRIES, "notAllowed")

    # The verifier reads what was signed.
    verdict = Verifier.open(home["settings"].home).verify(release.data)
    assert verdict.status == Status.TRUSTED, verdict.summary
    summary = verdict.manifest
    assert summary.spec_version == SPEC_VERSION and summary.soft_binding.value == release.asset_id
    assert summary.iscc.alg == iscc.ALG and WATERMARKED_BOUND in summary.actions and summary.ingredients == ()


def test_image_to_image_names_its_reference_as_an_ingredient_without_pixels(home):
    from pocketstudio.core.generator.subject import reference_sha256

    manifest, _, _ = detailed(home["studio"], home["i2i"])
    ingredients = [v for k, v in manifest["assertion_store"].items() if k.startswith("c2pa.ingredient")]
    assert len(ingredients) == 1
    ingredient = ingredients[0]
    sha = reference_sha256(home["reference"])
    assert ingredient["relationship"] == "inputTo" and ingredient["metadata"]["io.pocketstudio.sha256"] == sha
    assert "thumbnail" not in ingredient and "data" not in ingredient  # no pixels of the reference
    assert len(home["i2i"].data) < 2 * len(home["png"].data) + 50_000
    verdict = Verifier.open(home["settings"].home).verify(home["i2i"].data)
    assert verdict.status == Status.TRUSTED and verdict.manifest.ingredients == (("reference-1", "inputTo", sha),)


def test_ai_training_policy_setting_is_what_the_manifest_says(tmp_path, tiny_generator):
    settings = Settings.load(tmp_path / "home", flags={"ai_training_policy": "constrained"})
    studio = Studio(settings, generator=tiny_generator)
    release = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=128), None, now=NOW)
    manifest, _, _ = detailed(studio, release)
    entries = manifest["assertion_store"]["cawg.training-mining"]["entries"]
    assert {v["use"] for v in entries.values()} == {"constrained"}
    assert all(v["constraint_info"] for v in entries.values())


def test_iscc_code_is_iscc_cores_and_survives_re_encoding(home):
    release = home["png"]
    image = Image.open(io.BytesIO(release.data)).convert("RGB")
    code = iscc.image_code(image)
    assert code.startswith("ISCC:EE") and iscc.from_value(iscc.to_value(code)) == code
    buf = io.BytesIO()
    image.resize((200, 200)).save(buf, "JPEG", quality=70)
    copy = iscc.image_code(Image.open(io.BytesIO(buf.getvalue())))
    assert bin(iscc.body(code) ^ iscc.body(copy)).count("1") <= iscc.MAX_DISTANCE


def test_resolution_api_answers_by_iscc(home):
    studio, release, other = home["studio"], home["png"], home["jpeg"]
    client = TestClient(create_app(home["settings"], Limits(max_bytes=3_000_000, max_pixels=2_000_000)),
                        base_url="http://127.0.0.1")
    assert {"alg": iscc.ALG} in client.get("/services/supportedAlgorithms").json()["fingerprints"]
    stored = studio.manifests.get(release.asset_id)
    assert iscc.from_value(stored.iscc) == iscc.image_code(Image.open(io.BytesIO(release.data)))

    # byBinding with the canonical code and with the base64 value: the release, first.
    for value in (iscc.from_value(stored.iscc), stored.iscc):
        got = client.get("/matches/byBinding", params={"alg": iscc.ALG, "value": value}).json()["matches"]
        assert got[0] == {"manifestId": release.manifest_label, "similarityScore": 100}
    assert client.get("/matches/byBinding", params={"alg": iscc.ALG, "value": "ISCC:nope"}).status_code == 400

    # byContent with only the ISCC algorithm: a stripped, re-encoded copy finds the release.
    buf = io.BytesIO()
    Image.open(io.BytesIO(release.data)).convert("RGB").save(buf, "JPEG", quality=80)
    found = client.post("/matches/byContent", params={"alg": iscc.ALG}, content=buf.getvalue(),
                        headers={"content-type": "image/jpeg"}).json()["matches"]
    assert found and found[0]["manifestId"] == release.manifest_label
    assert other.manifest_label not in [m["manifestId"] for m in found[:1]]
