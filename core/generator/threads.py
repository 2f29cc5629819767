"""How many CPU threads generation runs on.

torch's default (one intra-op thread per core) suits a large model on an idle machine. A small one
(the embedded model: ~10 M parameters, 16×16 latents) gains nothing from a second thread, and
when another process keeps the cores busy its threads spin against each other: its 4 UNet steps
took 5.9 s at torch's default of 2 threads against 0.14 s at 1 thread on a 2-core machine under
load (DESIGN.md §10). So: 1 thread below ``SMALL_MODEL_PARAMETERS``, else one per available core;
the ``threads`` setting (``--threads``) overrides either.
"""

from __future__ import annotations

import os

SMALL_MODEL_PARAMETERS = 100_000_000  # SD 1.5's UNet has ~860 M; the embedded model ~10 M


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(setting: int | None, parameters: int | None, cores: int | None = None) -> int:
    """The intra-op thread count: the setting if given, else from the model's size and the machine."""
    if setting is not None:
        return int(setting)
    cores = available_cores() if cores is None else cores
    if parameters is not None and parameters < SMALL_MODEL_PARAMETERS:
        return 1
    return cores


def apply_threads(count: int) -> None:
    """Set torch's intra-op threads (process-wide: generations run one at a time)."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
