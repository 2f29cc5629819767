"""Shared pieces of the training stages: run folder, seeds, threads, chunked checkpoints."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

DATA_SEED = 20240601
NUM_TRAIN_IMAGES = 8000
THREADS = int(os.environ.get("POCKETSTUDIO_TRAIN_THREADS", "2"))


def setup(seed: int) -> None:
    # At most 2 (the machine's cores). On a machine that is busy with other work, 1 thread is
    # several times faster than 2 (OpenMP oversubscription): set POCKETSTUDIO_TRAIN_THREADS=1.
    torch.set_num_threads(THREADS)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Deadline:
    """``--max-minutes`` for one invocation: stop cleanly at a chunk boundary."""

    def __init__(self, max_minutes: float | None):
        self.start = time.monotonic()
        self.limit = None if max_minutes is None else max_minutes * 60.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def passed(self) -> bool:
        return self.limit is not None and self.elapsed() >= self.limit


def save_state(path: Path, state: dict) -> None:
    """Atomic checkpoint write (a crash mid-write keeps the previous checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict | None:
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def resume(state: dict | None, opt: torch.optim.Optimizer, **modules: torch.nn.Module) -> tuple[int, float]:
    """Restore a stage's checkpoint, if there is one: each module from ``state[name]``, the
    optimiser and the RNGs, so a resumed run continues exactly as an unbroken one. Returns the
    (step, seconds) to go on from; (0, 0.0) for a fresh start."""
    if state is None:
        return 0, 0.0
    for name, module in modules.items():
        module.load_state_dict(state[name])
    opt.load_state_dict(state["opt"])
    set_rng_state(state["rng"])
    return state["step"], state["seconds"]


def log(run_dir: Path, stage: str, **fields) -> None:
    """Append one JSON line to ``run_dir/log.jsonl`` and echo it."""
    rec = {"stage": stage, "time": round(time.time(), 1), **fields}
    line = json.dumps(rec)
    print(line, flush=True)
    with open(run_dir / "log.jsonl", "a") as f:
        f.write(line + "\n")


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
