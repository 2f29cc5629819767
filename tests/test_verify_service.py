"""The verifier as a service: verdict evidence on real releases, the HTTP API, the C2PA Soft Binding
Resolution API (in-process and over a real socket, with `verify --resolver`), and batch verify."""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import sqlite3
import threading
import time

import pytest
import skimage.data
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app as cli_app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.app.server import Limits, create_app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.policy.audit import verify_proof_bundle
from pocketstudio.policy.checkpoint import Checkpoint
from pocketstudio.provenance.fingerprint import ALG as FP_ALG
from pocketstudio.provenance.fingerprint import Fingerprint
from pocketstudio.provenance.manifest import soft_bindings
from pocketstudio.provenance.resolution import asset_id_to_value
from pocketstudio.provenance.verify import Status, Verifier
from pocketstudio.provenance.watermark import WatermarkPayload, all_detectors, make_watermarker

from .conftest import NOW

runner = CliRunner()
C2PA_FILES = __import__("pathlib").Path(__file__).parent / "data" / "c2pa"


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def released(tmp_path_factory, tiny_generator):
    """One studio home with two releases (spread-spectrum watermark, so crops keep it)."""
    home = tmp_path_factory.mktemp("svc") / "home"
    settings = Settings.load(home)
    base = Studio(settings, generator=tiny_generator)
    studio = Studio(settings, generator=tiny_generator, store=base.store, keys=base.keys,
                    watermarker=make_watermarker("spread-spectrum", base.keys.watermark_key()))
    out = tmp_path_factory.mktemp("out")
    first = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=512),
                            out / "a.png", now=NOW)
    second = studio.generate(GenerationRequest(prompt="a blue square", requester="alice", seed=9, size=512),
                             out / "b.png", now=NOW)
    return {"settings": settings, "studio": studio, "first": first, "second": second, "home": home}


def verifier_of(studio):
    return Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit)


def transplant(studio, release) -> bytes:
    """Another picture carrying a perfect copy of the release's watermark (same key, same id)."""
    other = Image.fromarray(skimage.data.coffee()).convert("RGB").resize((512, 512))
    marked = studio.watermarker.embed(other, WatermarkPayload(release.asset_id, studio.watermarker.alg))
    return jpeg_bytes(marked, 90)


# -- the verdict's evidence --------------------------------------------------------------------------

def test_release_carries_and_stores_the_fingerprint_soft_binding(released):
    studio, release = released["studio"], released["first"]
    stored = studio.manifests.get(release.asset_id)
    fp = Fingerprint.from_value(stored.fingerprint)
    assert (fp.width, fp.height) == (512, 512)
    verdict = verifier_of(studio).verify_bytes(release.data, now=NOW)
    assert verdict.status is Status.TRUSTED
    assert verdict.manifest.fingerprint.to_json() == {"alg": FP_ALG, "value": stored.fingerprint}
    assert verdict.manifest.soft_binding.value == release.asset_id  # the watermark binding is unchanged
    import c2pa

    reader = c2pa.Reader("image/png", io.BytesIO(release.data))
    algs = [b["alg"] for b in soft_bindings(reader.get_active_manifest())]
    assert algs == [studio.watermarker.alg, FP_ALG, "io.iscc.v0"]  # the registered ISCC binding last (issue 19)


def test_verdict_evidence_signer_model_time_watermark_and_audit(released):
    studio, release = released["studio"], released["first"]
    verdict = verifier_of(studio).verify_bytes(release.data, now=NOW)
    signer = verdict.check("signer").evidence
    assert signer["signer"] and signer["issuer"] and signer["created"]
    assert signer["claim_generator"] == ["pocketstudio"]
    assert signer["model"]["sha256"] == release.model_sha256
    mark = verdict.check("watermark").evidence
    assert mark["asset_id"] == release.asset_id and mark["p_value"] < 1e-6 and mark["statistic"] is not None
    assert verdict.check("fingerprint").ok is True
    audit = verdict.check("audit")
    assert audit.ok is True and audit.evidence["record_asset_id"] == release.asset_id
    assert audit.evidence["checkpoint"].startswith(studio.audit.origin)
    assert json.loads(json.dumps(verdict.to_json(), default=str))["checks"]


def test_stripped_and_cropped_copies_recover_with_a_matching_fingerprint(released):
    studio, release = released["studio"], released["first"]
    image = Image.open(io.BytesIO(release.data)).convert("RGB")
    v = verifier_of(studio)
    reencoded = v.verify_bytes(jpeg_bytes(image, 80), now=NOW)
    assert reencoded.status is Status.RECOVERED and reencoded.check("fingerprint").evidence["outcome"] == "same"
    cropped = v.verify_bytes(jpeg_bytes(image.crop((0, 0, 410, 410))), now=NOW)
    assert cropped.status is Status.RECOVERED, cropped.summary
    assert cropped.check("fingerprint").evidence["outcome"] == "crop"
    assert cropped.check("audit").ok is True


def test_transplanted_watermark_is_called_out(released):
    studio, release = released["studio"], released["first"]
    verdict = verifier_of(studio).verify_bytes(transplant(studio, release), now=NOW)
    assert verdict.check("watermark").evidence["asset_id"] == release.asset_id
    assert verdict.check("recovery").ok is True  # the manifest itself is genuine…
    assert verdict.check("fingerprint").ok is False  # …but made for another picture
    assert verdict.status is Status.TRANSPLANTED


def test_audit_record_missing_from_the_reachable_log_fails_closed(released, tmp_path):
    release = released["second"]
    home = tmp_path / "copy"
    shutil.copytree(released["home"], home)
    with sqlite3.connect(home / "pocketstudio.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE decision_id = ?", (release.decision.decision_id,))
    result = runner.invoke(cli_app, ["verify", "--home", str(home), "--json", "-"], catch_exceptions=False)
    assert result.exit_code == 1  # "-" is no file: a clear error, not a verdict
    path = tmp_path / "b.png"
    path.write_bytes(release.data)
    result = runner.invoke(cli_app, ["verify", str(path), "--home", str(home), "--json"], catch_exceptions=False)
    verdict = json.loads(result.stdout)
    audit = next(c for c in verdict["checks"] if c["name"] == "audit")
    assert audit["ok"] is False and verdict["status"] == "invalid" and result.exit_code == 4


# -- the HTTP API ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(released):
    # The service answers only to its own names (DNS rebinding, core/exposure.py), not "testserver".
    return TestClient(create_app(released["settings"], Limits(max_bytes=3_000_000, max_pixels=2_000_000)),
                      base_url="http://127.0.0.1")


def test_post_verify_returns_the_verdict(client, released):
    release = released["first"]
    r = client.post("/v1/verify", files={"file": ("a.png", release.data, "image/png")})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "trusted" and body["asset_id"] == release.asset_id
    assert {c["name"] for c in body["checks"]} >= {"c2pa", "signer", "watermark", "fingerprint", "audit"}
    foreign = client.post("/v1/verify", files={"file": ("c.jpg", (C2PA_FILES / "adobe-20220124-E-sig-CA.jpg").read_bytes(),
                                                        "image/jpeg")})
    assert foreign.status_code == 200 and foreign.json()["status"] == "tampered"
    moved = client.post("/v1/verify", files={"file": ("t.jpg", transplant(released["studio"], release), "image/jpeg")})
    assert moved.json()["status"] == "transplanted-watermark"


def test_upload_limits_and_bad_input_are_clear_errors(client):
    too_big = client.post("/v1/verify", files={"file": ("big.png", b"\0" * 3_200_000, "image/png")})
    assert too_big.status_code == 413 and "3000000" in too_big.json()["error"]["message"]
    huge = png_bytes(Image.new("L", (2000, 1200)))  # 2.4 MP > 2 MP, but a small file
    r = client.post("/v1/verify", files={"file": ("huge.png", huge, "image/png")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too-many-pixels"
    r = client.post("/v1/verify", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "image/png")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid-image"
    r = client.post("/v1/verify", files={"other": ("x.png", b"abc", "image/png")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing-file"
    # a JSON body asks the service to fetch a URL, which this one (no --fetch-urls) refuses
    r = client.post("/v1/verify", content=b"abc", headers={"content-type": "application/json"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "url-fetching-off"
    r = client.post("/v1/verify", content=b"abc", headers={"content-type": "text/plain"})
    assert r.status_code == 422


def test_soft_binding_resolution_api(client, released):
    studio, release = released["studio"], released["first"]
    algs = client.get("/services/supportedAlgorithms").json()
    assert {"alg": studio.watermarker.alg} in algs["watermarks"]
    assert algs["fingerprints"] == [{"alg": FP_ALG}, {"alg": "io.iscc.v0"}]

    value = asset_id_to_value(release.asset_id)
    got = client.get("/matches/byBinding", params={"alg": studio.watermarker.alg, "value": value}).json()
    assert got == {"matches": [{"manifestId": release.manifest_label, "similarityScore": 100}]}
    posted = client.post("/matches/byBinding", json={"alg": studio.watermarker.alg, "value": value}).json()
    assert posted == got
    unknown = client.get("/matches/byBinding", params={"alg": studio.watermarker.alg,
                                                       "value": asset_id_to_value("0" * 16)}).json()
    assert unknown == {"matches": []}
    assert client.get("/matches/byBinding", params={"alg": "com.example.nope", "value": value}).status_code == 400
    assert client.get("/matches/byBinding", params={"alg": studio.watermarker.alg, "value": "@@"}).status_code == 400

    # Fingerprint lookup: the value from a re-encoded copy finds the release, not the other one.
    copy = Image.open(io.BytesIO(jpeg_bytes(Image.open(io.BytesIO(release.data)), 70)))
    fp_value = base64.b64encode(Fingerprint.of(copy).phash.to_bytes(8, "big")).decode()
    by_fp = client.get("/matches/byBinding", params={"alg": FP_ALG, "value": fp_value}).json()["matches"]
    assert by_fp[0]["manifestId"] == release.manifest_label
    assert released["second"].manifest_label not in [m["manifestId"] for m in by_fp]

    # By content: a stripped copy as the raw body.
    stripped = jpeg_bytes(Image.open(io.BytesIO(release.data)), 85)
    by_content = client.post("/matches/byContent", content=stripped, headers={"content-type": "image/jpeg"}).json()
    assert by_content["matches"][0]["manifestId"] == release.manifest_label
    assert client.post("/matches/byContent", content=b"hello", headers={"content-type": "text/plain"}).status_code == 415

    manifest = client.get(f"/manifests/{release.manifest_label}")
    assert manifest.status_code == 200 and manifest.headers["content-type"] == "application/c2pa"
    assert manifest.content == studio.manifests.get(release.asset_id).manifest
    assert client.get("/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000").status_code == 404


def test_audit_routes_and_openapi(client, released):
    studio, release = released["studio"], released["first"]
    note = client.get("/v1/audit/checkpoint")
    assert note.status_code == 200
    cp = Checkpoint.verify(note.text, studio.audit.verifier, studio.audit.origin)
    assert cp.size >= 2
    bundle = client.get(f"/v1/audit/proof/{release.decision.decision_id}").json()
    record = verify_proof_bundle(bundle, studio.audit.verifier)
    assert record["asset_id"] == release.asset_id
    assert client.get("/v1/audit/proof/no-such-decision").status_code == 404
    spec = client.get("/openapi.json").json()
    assert {"/v1/verify", "/matches/byBinding", "/matches/byContent", "/manifests/{manifestId}",
            "/services/supportedAlgorithms", "/v1/audit/checkpoint", "/v1/audit/proof/{decision_id}"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert set(spec["paths"]["/matches/byBinding"]) == {"get", "post"}


# -- over a real socket: a resolution service and `verify --resolver` --------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(released):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(released["settings"]), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def replica_and_stripped(released, release, tmp_path):
    """A verifier replica's home (the studio's keys, an empty database) and the release
    re-encoded as JPEG 85 (its manifest stripped)."""
    replica = tmp_path / "replica"
    replica.mkdir()
    shutil.copytree(released["home"] / "keys", replica / "keys")
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(jpeg_bytes(Image.open(io.BytesIO(release.data)), 85))
    return replica, stripped


def test_verify_with_a_remote_resolver_over_http(released, live_server, tmp_path):
    """A verifier replica: same keys (watermark key, trust root, audit key), an empty database.
    Without the resolver it finds only the watermark; with it, the manifest and the audit proof."""
    release = released["first"]
    replica, stripped = replica_and_stripped(released, release, tmp_path)

    alone = runner.invoke(cli_app, ["verify", str(stripped), "--home", str(replica), "--json"], catch_exceptions=False)
    assert json.loads(alone.stdout)["status"] == "watermark-only" and alone.exit_code == 4

    remote = runner.invoke(cli_app, ["verify", str(stripped), "--home", str(replica), "--json", "--resolver", live_server],
                           catch_exceptions=False)
    verdict = json.loads(remote.stdout)
    assert remote.exit_code == 0 and verdict["status"] == "recovered-via-watermark", verdict["summary"]
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["recovery"]["evidence"]["manifest_label"] == release.manifest_label
    assert checks["recovery"]["evidence"]["trusted"] is True
    assert checks["fingerprint"]["ok"] is True and checks["audit"]["ok"] is True

    transplanted = tmp_path / "moved.jpg"
    transplanted.write_bytes(transplant(released["studio"], release))
    moved = runner.invoke(cli_app, ["verify", str(transplanted), "--home", str(replica), "--json", "--resolver", live_server],
                          catch_exceptions=False)
    assert json.loads(moved.stdout)["status"] == "transplanted-watermark" and moved.exit_code == 4

    # The page and the verify route answer over the same socket.
    import urllib.request

    with urllib.request.urlopen(live_server + "/", timeout=10) as resp:
        assert b"Where does this image come from?" in resp.read()


def test_unreachable_resolver_is_a_failed_recovery_not_a_crash(released, tmp_path):
    release = released["first"]
    replica, stripped = replica_and_stripped(released, release, tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(cli_app, ["verify", str(stripped), "--home", str(replica), "--json", "--resolver", url],
                           catch_exceptions=False)
    verdict = json.loads(result.stdout)
    recovery = next(c for c in verdict["checks"] if c["name"] == "recovery")
    assert verdict["status"] == "watermark-only" and recovery["ok"] is False and "unreachable" in recovery["summary"]
    bad = runner.invoke(cli_app, ["verify", str(stripped), "--home", str(replica), "--resolver", "ftp://x"],
                        catch_exceptions=False)
    assert bad.exit_code == 1 and "resolver URL" in bad.output


# -- many files ----------------------------------------------------------------------------------------

def test_verify_many_files_and_directories(released, tmp_path):
    release = released["first"]
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(release.data)
    (folder / "sub" / "stripped.jpg").write_bytes(jpeg_bytes(Image.open(io.BytesIO(release.data)), 85))
    (folder / "sub" / "plain.png").write_bytes(png_bytes(Image.new("RGB", (64, 64), (200, 10, 10))))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    home = ["--home", str(released["home"])]

    lines = runner.invoke(cli_app, ["verify", str(folder), *home, "--jsonl"], catch_exceptions=False)
    rows = [json.loads(line) for line in lines.stdout.splitlines() if line.startswith("{")]
    by_name = {r["path"].rsplit("/", 1)[-1]: r["status"] for r in rows}
    assert by_name == {"a.png": "trusted", "stripped.jpg": "recovered-via-watermark", "plain.png": "no-provenance",
                       "broken.jpg": "error"}
    assert lines.exit_code == 1  # one file could not be read

    # Worker processes give the same rows, in the same order.
    parallel = runner.invoke(cli_app, ["verify", str(folder), *home, "--jsonl", "--jobs", "2"], catch_exceptions=False)
    assert [json.loads(line) for line in parallel.stdout.splitlines() if line.startswith("{")] == rows
    assert parallel.exit_code == 1

    listed = runner.invoke(cli_app, ["verify", str(folder / "a.png"), str(folder / "sub"), *home, "--json"],
                           catch_exceptions=False)
    parsed = json.loads(listed.stdout)
    assert [p["status"] for p in parsed] == ["trusted", "no-provenance", "recovered-via-watermark"]
    assert listed.exit_code == 4  # plain.png has no provenance

    table = runner.invoke(cli_app, ["verify", str(folder / "a.png"), str(folder / "sub" / "stripped.jpg"), *home],
                          catch_exceptions=False)
    assert table.exit_code == 0 and "summary" in table.stdout and "recovered-via-watermark" in table.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = runner.invoke(cli_app, ["verify", str(empty), *home], catch_exceptions=False)
    assert nothing.exit_code == 1 and "no image files" in nothing.output


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_pocketstudio_serve_as_the_readme_starts_it(released, tmp_path, workers):
    """The installed console script: `pocketstudio serve --port N [--workers 2]`, then the page
    and an upload."""
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request
    import uuid

    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "pocketstudio")
    env = dict(os.environ, POCKETSTUDIO_HOME=str(released["home"]))
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--max-bytes", "2000000", "--workers", str(workers)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=5) as resp:
                    assert b"Where does this image come from?" in resp.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "pocketstudio serve did not come up"
                time.sleep(0.2)
        boundary = uuid.uuid4().hex
        release = released["second"]
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + release.data + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(base + "/v1/verify", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            verdict = json.loads(resp.read())
        assert verdict["status"] == "trusted" and verdict["asset_id"] == release.asset_id
        # An upload declared too large is refused before its body is read.
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.putrequest("POST", "/v1/verify")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(2_200_000))
        conn.endheaders()
        conn.send(b"x" * 65536)
        refused = conn.getresponse()
        assert refused.status == 413 and "2000000" in json.loads(refused.read())["error"]["message"]
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # No access log: the client's address and the paths it asked for are not written anywhere.
    logs = proc.stdout.read().decode() + proc.stderr.read().decode()
    assert "127.0.0.1:" not in logs.replace(f"http://127.0.0.1:{port}/", "") and "/v1/verify" not in logs


def test_service_trusts_the_anchors_the_user_adds_and_verify_online_is_opt_in(released, tmp_path):
    """Another data directory (its own root) sees our release as valid-untrusted until it is given
    our root as a trust anchor (`serve --trust` / `verify --trust`)."""
    from pocketstudio.provenance.keys import ROOT_CERT

    release = released["first"]
    anchor = released["home"] / "keys" / ROOT_CERT
    other = Settings.load(tmp_path / "other")
    plain = TestClient(create_app(other), base_url="http://127.0.0.1").post(
        "/v1/verify", files={"file": ("a.png", release.data, "image/png")})
    assert plain.json()["status"] == "valid-untrusted-signer"
    trusting = TestClient(create_app(other.with_(trust_anchor_files=(anchor,))), base_url="http://127.0.0.1")
    assert trusting.post("/v1/verify", files={"file": ("a.png", release.data, "image/png")}).json()["status"] == "trusted"

    path = tmp_path / "a.png"
    path.write_bytes(release.data)
    cli = runner.invoke(cli_app, ["verify", str(path), "--home", str(tmp_path / "other"), "--trust", str(anchor),
                                  "--online", "--json"], catch_exceptions=False)
    assert cli.exit_code == 0 and json.loads(cli.stdout)["status"] == "trusted"
    missing = runner.invoke(cli_app, ["serve", "--home", str(tmp_path / "other"), "--trust", str(tmp_path / "nope.pem")],
                            catch_exceptions=False)
    assert missing.exit_code == 1 and "trust anchor file" in missing.output
