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
