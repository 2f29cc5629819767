"""Issue 20: one output that meets the EU, California and China marking rules, and a verifier
that says which rules an image meets (each requirement of each regime, for ours and anyone's)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess

import c2pa
import numpy as np
from PIL import Image
import pytest
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import ComplianceError
from pocketstudio.provenance import xmp
from pocketstudio.provenance.manifest import DISCLOSURE_LABEL, assertion

from .conftest import NOW

TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"


def _studio(settings: Settings, tiny_generator, **changes) -> Studio:
    return Studio(settings.with_(**changes), generator=tiny_generator)


def _release(studio: Studio, fmt: str = "png", **request):
    return studio.generate(GenerationRequest(prompt="a red circle", requester="t", size=256, seed=1, format=fmt,
                                             **request), now=NOW)


@pytest.fixture
def provided(settings, tiny_generator) -> Studio:
    return _studio(settings, tiny_generator, provider_name="Example Apps Ltd", provider_code="CN-91110000EXAMPLE")


def _active(data: bytes, mime: str = "image/png") -> dict:
    return json.loads(c2pa.Reader(mime, io.BytesIO(data)).json())["manifests"][
        json.loads(c2pa.Reader(mime, io.BytesIO(data)).json())["active_manifest"]]


@pytest.mark.parametrize("fmt,mime", [("png", "image/png"), ("jpeg", "image/jpeg")])
def test_release_carries_xmp_with_source_type_and_tc260_block_bound_to_it(provided, fmt, mime):
    release = _release(provided, fmt)
    facts = xmp.read_xmp(release.data)
    assert facts.digital_source_type == xmp.TRAINED_ALGORITHMIC_MEDIA
    assert facts.aigc.to_json() == {
        "Label": "1", "ContentProducer": "CN-91110000EXAMPLE", "ProduceID": release.asset_id,
        "ReservedCode1": facts.aigc.reserved_code1, "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}
    key = xmp.label_key(provided.keys.watermark_key())
    assert xmp.check_reserved_code(key, facts.aigc)
    assert not xmp.check_reserved_code(key, dataclasses.replace(facts.aigc, produce_id="another-asset"))
    # Inside the signed file: PNG iTXt XML:com.adobe.xmp / JPEG APP1 before the C2PA store, and
    # the hard binding valid over it.
    if fmt == "png":
        assert b"iTXtXML:com.adobe.xmp" in release.data
    else:
        assert re.search(rb"\xff\xe1..http://ns\.adobe\.com/xap/1\.0/\x00", release.data, re.S)
    reader = c2pa.Reader(mime, io.BytesIO(release.data))
    assert not [s for s in (reader.get_validation_results() or {}).get("activeManifest", {}).get("failure", [])
                if "Hash" in s.get("code", "")]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl (installed by .ci/run)")
@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_exiftool_reads_digital_source_type_and_tc260_block(provided, tmp_path, fmt):
    release = _release(provided, fmt)
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(release.data)
    found = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-XMP:all", str(path)], capture_output=True,
                                      check=True, text=True).stdout)[0]
    assert found["XMP-iptcExt:DigitalSourceType"] == xmp.TRAINED_ALGORITHMIC_MEDIA
    block = next(v for k, v in found.items() if k.lower().endswith(":aigc"))
    block = json.loads(block) if isinstance(block, str) else block
    assert block["Label"] == "1" and block["ProduceID"] == release.asset_id
    assert block["ContentProducer"] == "CN-91110000EXAMPLE"


def test_manifest_holds_the_california_disclosure(provided):
    release = _release(provided)
    data = assertion(_active(release.data), DISCLOSURE_LABEL)
    assert data["provider"] == "Example Apps Ltd"
    assert data["system"]["name"] == "pocketstudio" and data["system"]["version"]
    assert data["created"] and data["unique_id"] == release.asset_id and data["ai_generated"] is True
    assert release.compliance_warnings == ()


def test_no_provider_configured_warns_and_releases(settings, tiny_generator):
    release = _release(_studio(settings, tiny_generator))
    assert len(release.compliance_warnings) == 2
    assert "provider_name" in release.compliance_warnings[0] and "provider_code" in release.compliance_warnings[1]
    assert xmp.read_xmp(release.data).aigc.content_producer == ""
    # the eu profile needs no provider code
    eu = _release(_studio(settings, tiny_generator, compliance_profile="eu", provider_name="X"))
    assert eu.compliance_warnings == ()


def test_compliance_strict_refuses_before_generation_without_provider(settings, tiny_generator):
    studio = _studio(settings, tiny_generator, compliance_strict=True, provider_name="X")
    with pytest.raises(ComplianceError, match="provider_code"):
        _release(studio)


def test_cli_init_writes_provider_settings_and_generate_warns_without(tmp_path, tiny_model_dir):
    runner = CliRunner()
    home = tmp_path / "home"
    out = runner.invoke(app, ["init", "--home", str(home), "--provider-name", "Example Apps Ltd",
                              "--provider-code", "CN-1"])
    assert out.exit_code == 0, out.output
    settings = Settings.load(home)
    assert (settings.provider_name, settings.provider_code) == ("Example Apps Ltd", "CN-1")
    assert settings.sources["provider_name"] == "file"


@pytest.mark.slow
def test_cli_generate_without_provider_warns_visibly(tmp_path, tiny_model_dir):
    runner = CliRunner()
    home = tmp_path / "home"
    out = runner.invoke(app, ["generate", "a red circle", "-o", str(tmp_path / "a.png"), "--home", str(home),
                              "--model", str(tiny_model_dir), "--size", "256", "--seed", "1"])
    assert out.exit_code == 0, out.output
    assert "warning: provider_name is not set" in out.output and "provider_code is not set" in out.output
    strict = runner.invoke(app, ["generate", "a red circle", "-o", str(tmp_path / "b.png"), "--home", str(home),
                                 "--model", str(tiny_model_dir), "--size", "256"],
                           env={"POCKETSTUDIO_COMPLIANCE_STRICT": "true"})
    assert strict.exit_code == 1 and "compliance_strict" in strict.output
    assert not (tmp_path / "b.png").exists()
    labelled = runner.invoke(app, ["generate", "a red circle", "-o", str(tmp_path / "c.png"), "--home", str(home),
                                   "--model", str(tiny_model_dir), "--size", "256", "--label", "--label-lang", "zh"])
    assert labelled.exit_code == 0, labelled.output
    data = assertion(_active((tmp_path / "c.png").read_bytes()), DISCLOSURE_LABEL)
    assert data["visible_label"]["text"] == "人工智能生成"


# -- the verifier's compliance report ------------------------------------------------------------

@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_generator):
    """One provider-configured data directory with a PNG and a JPEG release (read-only for tests)."""
    settings = Settings.load(tmp_path_factory.mktemp("c") / "home").with_(
        provider_name="Example Apps Ltd", provider_code="CN-91110000EXAMPLE")
    studio = Studio(settings, generator=tiny_generator)
    return settings, _release(studio), _release(studio, "jpeg")


def _regimes(verdict) -> dict:
    return {name: (r["status"], sorted(q["id"] for q in r["requirements"] if not q["met"]))
            for name, r in verdict.compliance.items()}


def _verifier(settings):
    from pocketstudio.provenance.verify import Verifier

    return Verifier.open(settings)


def test_release_meets_california_and_names_what_else_is_unmet(shared):
    settings, png, jpeg = shared
    for release in (png, jpeg):
        verdict = _verifier(settings).verify(release.data)
        assert verdict.status.value == "trusted"
        assert _regimes(verdict) == {
            "eu_ai_act_art50": ("partial", ["eu.timestamp"]),  # no TSA configured here
            "ca_sb942": ("met", []),
            "cn_gb45438": ("partial", ["cn.explicit-label"]),  # no --label
        }
        ca = {r["id"]: r["evidence"] for r in verdict.compliance["ca_sb942"]["requirements"]}
        assert "Example Apps Ltd" in ca["ca.provider"] and release.asset_id in ca["ca.unique-id"]
        assert verdict.to_json()["compliance"] == verdict.compliance
        assert verdict.check("xmp").evidence["tc260_aigc"]["ProduceID"] == release.asset_id


def test_no_provider_marks_california_and_china_partial(settings, tiny_generator):
    release = _release(_studio(settings, tiny_generator))
    regimes = _regimes(_verifier(settings).verify(release.data))
    assert regimes["ca_sb942"] == ("partial", ["ca.provider"])
    assert regimes["cn_gb45438"] == ("partial", ["cn.content-producer", "cn.explicit-label"])


def test_reencoded_copy_still_reports_california_fields_through_recovery(shared):
    settings, png, _ = shared
    buf = io.BytesIO()
    Image.open(io.BytesIO(png.data)).convert("RGB").save(buf, "JPEG", quality=90)
    verdict = _verifier(settings).verify(buf.getvalue())
    assert verdict.status.value == "recovered-via-watermark"
    regimes = _regimes(verdict)
    assert regimes["ca_sb942"] == ("met", [])
    # the XMP went with the re-encode: China's implicit label is gone, and the report says so
    assert "cn.implicit-label" in regimes["cn_gb45438"][1]


def _plain_png(seed: int = 3) -> bytes:
    from .conftest import textured_image

    buf = io.BytesIO()
    textured_image(256, seed).save(buf, "PNG")
    return buf.getvalue()


def _with_xmp(data: bytes, values: dict) -> bytes:
    import pyexiv2

    xmp._exiv2()  # registers the TC260 namespace
    with pyexiv2.ImageData(data) as image:
        image.modify_xmp(values)
        return image.get_bytes()


def test_anyones_image_with_only_a_tc260_block_is_reported_as_exactly_that(shared):
    block = {"Label": "1", "ContentProducer": "001191110108MA01ABCD00000", "ProduceID": "img-42",
             "ReservedCode1": "their-signature", "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}
    data = _with_xmp(_plain_png(), {"Xmp.TC260.AIGC": json.dumps(block)})
    verdict = _verifier(shared[0]).verify(data)
    assert verdict.status.value == "no-provenance"
    assert _regimes(verdict) == {
        "eu_ai_act_art50": ("missing", ["eu.ai-marked", "eu.signed-metadata", "eu.timestamp", "eu.watermark"]),
        "ca_sb942": ("missing", ["ca.ai-generated", "ca.created", "ca.durable", "ca.provider", "ca.system",
                                 "ca.unique-id"]),
        "cn_gb45438": ("partial", ["cn.explicit-label"]),
    }
    code = next(r for r in verdict.compliance["cn_gb45438"]["requirements"] if r["id"] == "cn.reserved-code")
    assert "not checkable" in code["evidence"]


def test_anyones_image_with_only_iptc_xmp_is_reported_as_exactly_that(shared):
    data = _with_xmp(_plain_png(), {"Xmp.iptcExt.DigitalSourceType": xmp.TRAINED_ALGORITHMIC_MEDIA})
    regimes = _regimes(_verifier(shared[0]).verify(data))
    assert regimes["eu_ai_act_art50"] == ("partial", ["eu.signed-metadata", "eu.timestamp", "eu.watermark"])
    assert regimes["ca_sb942"][0] == "missing" and regimes["cn_gb45438"][0] == "missing"


def test_anyones_image_with_only_c2pa_is_reported_as_exactly_that(shared, tmp_path):
    from pocketstudio.provenance.keys import KeyStore
    from pocketstudio.provenance.sign import sign_image

    other = KeyStore(Settings.load(tmp_path / "other"))
    other.ensure()
    manifest = {"claim_generator_info": [{"name": "another-generator", "version": "2"}], "title": "x.png",
                "format": "image/png", "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": xmp.TRAINED_ALGORITHMIC_MEDIA}]}}]}
    data = sign_image(_plain_png(), "image/png", manifest, other.claim_signer()).data
    verdict = _verifier(shared[0]).verify(data)
    assert verdict.status.value == "valid-untrusted-signer"
    regimes = _regimes(verdict)
    assert regimes["eu_ai_act_art50"] == ("partial", ["eu.timestamp", "eu.watermark"])
    # AI-generated is stated; no provider, system version, time (no time-stamp), id or watermark
    assert regimes["ca_sb942"] == ("partial", ["ca.created", "ca.durable", "ca.provider", "ca.system", "ca.unique-id"])
    assert regimes["cn_gb45438"][0] == "missing"


def _add_png_text(data: bytes, key: bytes, text: bytes) -> bytes:
    from .conftest import png_chunks, png_from_chunks

    chunks = png_chunks(data)
    return png_from_chunks(chunks[:-1] + [(b"tEXt", key + b"\x00" + text)] + chunks[-1:])


def test_metadata_edit_is_metadata_edited_not_tampered(shared, tmp_path):
    settings, png, _ = shared
    edited = _add_png_text(png.data, b"Credit", b"Photo desk, Example News")
    verdict = _verifier(settings).verify(edited)
    assert verdict.status.value == "metadata-edited"
    assert verdict.summary == "credentials detached by a metadata edit; pixels unchanged"
    assert verdict.check("pixels").ok and verdict.check("recovery").ok
    path = tmp_path / "edited.png"
    path.write_bytes(edited)
    out = CliRunner().invoke(app, ["verify", str(path), "--home", str(settings.home), "--json"])
    assert out.exit_code == 4 and json.loads(out.stdout)["status"] == "metadata-edited"


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian libimage-exiftool-perl (installed by .ci/run)")
def test_exiftool_credit_line_is_metadata_edited(shared, tmp_path):
    settings, png, jpeg = shared
    for release, name in ((png, "a.png"), (jpeg, "a.jpg")):
        path = tmp_path / name
        path.write_bytes(release.data)
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Rights=Example News", str(path)], check=True)
        assert _verifier(settings).verify(path).status.value == "metadata-edited", name


def test_attack_pixel_edit_keeping_the_manifest_is_tampered_not_metadata_edited(shared):
    from .conftest import change_one_pixel_keep_manifest

    settings, png, _ = shared
    verdict = _verifier(settings).verify(change_one_pixel_keep_manifest(png.data))
    assert verdict.status.value == "tampered"
    assert verdict.check("pixels").ok is False


def test_attack_tc260_producer_rewritten_fails_reserved_code(shared):
    settings, png, _ = shared
    block = xmp.read_xmp(png.data).aigc.to_json()
    forged = _with_xmp(png.data, {"Xmp.TC260.AIGC": json.dumps({**block, "ContentProducer": "SOMEONE-ELSE"})})
    verdict = _verifier(settings).verify(forged)
    code = next(r for r in verdict.compliance["cn_gb45438"]["requirements"] if r["id"] == "cn.reserved-code")
    assert code["met"] is False and "copied or altered" in code["evidence"]


def test_attack_tc260_block_copied_onto_another_release_fails_reserved_code(shared, settings, tiny_generator):
    s, png, jpeg = shared
    block = xmp.read_xmp(png.data).aigc.to_json()  # asset A's valid block, onto asset B's file
    forged = _with_xmp(jpeg.data, {"Xmp.TC260.AIGC": json.dumps(block)})
    code = next(r for r in _verifier(s).verify(forged).compliance["cn_gb45438"]["requirements"]
                if r["id"] == "cn.reserved-code")
    assert code["met"] is False


def test_verify_crjson_writes_content_credentials_json(shared, tmp_path):
    settings, png, _ = shared
    path = tmp_path / "a.png"
    path.write_bytes(png.data)
    out = CliRunner().invoke(app, ["verify", str(path), "--home", str(settings.home), "--crjson"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert "manifests" in doc and "validationResults" in json.dumps(doc)
    both = CliRunner().invoke(app, ["verify", str(path), "--home", str(settings.home), "--crjson", "--json"])
    assert both.exit_code == 2
    plain = tmp_path / "plain.png"
    plain.write_bytes(_plain_png())
    none = CliRunner().invoke(app, ["verify", str(plain), "--home", str(settings.home), "--crjson"])
    assert none.exit_code == 1 and "no C2PA manifest" in json.loads(none.stdout)["error"]


# -- verifying by URL ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(shared):
    """A local HTTP server: /a.png is the PNG release, /redirect-to?u=… redirects, /big is 2 MiB."""
    import http.server
    import threading
    import urllib.parse as up

    png = shared[1].data

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            parts = up.urlsplit(self.path)
            if parts.path == "/a.png":
                body, status = png, 200
            elif parts.path == "/redirect-to":
                self.send_response(302)
                self.send_header("Location", up.parse_qs(parts.query)["u"][0])
                self.end_headers()
                return
            elif parts.path == "/big":
                body, status = b"\0" * (2 * 1024 * 1024), 200
            else:
                body, status = b"no", 404
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_attack_url_to_loopback_is_refused_without_allow_private_network(shared, web):
    settings = shared[0]
    refused = CliRunner().invoke(app, ["verify", f"{web}/a.png", "--home", str(settings.home), "--json"])
    assert refused.exit_code == 1
    row = json.loads(refused.stdout)
    assert row["status"] == "error" and "refused" in row["reason"] and "127.0.0.1" in row["reason"]
    allowed = CliRunner().invoke(app, ["verify", f"{web}/a.png", "--home", str(settings.home), "--json",
                                       "--allow-private-network"])
    assert allowed.exit_code == 0, allowed.output
    row = json.loads(allowed.stdout)
    assert row["status"] == "trusted" and row["path"] == f"{web}/a.png"
    assert row["compliance"]["ca_sb942"]["status"] == "met"


def test_attack_name_resolving_to_loopback_is_refused(web):
    from pocketstudio.core.app.fetch import FetchRefused, GuardedFetcher

    port = web.rsplit(":", 1)[1]
    with pytest.raises(FetchRefused, match="loopback, private"):
        GuardedFetcher().fetch(f"http://localhost:{port}/a.png")


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://10.0.0.1/",
                                    "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/", "http://[fd00:ec2::254]/"])
def test_attack_url_to_metadata_or_private_range_is_refused_before_connecting(target):
    from pocketstudio.core.app.fetch import FetchRefused, GuardedFetcher

    with pytest.raises(FetchRefused, match="refused"):
        GuardedFetcher(timeout=2).fetch(target)


def test_attack_redirect_to_a_refused_address_is_checked_again(web):
    """Each hop is checked: a redirect into a range the fetcher refuses fails, even when the first
    address was allowed (here: 127.0.0.1 allowed by the operator's choice, the redirect target is
    the metadata address)."""
    from pocketstudio.core.app import fetch

    class LocalOnly(fetch.GuardedFetcher):
        def _address(self, host, port):  # the operator allows exactly 127.0.0.1, nothing else private
            if host == "127.0.0.1":
                return host
            return fetch.GuardedFetcher._address(self, host, port)

    with pytest.raises(fetch.FetchRefused, match="169.254.169.254"):
        LocalOnly(timeout=2).fetch(f"{web}/redirect-to?u=http://169.254.169.254/latest/meta-data/")
    assert LocalOnly().fetch(f"{web}/redirect-to?u={web}/a.png").url == f"{web}/a.png"


def test_fetch_caps_size_and_redirects(web):
    from pocketstudio.core.app.fetch import FetchRefused, GuardedFetcher

    with pytest.raises(FetchRefused, match="larger than"):
        GuardedFetcher(allow_private_network=True, max_bytes=1024 * 1024).fetch(f"{web}/big")
    loop = f"{web}/redirect-to?u={web}/redirect-to%3Fu%3D{web}/a.png"
    with pytest.raises(FetchRefused, match="more than 1 redirects"):
        GuardedFetcher(allow_private_network=True, max_redirects=1).fetch(loop)


def test_service_fetches_urls_only_with_fetch_urls(shared, web):
    from fastapi.testclient import TestClient

    from pocketstudio.core.app.server import create_app

    settings = shared[0]
    off = TestClient(create_app(settings), base_url="http://127.0.0.1").post("/v1/verify", json={"url": f"{web}/a.png"})
    assert off.status_code == 403 and "--fetch-urls" in off.json()["error"]["message"]
    on = TestClient(create_app(settings.with_(verify_fetch_urls=True)), base_url="http://127.0.0.1")
    refused = on.post("/v1/verify", json={"url": f"{web}/a.png"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "url-refused"


# -- the visible label ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang,text", [("en", "AI-generated"), ("zh", "人工智能生成")])
def test_label_text_is_at_least_5_percent_of_the_shortest_side(lang, text):
    from pocketstudio.provenance.label import default_text, draw_label

    from .conftest import textured_image

    assert default_text(lang) == text
    image = textured_image(512, 1).resize((640, 400))
    labelled, drawn = draw_label(image, text, lang)
    assert drawn.height >= 0.05 * 400 and drawn.text == text
    # the pixels changed in the lower left corner only, and in a band at least that high
    diff = np.any(np.asarray(labelled, dtype=int) != np.asarray(image.convert("RGB"), dtype=int), axis=2)
    rows, cols = np.nonzero(diff)
    assert rows.min() > 400 // 2 and cols.min() < 640 // 4 and rows.max() - rows.min() + 1 >= drawn.height


def test_label_that_cannot_fit_is_refused():
    from pocketstudio.core.base.errors import GenerationError
    from pocketstudio.provenance.label import draw_label

    with pytest.raises(GenerationError, match="does not fit"):
        draw_label(Image.new("RGB", (64, 400)), "AI-generated content, made by a machine", "en")


@pytest.mark.slow
def test_release_meets_all_three_regimes_with_provider_label_and_tsa(settings, tiny_generator, tmp_path):
    """Done when: the all profile, provider name and code, --label and a TSA: every regime met,
    in PNG and JPEG; the label's height is recorded in the manifest."""
    from .tsa import serve_tsa

    tsa, stop = serve_tsa(tmp_path / "tsa")
    try:
        configured = settings.with_(provider_name="Example Apps Ltd", provider_code="CN-1", tsa_url=tsa.url,
                                    trust_anchor_files=(tsa.anchor,))
        studio = Studio(configured, generator=tiny_generator)
        for fmt in ("png", "jpeg"):
            release = _release(studio, fmt, label=True, label_lang="zh")
            verdict = _verifier(configured).verify(release.data)
            assert verdict.status.value == "trusted"
            assert {k: v["status"] for k, v in verdict.compliance.items()} == {
                "eu_ai_act_art50": "met", "ca_sb942": "met", "cn_gb45438": "met"}, _regimes(verdict)
            label = verdict.manifest.disclosure
            assert label.label_text == "人工智能生成" and label.label_height >= 0.05 * 256
    finally:
        stop()


def test_label_settings_reach_the_manifest(settings, tiny_generator):
    release = _release(_studio(settings, tiny_generator, label=True, label_text="AI"))
    data = assertion(_active(release.data), DISCLOSURE_LABEL)
    assert data["visible_label"]["text"] == "AI" and data["visible_label"]["text_height_px"] >= 13
    assert _regimes(_verifier(settings).verify(release.data))["cn_gb45438"] == ("partial", ["cn.content-producer"])
