"""Verifying needs no generator: a fresh process that verifies a real release, through the Python
API and through `pocketstudio verify`, never imports torch, diffusers, transformers or
invisible-watermark (whose package imports torch). The release is made here with the tiny model;
the verifying runs in subprocesses, so nothing the test process imported counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings
from pocketstudio.provenance.verify import CheckName, Status, Verifier

from .conftest import NOW

GENERATING = ("torch", "diffusers", "transformers", "imwatermark")

PROBE = """
import json, sys
{body}
print(json.dumps({{"status": status, "imported": [m for m in {generating!r} if m in sys.modules]}}))
"""

API = """
from pocketstudio.provenance.verify import Verifier
status = Verifier.open(sys.argv[1]).verify(sys.argv[2]).status.value
"""

CLI = """
import contextlib, io
from pocketstudio.core.app.cli import main
sys.argv = ["pocketstudio", "verify", sys.argv[2], "--json", "--home", sys.argv[1]]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
status = json.loads(out.getvalue())["status"]
"""


@pytest.fixture(scope="module")
def released(tmp_path_factory, tiny_generator):
    root = tmp_path_factory.mktemp("verify-without-torch")
    settings = Settings.load(root / "home")
    studio = Studio(settings, generator=tiny_generator)
    release = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=256),
                              root / "a.png", now=NOW)
    studio.store.close()
    return settings, release


def _probe(body: str, home, image) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("POCKETSTUDIO_HOME", None)
    result = subprocess.run([sys.executable, "-c", PROBE.format(body=body, generating=GENERATING), str(home),
                             str(image)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("way", ["api", "cli"])
def test_a_verifying_process_imports_no_torch(released, way):
    settings, release = released
    seen = _probe(API if way == "api" else CLI, settings.home, release.path)
    assert seen == {"status": "trusted", "imported": []}


def test_verifier_open_without_a_data_directory_creates_nothing_and_trusts_given_anchors(released, tmp_path):
    settings, release = released
    anchor = tmp_path / "root.pem"
    shutil.copy(settings.keys_dir / "root-ca.pem", anchor)
    nowhere = tmp_path / "no-home"
    verdict = Verifier.open(nowhere, trust=[anchor]).verify(release.data)
    assert not nowhere.exists()
    assert verdict.status is Status.TRUSTED
    assert verdict.check(CheckName.WATERMARK).ok is None  # no watermark key: not checked, not "no watermark"
    audit = verdict.check(CheckName.AUDIT)
    assert audit.ok is None and "skipped" in audit.evidence  # no audit log here: said, never passed
    assert Verifier.open(nowhere).verify(release.path).status is Status.VALID_UNTRUSTED  # no anchors given


def test_verifier_open_of_a_data_directory_proves_the_decision(released):
    settings, release = released
    verdict = Verifier.open(settings.home).verify(release.path)
    assert verdict.status is Status.TRUSTED and verdict.check(CheckName.AUDIT).ok is True
    assert verdict.to_json()["checks"][0]["name"] == "c2pa"


def test_a_verifier_without_an_audit_choice_is_refused(released):
    settings, _ = released
    opened = Verifier.open(settings.home)
    with pytest.raises(TypeError, match="UnsafeSkipAudit"):
        Verifier(opened.keys, opened.detectors, opened.manifests, audit=None)


def test_generate_on_a_base_install_says_to_install_the_generate_extra(tmp_path):
    """A base install has no torch: `generate` is a typed error naming the extra, not a traceback.
    torch is hidden from the subprocess (None in sys.modules makes its import fail)."""
    script = ("import sys\nsys.modules['torch'] = None\nfrom pocketstudio.core.app.cli import main\n"
              f"sys.argv = ['pocketstudio', 'generate', 'a red circle', '-o', {str(tmp_path / 'x.png')!r}, "
              f"'--home', {str(tmp_path / 'home')!r}]\nmain()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 1
    assert "pip install 'pocketstudio[generate]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()
