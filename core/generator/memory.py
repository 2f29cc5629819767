"""How much memory a model's weights take, estimated from the files before anything is loaded.

A 16 GB checkpoint on an 8 GB machine should be refused with the two numbers, not found out by
the kernel's OOM killer half-way through ``from_pretrained``. The estimate counts parameters from
the safetensors headers (exact) and takes a ``.bin`` file's size; at the load dtype.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import ModelLoadError
from .families import safetensors_header
from .hashing import weight_files

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
OFFLOAD_MODES = ("model", "sequential")
GIB = 2**30


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the weights take at the load dtype: in all, and the largest single component."""

    total: int
    largest: int
    largest_name: str
    dtype: str


def _parameters(path: Path) -> int | None:
    if not path.name.endswith(".safetensors"):
        return None
    count = 0
    for name, entry in safetensors_header(path).items():
        if name != "__metadata__" and isinstance(entry, dict):
            count += math.prod(int(d) for d in entry.get("shape", []))
    return count


def _loaded_files(model_dir: Path, variant: str | None) -> list[Path]:
    """The weight files ``from_pretrained`` reads: the variant's where one is asked for, else the
    plain ones (a folder may carry both)."""
    files = weight_files(model_dir)
    tagged = [p for p in files if variant is not None and f".{variant}." in p.name]
    return tagged if tagged else [p for p in files if ".fp16." not in p.name] or files


def estimate(model_dir: Path, dtype: str, variant: str | None = None, extra: tuple[Path, ...] = ()) -> MemoryEstimate:
    """The weights' size at ``dtype`` ("fp32", "fp16", "bf16"); ``extra``: LoRA files, fused in.
    A file whose header cannot be read counts by its size (loading it reports the damage)."""
    per_component: dict[str, int] = {}
    for path in [*_loaded_files(model_dir, variant), *extra]:
        try:
            params = _parameters(path)
        except ModelLoadError:
            params = None  # unreadable header: its size stands in; the loader names the damage
        size = params * DTYPE_BYTES[dtype] if params is not None else path.stat().st_size
        component = path.relative_to(model_dir).parts[0] if path.is_relative_to(model_dir) else path.name
        per_component[component] = per_component.get(component, 0) + size
    largest = max(per_component, key=per_component.get, default="")
    return MemoryEstimate(sum(per_component.values()), per_component.get(largest, 0), largest, dtype)


def host_memory() -> int | None:
    """Bytes of memory the host can give now (Linux MemAvailable), else its physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def accelerator_memory(device) -> int | None:
    """Total bytes of the CUDA device's memory, or MPS's recommended working set; None on CPU."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    if device.type == "mps":
        return int(torch.mps.recommended_max_memory())
    return None


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def check_fits(need: MemoryEstimate, host: int | None, accelerator: int | None, offload: str | None,
               device: str = "cpu") -> None:
    """Refuse, with the numbers, weights the host cannot hold, or the accelerator without offload
    (with model offload one component at a time must fit; sequential offload streams layers)."""
    if host is not None and need.total > host:
        raise ModelLoadError(f"the model's weights need {_gib(need.total)} in {need.dtype}, more than the "
                             f"{_gib(host)} of memory this machine has available; use a smaller dtype or model")
    if accelerator is None or offload == "sequential":
        return
    if offload == "model":
        if need.largest > accelerator:
            raise ModelLoadError(f"the largest component ({need.largest_name}, {_gib(need.largest)} in {need.dtype}) "
                                 f"does not fit the {_gib(accelerator)} of {device}, even with --offload model; "
                                 "use --offload sequential")
        return
    if need.total > accelerator:
        raise ModelLoadError(f"the model's weights need {_gib(need.total)} in {need.dtype}, more than the "
                             f"{_gib(accelerator)} of {device}; use --offload model (one component at a time on "
                             f"{device}) or --offload sequential")
