"""The layering and the linter run inside the suite, so the README's test command keeps them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: it is part of the test extra (pip install -e '.[test]')"
    return found


def test_import_layers_hold():
    """import-linter's contracts in pyproject.toml: application → generator → provenance → safety →
    policy → foundation, one direction only; the verifying side imports no generator and no torch."""
    env = {**os.environ, "PATH": f"{Path(_tool('lint-imports')).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(ROOT / ".ci" / "lint-imports")], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_installed_runtime_imports_nothing_from_training():
    """training/ runs from a checkout only; no module of the package may import it."""
    offenders = []
    for folder in ("core", "safety", "provenance", "policy"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "import training" in text or "from training" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run's last line is the README's second command, byte for byte: what a reader runs is what CI runs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    ci_last = (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").splitlines()[-1]
    assert commands[1] == ci_last
    assert "softhsm2" in ci_last and "postgresql" in ci_last  # the Debian packages the tests need
