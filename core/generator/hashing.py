"""Identify a checkpoint by its weights: one sha256 over the sorted weight files and their hashes.

The per-file digests are cached by (absolute path, size, mtime), so loading the same model
again does not re-read hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin")
_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """Hex sha256 of one file, cached by path + size + mtime."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _lock:
        _cache[key] = digest
    return digest


def weight_files(model_dir: Path) -> list[Path]:
    """Every ``*.safetensors`` / ``*.bin`` file under ``model_dir``, sorted by relative path."""
    files = [p for p in model_dir.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]
    return sorted(files, key=lambda p: p.relative_to(model_dir).as_posix())


def model_sha256(model_dir: Path) -> str:
    """sha256 over ``"<relative path>\\0<file sha256>\\n"`` for each weight file in sorted order."""
    h = hashlib.sha256()
    for p in weight_files(model_dir):
        h.update(p.relative_to(model_dir).as_posix().encode() + b"\0" + file_sha256(p).encode() + b"\n")
    return h.hexdigest()


def combined_sha256(parts: list[tuple[str, str]]) -> str:
    """One identity for a model assembled from several hashed parts (checkpoint, LoRA files).

    sha256 over ``"pocketstudio-model/1\\n"`` then ``"<role>\\0<sha256>\\n"`` per part, in the
    order they were applied (fusing LoRAs in another order is another model).
    """
    h = hashlib.sha256(b"pocketstudio-model/1\n")
    for role, digest in parts:
        h.update(role.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()
