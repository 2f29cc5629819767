"""The public Python API (api/__init__.py) as an app maker uses it: the README's snippet, verbatim."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import pocketstudio as ps

SNIPPET = """
import pocketstudio as ps
studio = ps.Studio.open(home)                # home=None: the default data directory
release = studio.generate(ps.GenerationRequest(prompt="a red circle", requester="my-app"), "out.png")
verdict = ps.Verifier.open(home).verify("out.png")   # a path or bytes
assert verdict.status == "trusted"
"""


@pytest.mark.slow
def test_readme_snippet_runs_in_a_fresh_process_with_the_embedded_model(tmp_path):
    program = f"home = {str(tmp_path / 'home')!r}\n" + textwrap.dedent(SNIPPET) + textwrap.dedent("""
        import json, sys
        print(json.dumps({"status": verdict.status.value, "asset": release.asset_id, "verdict_asset": verdict.asset_id}))
    """)
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["status"] == "trusted" and shown["asset"] == shown["verdict_asset"]
    assert (tmp_path / "out.png").is_file()


def test_import_pocketstudio_imports_no_torch_and_names_load_lazily():
    program = textwrap.dedent("""
        import sys, pocketstudio as ps
        before = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
        names = [ps.PocketStudioError.__name__, ps.Settings.__name__, ps.Verdict.__name__]
        print(before, names, ps.__version__)
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[] ['PocketStudioError', 'Settings', 'Verdict']")


def test_every_exported_error_derives_from_the_base_error():
    errors = [getattr(ps, n) for n in ps.__all__ if n.endswith(("Error", "Denied", "Blocked"))]
    assert len(errors) >= 10 and all(issubclass(e, ps.PocketStudioError) for e in errors)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ps.Nope  # noqa: B018
