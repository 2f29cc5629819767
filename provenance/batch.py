"""Verifying many files at once: `pocketstudio verify DIR…` and the batch rows of bench/verify.py.

A verification is CPU-bound Python and numpy (decode, watermark search), so threads gain nothing
(measured: the GIL); throughput comes from worker processes, each with its own ``Verifier`` (its
own database connections and C2PA context). Rows come back in the order of the files, as JSON-ready
dicts, so output does not depend on the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from pocketstudio.core.base.errors import PocketStudioError
from pocketstudio.core.base.files import MAX_IMAGE_BYTES, read_input
from .verify import Verifier

MIN_FILES_PER_PROCESS = 4  # below this a process costs more to start than it saves


def default_jobs(n_files: int) -> int:
    """As many processes as this process may use cores, but no more than the files justify."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_files // MIN_FILES_PER_PROCESS))


def error_row(path: str | Path, reason: str) -> dict:
    """The row of an input that got no verdict (unreadable, too large, not an image, …)."""
    return {"path": str(path), "status": "error", "reason": reason, "summary": reason}


def verify_row(verifier: Verifier, path: Path) -> dict:
    """One file's verdict as a JSON-ready dict with its path; a file that cannot be read or decoded
    is a row with status "error" and a reason (it never stops the batch). The size is checked
    before the file is read."""
    try:
        return {"path": str(path), **verifier.verify_bytes(read_input(path, MAX_IMAGE_BYTES)).to_json()}
    except PocketStudioError as exc:
        return error_row(path, str(exc))
    except Exception as exc:  # noqa: BLE001 — a library's untyped failure is this file's error, not the batch's end
        return error_row(path, unexpected(exc))


def unexpected(exc: BaseException) -> str:
    """An untyped failure in words: its type and the first line of its message (a database
    driver's later lines quote SQL, which a message never shows)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"verification failed unexpectedly ({type(exc).__name__}{': ' + first if first else ''}); please report it"


_worker_verifier: Verifier | None = None


def _start_worker(make_verifier: Callable[[], Verifier]) -> None:
    global _worker_verifier
    _worker_verifier = make_verifier()


def _worker_row(path: Path) -> dict:
    assert _worker_verifier is not None, "worker started without a verifier"
    return verify_row(_worker_verifier, path)


class BatchVerifier:
    """``with BatchVerifier(make_verifier, jobs) as batch: for row in batch.rows(files): …``

    ``make_verifier`` builds a ``Verifier``; it is called once in each worker process (it must be
    picklable where processes are spawned rather than forked). With ``jobs`` 1 everything runs in
    this process. Workers are started on entering, before the caller starts any thread of its own
    (a progress bar), because they are forked where the platform allows it (fast to start)."""

    def __init__(self, make_verifier: Callable[[], Verifier], jobs: int = 1):
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.make_verifier = make_verifier
        self.jobs = jobs
        self._pool = None
        self._local: Verifier | None = None

    def __enter__(self) -> "BatchVerifier":
        if self.jobs == 1:
            self._local = self.make_verifier()
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = multiprocessing.get_context(method).Pool(
                self.jobs, initializer=_start_worker, initargs=(self.make_verifier,))
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def rows(self, files: list[Path]) -> Iterator[dict]:
        """One row per file, in the order given, each as soon as it and those before it are done."""
        if self._pool is None:
            assert self._local is not None, "use BatchVerifier in a with-block"
            for path in files:
                yield verify_row(self._local, path)
        else:
            yield from self._pool.imap(_worker_row, files, chunksize=1)
