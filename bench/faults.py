"""Fault bench (issue 17): kill releases at random moments, and run several writers at once.

Run:  .venv/bin/python bench/faults.py [--kills 30] [--writers 4] [--per-writer 5] [--model DIR]

1. Kills: a child process releases images in a loop into one data directory; after a random
   delay the parent kills it with SIGKILL (no cleanup, no atexit), as a power cut or the OOM
   killer would. Repeated ``--kills`` times, each child on the same data directory.
2. Writers: ``--writers`` processes release ``--per-writer`` images each at the same time.
3. Then: ``audit verify`` must pass (records, tree, checkpoints, the checkpoint kept beside the
   keys, manifests and consent rows against their leaves), every published image must verify
   ``trusted``, and no half-written file may sit under a real name. Staged files a kill left
   behind (``.*.partial``) and released leaves whose file a kill kept from publishing are counted.

Children are forked from a parent that has already imported torch and the model code, so a kill
lands in the release flow, not in the import. The model is a tiny random LCM model built here
(``--model`` takes another diffusers folder); threads are 1 per process.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import datetime as dt
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _studio(home: Path, model: Path):
    import torch

    from pocketstudio.core.base.config import Settings
    from pocketstudio.core.generator import load_generator
    from pocketstudio.core.app.studio import Studio

    torch.set_num_threads(1)
    return Studio(Settings.load(home), generator=load_generator(model))


def _release_loop(home: str, model: str, out: str, tag: str, count: int | None, ready) -> None:
    from pocketstudio.core.app.studio import GenerationRequest

    studio = _studio(Path(home), Path(model))
    if ready is not None:
        ready.set()
    i = 0
    while count is None or i < count:
        request = GenerationRequest(prompt=f"a red circle number {i}", requester=f"bench-{tag}", size=128, seed=i)
        studio.generate(request, Path(out) / f"{tag}-{i}.png")
        i += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--per-writer", type=int, default=5)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pocketstudio-faults-"))
    home, out = work / "home", work / "out"
    out.mkdir()
    model = args.model
    if model is None:
        from training.tiny import build_tiny_random_model

        model = work / "tiny-model"
        build_tiny_random_model(model, seed=0)
    import torch  # noqa: F401 — imported once, before forking

    from pocketstudio.core.app.studio import Studio  # noqa: F401

    _studio(home, model)  # create the data directory and keys once
    ctx = mp.get_context("fork")
    print(f"# fault bench  load average {os.getloadavg()[0]:.2f}  cpus {os.cpu_count()}  work {work}")

    started = time.perf_counter()
    survived = 0
    for k in range(args.kills):
        ready = ctx.Event()
        child = ctx.Process(target=_release_loop, args=(str(home), str(model), str(out), f"kill{k}", None, ready))
        child.start()
        ready.wait(60)
        time.sleep(rng.uniform(0.05, 1.5))
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
        else:
            survived += 1
        child.join()
    kill_seconds = time.perf_counter() - started

    started = time.perf_counter()
    writers = [ctx.Process(target=_release_loop, args=(str(home), str(model), str(out), f"w{k}", args.per_writer, None))
               for k in range(args.writers)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(600)
    writer_codes = [w.exitcode for w in writers]
    writer_seconds = time.perf_counter() - started

    from pocketstudio.core.base.errors import PocketStudioError
    from pocketstudio.provenance.verify import Status, Verifier
    from pocketstudio.provenance.watermark import all_detectors

    studio = _studio(home, model)  # a start appends any spooled failure record
    try:
        audit = studio.audit.verify()
        audit_line = f"intact: {audit['records']} leaves, kept checkpoint at {audit['kept_checkpoint']}"
        audit_ok = True
    except PocketStudioError as exc:
        audit_line, audit_ok = f"DOES NOT VERIFY: {exc}", False
    verifier = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests, audit=studio.audit)
    published = sorted(out.glob("*.png"))
    statuses: dict[str, int] = {}
    for path in published:
        status = verifier.verify_bytes(path.read_bytes(), now=dt.datetime.now(dt.timezone.utc)).status
        statuses[status.value] = statuses.get(status.value, 0) + 1
    partial = sorted(out.glob(".*.partial"))
    released = [r for r in studio.audit.records(kind="decision") if r.outcome == "released"]
    unpublished = len(released) - len(published)

    print("| run | figure |\n|---|---|")
    print(f"| kills | {args.kills} SIGKILLs at 0.05-1.5 s after the model loaded ({survived} children had already "
          f"exited), {kill_seconds:.0f} s |")
    print(f"| writers | {args.writers} processes x {args.per_writer} releases, exit codes {writer_codes}, "
          f"{writer_seconds:.0f} s |")
    print(f"| audit verify | {audit_line} |")
    print(f"| published images | {len(published)}: {statuses} |")
    print(f"| released leaves without a published file | {unpublished} (a kill between commit and publish) |")
    print(f"| staged files left by kills | {len(partial)} (never under a real name) |")
    trusted = statuses.get(Status.TRUSTED.value, 0) == len(published)
    ok = audit_ok and trusted and all(c == 0 for c in writer_codes)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
