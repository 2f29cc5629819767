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


def resume(state: dict | None, opt: torch.optim.Optimizer, optional: tuple[str, ...] = (), **modules) -> tuple[int, float]:
    """Restore a stage's checkpoint, if there is one: each module (or other object with a state
    dict) from ``state[name]``, the optimiser and the RNGs, so a resumed run continues exactly as an
    unbroken one; a name in ``optional`` that the checkpoint lacks keeps its fresh state (a part a
    later recipe adds to a run it continues). Returns the (step, seconds) to go on from; (0, 0.0)
    for a fresh start."""
    if state is None:
        return 0, 0.0
    for name, module in modules.items():
        if name in optional and name not in state:
            continue
        module.load_state_dict(state[name])
    opt.load_state_dict(state["opt"])
    set_rng_state(state["rng"])
    return state["step"], state["seconds"]


class ChunkedTraining:
    """The loop every training stage runs its steps in, so that a stage can be trained in chunks.

    On creation it resumes from ``state_path`` (the weights of ``modules``, the optimiser, the
    RNGs, the step and the seconds spent), so a resumed run continues exactly as an unbroken one.
    Iterating yields step numbers until ``total_steps`` or the deadline (``--max-minutes``); it
    writes an atomic checkpoint every ``every`` seconds and after the last step, and logs the mean
    of the last ``loss_window`` losses given to ``record``. ``modules`` may hold any object with a
    state dict (a second optimiser too); names in ``optional`` may be missing from an older
    checkpoint (``resume``)::

        loop = ChunkedTraining(run_dir, "vae", out / "state.pt", opt, {"model": vae}, ...)
        for step in loop:
            ...
            loop.record(float(loss))
    """

    def __init__(
        self,
        run_dir: Path,
        stage: str,
        state_path: Path,
        opt: torch.optim.Optimizer,
        modules: dict[str, torch.nn.Module | torch.optim.Optimizer],
        *,
        optional: tuple[str, ...] = (),
        max_minutes: float | None = None,
        total_steps: int | None = None,
        every: float = 120.0,
        loss_window: int = 50,
        deadline: Deadline | None = None,
    ):
        self.run_dir, self.stage, self.state_path = run_dir, stage, state_path
        self.opt, self.modules = opt, modules
        self.total_steps, self.every, self.loss_window = total_steps, every, loss_window
        self.deadline = deadline or Deadline(max_minutes)
        self.step, self.seconds = resume(load_state(state_path), opt, optional, **modules)
        self.losses: list[float] = []
        self.others: dict[str, list[float]] = {}
        self._since = time.monotonic()

    def __iter__(self):
        self._since = last_checkpoint = time.monotonic()
        while not self.deadline.passed() and (self.total_steps is None or self.step < self.total_steps):
            yield self.step
            self.step += 1
            if time.monotonic() - last_checkpoint > self.every:
                self.checkpoint()
                last_checkpoint = time.monotonic()
        self.checkpoint()

    def record(self, loss: float, **others: float) -> None:
        """A step's loss; ``others`` (say, a discriminator's loss) are logged as their recent means too."""
        self.losses.append(loss)
        for name, value in others.items():
            self.others.setdefault(name, []).append(value)

    def checkpoint(self) -> None:
        now = time.monotonic()
        self.seconds += now - self._since
        self._since = now
        state = {name: m.state_dict() for name, m in self.modules.items()}
        state.update(opt=self.opt.state_dict(), rng=rng_state(), step=self.step, seconds=self.seconds)
        save_state(self.state_path, state)
        recent = self.losses[-self.loss_window :]
        others = {name: round(float(np.mean(v[-self.loss_window :])), 6) for name, v in self.others.items()}
        log(self.run_dir, self.stage, step=self.step, seconds=round(self.seconds, 1), loss=round(float(np.mean(recent)), 6) if recent else None, **others)


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
