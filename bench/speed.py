"""Speed from the first command (issue 22): cold CLI, CLI through the service, warm in-process and
the OpenAI endpoint, for 512², 1024², 2048² and 3840×2160, each beside its baseline, plus thread
counts under load.

Run:  .venv/bin/python bench/speed.py [--runs 3] [--sizes 512,1024,2048,4k]

- cold CLI: ``pocketstudio generate --no-service`` in a fresh process (the OS file cache warm, the
  embedded model's export made once before), alternating with ``python -c "import torch"``.
- CLI via service: ``pocketstudio generate`` while ``pocketstudio serve`` of the same data
  directory runs (warm model; the CLI writes the file).
- warm in-process: ``Studio.generate`` in this process; the gates' share is the time outside the
  generate and upscale steps (prompt and output checks, policy, watermark, fingerprint, C2PA
  signing, store and audit) over the total.
- OpenAI endpoint: the official ``openai`` client, ``images.generate`` with ``b64_json``.
- baseline: a bare diffusers pipeline call at the native size, the same super-resolution to the
  size, and a plain ``Image.save`` PNG: the work without any gate.
- threads under load: the warm 512² release at 1 and 2 threads and the default choice while
  another process keeps one core busy; the default must stay within 1.5× of the best.

Medians of ``--runs``; the load average is printed at start and end.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — the checkout's package

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red circle on the left, on a blue background"
SIZES = {"512": (512, 512), "1024": (1024, 1024), "2048": (2048, 2048), "4k": (3840, 2160)}
CLI = [sys.executable, "-m", "pocketstudio.core.app.cli"]


def median(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def run(cmd, env) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed: {done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="512,1024,2048,4k")
    args = ap.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",")]
    load0 = os.getloadavg()
    print(f"# speed benchmark: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
          f"at start; {args.runs} runs per cell, medians in seconds")
    tmp = Path(tempfile.mkdtemp(prefix="ps-speed-"))
    home = tmp / "home"
    env = {**os.environ, "POCKETSTUDIO_HOME": str(home), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    run(CLI + ["init"], env)

    import torch

    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.core.base.config import Settings

    settings = Settings.load(home)
    studio = Studio(settings)
    studio.generate(GenerationRequest(PROMPT, "bench", size=512, seed=0))  # makes the export
    studio = Studio(settings)  # the export from here on, as every later process
    studio.generate(GenerationRequest(PROMPT, "bench", size=(3840, 2160), seed=0))  # warm, SR loaded
    print(f"# generator: {studio.generator!r}, threads {studio.threads}")

    rows: dict[str, dict[str, float]] = {s: {} for s in sizes}
    # 1. Cold CLI, next to `python -c "import torch"` in the same run.
    torch_import = median(lambda: run([sys.executable, "-c", "import torch"], env), args.runs)
    for s in sizes:
        rows[s]["cold CLI"] = median(lambda: run(CLI + ["generate", PROMPT, "-o", str(tmp / "cold.png"), "--force",
                                                        "--size", s, "--no-service", "--json"], env), args.runs)

    # 2. Warm in-process, with the gates' share; 3. the baseline.
    stamps: list[tuple[str, float]] = []
    studio.on_step = lambda name: stamps.append((name, time.perf_counter()))
    from pocketstudio.core.generator import load_generator
    from pocketstudio.core.generator.upscale import fit_to_size

    pipe = load_generator(None)._pipe
    for s in sizes:
        w, h = SIZES[s]
        shares = []

        def warm():
            stamps.clear()
            t0 = time.perf_counter()
            studio.generate(GenerationRequest(PROMPT, "bench", size=(w, h), seed=1))
            end = time.perf_counter()
            marks = stamps + [("end", end)]
            model = sum(b[1] - a[1] for a, b in zip(marks, marks[1:]) if a[0] in ("generate", "upscale"))
            shares.append(1 - model / (end - t0))

        rows[s]["warm in-process"] = median(warm, args.runs)
        rows[s]["gates' share"] = statistics.median(shares)

        def baseline():
            image = pipe(PROMPT, num_inference_steps=4, guidance_scale=3.0, height=256, width=256).images[0]
            image = fit_to_size(image, w, h, lambda: studio.upscaler)
            image.save(io.BytesIO(), "PNG")

        baseline()
        rows[s]["baseline"] = median(baseline, args.runs)
    studio.on_step = None

    # 4. The service: CLI through it, and the OpenAI endpoint.
    port = free_port()
    server = subprocess.Popen(CLI + ["serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        import openai

        from pocketstudio.core.app.tokens import TokenBook

        token, _ = TokenBook(settings).create("bench")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0, timeout=600)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.images.generate(prompt=PROMPT, size="512x512")
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        for s in sizes:
            w, h = SIZES[s]
            rows[s]["CLI via service"] = median(lambda: run(CLI + ["generate", PROMPT, "-o", str(tmp / "svc.png"),
                                                                   "--force", "--size", s, "--json"], env), args.runs)
            rows[s]["OpenAI endpoint"] = median(lambda: client.images.generate(prompt=PROMPT, size=f"{w}x{h}"),
                                                args.runs)
    finally:
        server.terminate()
        server.wait(timeout=30)

    # 5. Threads under load: another process keeps one core busy.
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    threads = {}
    try:
        time.sleep(1)
        chosen = studio.threads
        for label, count in (("1 thread", 1), ("2 threads", 2), (f"default ({chosen})", chosen)):
            studio.threads = count
            threads[label] = median(lambda: studio.generate(GenerationRequest(PROMPT, "bench", size=512, seed=2)),
                                    args.runs)
        studio.threads = chosen
    finally:
        busy.terminate()
        busy.wait()

    cols = ["cold CLI", "CLI via service", "warm in-process", "OpenAI endpoint", "baseline", "gates' share"]
    print(f"\n`python -c \"import torch\"` (cold): {torch_import:.2f} s\n")
    print("| size | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for s in sizes:
        w, h = SIZES[s]
        cells = [f"{rows[s][c]:.0%}" if c == "gates' share" else f"{rows[s][c]:.2f}" for c in cols]
        print(f"| {w}×{h} | " + " | ".join(cells) + " |")
    best = min(threads.values())
    print("\nwarm 512² release with one core kept busy by another process:")
    for label, t in threads.items():
        print(f"  {label:<14} {t:.2f} s ({t / best:.2f}× the best)")
    load1 = os.getloadavg()
    print(f"\n# load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at end; torch {torch.__version__}")
    print(json.dumps({"torch_import": torch_import, "rows": rows, "threads": threads}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
