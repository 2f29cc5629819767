"""Cold `pocketstudio verify IMAGE`: a new process per run, as a user's shell starts it, on a real
1024² release (the tiny test model, PNG), next to `python -c "import PIL, c2pa"` measured in the
same run, so the figure reads against the floor of what verifying must load on this machine.

Runs alternate between the two commands, so a load change on the machine touches both alike; the
load average before and after is printed with the table. With --importtime, one more verify run
under ``python -X importtime`` lists the imports that cost most (cumulative).

    .venv/bin/python bench/cold_verify.py [--runs 9] [--size 1024] [--importtime]
"""

from __future__ import annotations

import _checkout  # noqa: F401  (the checkout's training/ for the tiny model)

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATING = ("torch", "diffusers", "transformers", "imwatermark")


def make_release(root: Path, size: int) -> tuple[Path, Path]:
    """A data directory and a real release in it: tiny model, every gate, signed and watermarked."""
    import torch

    torch.set_num_threads(1)
    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.core.base.config import Settings
    from pocketstudio.core.generator import load_generator
    from training.tiny import build_tiny_random_model

    build_tiny_random_model(root / "model", seed=0)
    settings = Settings.load(root / "home")
    studio = Studio(settings, generator=load_generator(root / "model"))
    release = studio.generate(GenerationRequest(prompt="a red circle on a blue background", requester="bench",
                                                seed=3, size=size), root / "release.png")
    studio.store.close()
    return settings.home, release.path


def timed(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    return time.perf_counter() - start, done


def import_costs(home: Path, image: Path, env: dict, top: int = 15) -> list[tuple[float, str]]:
    """The imports of one verify run under -X importtime, by cumulative microseconds."""
    code = ("import sys; from pocketstudio.core.app.cli import main; "
            f"sys.argv = ['pocketstudio', 'verify', {str(image)!r}, '--home', {str(home)!r}]; main()")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative) / 1e6, name.rstrip()))
    # top-level packages only (no leading spaces beyond the one the format puts there)
    return sorted((r for r in rows if not r[1].startswith("  ")), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETSTUDIO_")}
    cli = str(Path(sys.executable).with_name("pocketstudio"))
    with tempfile.TemporaryDirectory(prefix="cold-verify-") as tmp:
        home, image = make_release(Path(tmp), args.size)
        verify = [cli, "verify", str(image), "--home", str(home)]
        floor = [sys.executable, "-c", "import PIL, c2pa"]
        probe = [sys.executable, "-c", "import sys; from pocketstudio.core.app.cli import main; "
                 f"sys.argv = {['pocketstudio', *verify[1:], '--json']!r}\n"
                 "try:\n    main()\nexcept SystemExit:\n    pass\n"
                 f"print(sorted(m for m in {GENERATING!r} if m in sys.modules), file=sys.stderr)"]
        _, first = timed(verify, env)  # one warm-up of the file cache, not counted
        if first.returncode != 0 or "trusted" not in first.stdout:
            raise SystemExit(f"the release does not verify as trusted:\n{first.stdout}{first.stderr}")
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {"verify": [], "floor": []}
        for _ in range(args.runs):
            times["verify"].append(timed(verify, env)[0])
            times["floor"].append(timed(floor, env)[0])
        load_after = os.getloadavg()
        generating = timed(probe, env)[1].stderr.strip().splitlines()[-1]
        costs = import_costs(home, image, env) if args.importtime else []

    print(f"# cold verify of a {args.size}x{args.size} PNG release, {args.runs} runs each, alternating")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"# generating packages imported by a verify run: {generating}")
    print(f"{'command':<44} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, key in ((f"pocketstudio verify IMAGE ({args.size}²)", "verify"),
                       ('python -c "import PIL, c2pa"', "floor")):
        t = times[key]
        print(f"{label:<44} {statistics.median(t):>9.3f} {min(t):>7.3f} {max(t):>7.3f}")
    if costs:
        print("\n# imports of one verify run, cumulative seconds (python -X importtime)")
        for seconds, name in costs:
            print(f"{seconds:>7.3f}  {name.strip()}")


if __name__ == "__main__":
    main()
