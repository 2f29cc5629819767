"""Verified images per second: ``Verifier.verify_bytes`` (what `pocketstudio verify` and
`POST /v1/verify` run) at 1024² and 3840×2160.

Cases, each on photo-like pictures (scikit-image's astronaut and coffee, resized):
- signed: watermarked, fingerprinted and C2PA-signed like a release (manifest embedded, PNG);
- stripped: the same picture re-encoded as JPEG 90 (no manifest; recovered via the watermark);
- unmarked: a picture with no manifest and no watermark. The store holds only spread-spectrum
  manifests (a store made since that engine became the default), so only its detector runs;
- unmarked, legacy store: the same, verified against a store that also holds a manifest made by
  the older dwtDctSvd engine, so that engine's detector runs too (an upgraded installation).

Every check runs (C2PA, watermark, recovery, fingerprint, audit inclusion). One process, one image
at a time; decoding is included, reading the file is not.

Then the service table: `pocketstudio serve --workers N` (1, the baseline, and one per core) in a
subprocess, ``--service-requests`` uploads of each 1024² case to ``POST /v1/verify`` from 4
concurrent clients; wall-clock from the first request to the last answer.

And the batch table: what `pocketstudio verify DIR --jobs N` does (``provenance.batch``) over a
folder of ``--batch-files`` 1024² files per case, wall-clock from starting the workers to the last
verdict (workers' start-up and reading the files included), with 1 process (the baseline, same
run) and with one per core.

    .venv/bin/python bench/verify.py [--runs 10] [--batch-files 40] [--service-requests 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.store import Store
from pocketstudio.policy.audit import AuditLog
from pocketstudio.policy.engine import Decision, new_decision_id
from pocketstudio.provenance.batch import BatchVerifier, default_jobs
from pocketstudio.provenance.fingerprint import ALG as FP_ALG
from pocketstudio.provenance.fingerprint import Fingerprint
from pocketstudio.provenance.keys import KeyStore
from pocketstudio.provenance.manifest import ManifestFacts, build_manifest
from pocketstudio.provenance.resolution import ManifestRepository, StoredManifest
from pocketstudio.provenance.sign import sign_image
from pocketstudio.provenance.verify import Verifier
from pocketstudio.provenance.watermark import WatermarkPayload, all_detectors, make_watermarker, new_asset_id
from hostinfo import cpu_name  # noqa: E402 (bench/ is the script directory)

SIZES = {"1024x1024": (1024, 1024), "3840x2160": (3840, 2160)}
JPEG_MAGIC = b"\xff\xd8"


def machine() -> str:
    cpu = cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, load {load:.2f} at start"


def picture(size: tuple[int, int], which: int) -> Image.Image:
    source = [skimage.data.astronaut, skimage.data.coffee][which % 2]()
    return Image.fromarray(source).convert("RGB").resize(size, Image.Resampling.BICUBIC)


def release_like(settings, keys, repo, audit, image: Image.Image, now: dt.datetime,
                 engine: str = "spread-spectrum") -> bytes:
    """What the release flow does after generation: watermark, fingerprint, sign, store, audit."""
    wm = make_watermarker(engine, keys.watermark_key())
    asset_id = new_asset_id()
    marked = wm.embed(image, WatermarkPayload(asset_id, wm.alg))
    fingerprint = Fingerprint.of(marked).to_value()
    decision_id = new_decision_id()
    facts = ManifestFacts(title=f"{asset_id}.png", mime_type="image/png", asset_id=asset_id, watermark_alg=wm.alg,
                          model_name="bench", model_sha256="0" * 64, steps=4, guidance=1.0, seed=0,
                          width=marked.width, height=marked.height, decision_id=decision_id,
                          policy_set_hash="0" * 64, audit_origin=audit.origin, fingerprint_alg=FP_ALG,
                          fingerprint=fingerprint, created=now.isoformat())
    raw = io.BytesIO()
    marked.save(raw, "PNG", compress_level=1)
    signed = sign_image(raw.getvalue(), "image/png", build_manifest(facts), keys.claim_signer(now))
    decision = Decision(decision_id=decision_id, effect="allow", rule_ids=("bench",), reason="bench",
                        policy_set_hash="0" * 64, stage="post", decided_at=now.isoformat())
    with repo.store.begin() as conn:
        repo.put(conn, StoredManifest(asset_id=asset_id, watermark_alg=wm.alg, manifest=signed.manifest,
                                      manifest_sha256=signed.manifest_sha256, manifest_label=signed.manifest_label,
                                      mime_type="image/png", decision_id=decision_id, model_sha256="0" * 64,
                                      created_at=now.isoformat(), fingerprint=fingerprint))
        audit.append(decision, outcome="released", now=now, prompt="bench", requester="bench", purpose="bench",
                     evaluations=[decision], asset_id=asset_id, manifest_sha256=signed.manifest_sha256,
                     manifest_label=signed.manifest_label, watermark={"alg": wm.alg, "id": asset_id}, conn=conn)
    return signed.data


def make_verifier(settings: Settings) -> Verifier:
    """What each batch worker builds: a verifier of the bench's store (as `pocketstudio verify` does)."""
    keys = KeyStore(settings)
    store = Store.open(settings.db_path)
    return Verifier(keys, all_detectors(keys.watermark_key()), ManifestRepository(store),
                    audit=AuditLog(store, keys.audit_signer()))


def batch_rows(settings: Settings, folder: Path, cases: dict[str, list[bytes]], n_files: int) -> list[tuple]:
    """Per case: n_files copies of its images in a folder, verified by BatchVerifier with 1 process
    and with one per core; (case, jobs, files, images/s, verdicts)."""
    out = []
    for case, images in cases.items():
        sub = folder / case.split(" ")[0]
        sub.mkdir(parents=True)
        files = []
        for i in range(n_files):
            data = images[i % len(images)]
            files.append(sub / f"{i:03d}.{'jpg' if data.startswith(JPEG_MAGIC) else 'png'}")
            files[-1].write_bytes(data)
        for jobs in sorted({1, default_jobs(n_files)}):
            t0 = time.perf_counter()
            with BatchVerifier(functools.partial(make_verifier, settings), jobs) as batch:
                statuses = {row["status"] for row in batch.rows(files)}
            out.append((case, jobs, n_files, n_files / (time.perf_counter() - t0), ",".join(sorted(statuses))))
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, data: bytes) -> str:
    import http.client
    import json
    import uuid

    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/verify", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    resp = conn.getresponse()
    status = json.loads(resp.read())["status"]
    conn.close()
    return status


def service_rows(home: str, cases: dict[str, list[bytes]], n_requests: int, clients: int = 4) -> list[tuple]:
    """Per worker count: start `pocketstudio serve`, then per case n_requests uploads from
    ``clients`` threads; (case, workers, requests, images/s, verdicts)."""
    import subprocess
    import sys
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    exe = str(Path(sys.executable).with_name("pocketstudio"))
    out = []
    for workers in sorted({1, default_jobs(4 * n_requests)}):
        port = _free_port()
        proc = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", str(workers), "--home", home],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("pocketstudio serve did not come up")
                    time.sleep(0.2)
            for case, images in cases.items():
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(lambda d: _post(port, d), images * 2))  # warm-up: every worker's first request
                    t0 = time.perf_counter()
                    statuses = set(pool.map(lambda i: _post(port, images[i % len(images)]), range(n_requests)))
                    out.append((case, workers, n_requests, n_requests / (time.perf_counter() - t0),
                                ",".join(sorted(statuses))))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="verifications per case and size (default 10)")
    parser.add_argument("--batch-files", type=int, default=40, help="files per case in the batch table (default 40)")
    parser.add_argument("--service-requests", type=int, default=40,
                        help="uploads per case in the service table (default 40; 0 skips it)")
    args = parser.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(home)
        settings.ensure_home()
        keys = KeyStore(settings)
        keys.ensure()
        store = Store.open(settings.db_path)
        repo = ManifestRepository(store)
        audit = AuditLog(store, keys.audit_signer())
        main_verifier = Verifier(keys, all_detectors(keys.watermark_key()), repo, audit=audit)
        legacy_store = Store.open(Path(home) / "legacy.db")
        legacy_repo = ManifestRepository(legacy_store)
        legacy_audit = AuditLog(legacy_store, keys.audit_signer())
        release_like(settings, keys, legacy_repo, legacy_audit, picture((512, 512), 0), now, engine="dwtdctsvd")
        legacy_verifier = Verifier(keys, all_detectors(keys.watermark_key()), legacy_repo, audit=legacy_audit)

        rows = []
        for label, size in SIZES.items():
            signed = [release_like(settings, keys, repo, audit, picture(size, i), now) for i in range(2)]
            cases = {
                "signed (manifest embedded)": signed,
                "stripped (recovered via watermark)": [_jpeg(s) for s in signed],
                "unmarked (no manifest)": [_png(picture(size, i)) for i in range(2)],
                "unmarked, legacy store": [_png(picture(size, i)) for i in range(2)],
            }
            for case, images in cases.items():
                verifier = legacy_verifier if "legacy" in case else main_verifier
                verifier.verify_bytes(images[0], now=now)  # warm-up (lazy imports, first c2pa context)
                times, statuses = [], set()
                for i in range(args.runs):
                    data = images[i % len(images)]
                    t0 = time.perf_counter()
                    verdict = verifier.verify_bytes(data, now=now)
                    times.append(time.perf_counter() - t0)
                    statuses.add(verdict.status.value)
                rows.append((label, case, args.runs, len(times) / sum(times), 1000 * statistics.median(times),
                             ",".join(sorted(statuses))))
            if label == "1024x1024":
                batch_cases = {k: v for k, v in cases.items() if "legacy" not in k}
                if args.batch_files:
                    batch = batch_rows(settings, Path(home) / "batch", batch_cases, args.batch_files)
                if args.service_requests:
                    service = service_rows(home, batch_cases, args.service_requests)

    print(f"bench/verify.py — machine: {machine()}")
    print(f"runs per row: {args.runs} (one process, sequential, every check on)\n")
    print(f"{'size':<10} {'case':<36} {'runs':>4} {'images/s':>9} {'median ms':>10}  verdicts")
    for label, case, runs, rate, median, statuses in rows:
        print(f"{label:<10} {case:<36} {runs:>4} {rate:>9.1f} {median:>10.1f}  {statuses}")
    if args.service_requests:
        _parallel_table(f"service: `pocketstudio serve --workers N`, POST /v1/verify at 1024x1024, "
                        f"{args.service_requests} uploads per case from 4 concurrent clients, wall-clock",
                        ("workers", "uploads"), service)
    if args.batch_files:
        _parallel_table(f"batch: `pocketstudio verify DIR --jobs N` at 1024x1024, {args.batch_files} files per case, "
                        "wall-clock including worker start-up and file reads", ("jobs", "files"), batch)


def _parallel_table(title: str, columns: tuple[str, str], rows: list[tuple]) -> None:
    """A service or batch table: (case, processes, count, images/s, verdicts) per row."""
    print(f"\n{title}")
    print(f"{'case':<36} {columns[0]:>7} {columns[1]:>7} {'images/s':>9}  verdicts")
    for case, processes, n, rate, statuses in rows:
        print(f"{case:<36} {processes:>7} {n:>7} {rate:>9.1f}  {statuses}")


def _jpeg(data: bytes) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
