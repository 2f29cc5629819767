"""Fleet benchmark (issue 23): audit appends per second with 1, 4 and 16 concurrent writers on
PostgreSQL and on SQLite, verifications per second with 1, 2 and 4 service replicas on one
PostgreSQL database, and proof time at 10^6 leaves on PostgreSQL; every append run is checked for
lost or duplicated leaves (leaf indices 0..n-1 each once, one decision leaf per decision, audit
verify passes).

Run:  .venv/bin/python bench/fleet.py [--appends 300] [--writers 1 4 16] [--processes 1 2] [--replicas 1 2 4]
                                      [--verify-seconds 10] [--proof-leaves 1000000]

Writers are threads spread over 1 and over 2 processes (--processes; one row each; one GroupCommit per process: the
appenders of a process share transactions; processes serialise on the log-head lock, and a
leader takes its batch once it holds the lock). Every append returns as a release does: after
its commit and after the kept checkpoint (one file, as on one device) covers it. The baseline
beside each figure is the same writers without group commit (each append its own transaction
and its own witness). Replicas are real 'pocketstudio serve' processes on one
database and one data directory; clients post one real release (tiny model) to them round-robin.
PostgreSQL is started here (tests/postgres.py, fsync on).
"""

from __future__ import annotations

import _checkout  # noqa: F401 — the checkout on the import path (tests/postgres.py)

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hostinfo import cpu_name

NOW = dt.datetime.now(dt.timezone.utc)
ORIGIN = "bench.local/fleet"


def _entry(tag: str):
    from pocketstudio.policy.audit import PendingEntry
    from pocketstudio.policy.engine import Decision

    d = Decision(f"dec_{tag}", "allow", ("default-allow",), "ok", "0" * 64, "post", NOW.isoformat())
    return PendingEntry(d, "released", NOW, f"prompt {tag}", "alice", "general", asset_id=tag[:32])


def _writer_process(target: str, raw_key: bytes, kept: str, proc: int, threads: int, per_writer: int,
                    grouped: bool, go, done: multiprocessing.Queue) -> None:
    from pocketstudio.core.base.store import Store
    from pocketstudio.policy.audit import AuditLog
    from pocketstudio.policy.checkpoint import NoteSigner

    log = AuditLog(Store.open(target), NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.from_private_bytes(raw_key)),
                   checkpoint_file=Path(kept))  # witnessed as a release is, before it returns
    errors = []

    def run(t: int) -> None:
        try:
            for i in range(per_writer):
                entry = _entry(f"{proc}x{t}x{i}x{os.getpid()}")
                if grouped:
                    log.submit([entry])
                else:
                    log.append_many([entry])
        except Exception as exc:  # noqa: BLE001 — reported to the parent
            errors.append(repr(exc))

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    log.size()  # connected
    done.put("ready")
    go.wait()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.put((time.time(), errors))


def append_run(target: str, writers: int, per_writer: int, processes: int, grouped: bool) -> dict:
    """One run on a fresh log: appends/s, and the lost/duplicated leaves check."""
    import sqlalchemy as sa

    from pocketstudio.core.base.store import Store, audit_log
    from pocketstudio.policy.audit import AuditLog
    from pocketstudio.policy.checkpoint import NoteSigner

    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    Store.open(target).close()
    kept = str(Path(tempfile.mkdtemp(prefix="ps-fleet-keys-")) / "audit-checkpoint")  # one device's keys folder
    procs = min(processes, writers)
    split = [writers // procs + (1 if p < writers % procs else 0) for p in range(procs)]
    ctx = multiprocessing.get_context("spawn")
    done, go = ctx.Queue(), ctx.Event()
    children = [ctx.Process(target=_writer_process, args=(target, raw, kept, p, split[p], per_writer, grouped, go, done))
                for p in range(procs)]
    for c in children:
        c.start()
    for _ in children:  # every process imported and connected before the clock starts
        assert done.get(timeout=300) == "ready"
    start_at = time.time()
    go.set()
    results = [done.get(timeout=900) for _ in children]
    for c in children:
        c.join()
    errors = [e for _, errs in results for e in errs]
    elapsed = max(t for t, _ in results) - start_at
    log = AuditLog(Store.open(target), NoteSigner(ORIGIN, key))
    expected = writers * per_writer
    with log.store.connect() as conn:
        indices = conn.execute(sa.select(audit_log.c.leaf_index).order_by(audit_log.c.leaf_index)).scalars().all()
        decisions = conn.execute(sa.select(sa.func.count(sa.distinct(audit_log.c.decision_id)))).scalar()
    lost = expected - len(set(indices))
    duplicated = len(indices) - len(set(indices)) + (len(indices) - decisions)
    verified = log.verify()["records"] == len(indices) == expected and indices == list(range(expected))
    log.store.close()
    return {"rate": expected / elapsed, "lost": lost, "duplicated": duplicated, "verified": verified,
            "errors": len(errors), "first_error": errors[0] if errors else ""}


def appends(pg, writers_list, per_writer, processes_list) -> list[tuple]:
    rows = []
    for engine in ("postgresql", "sqlite"):
        for writers in writers_list:
            for processes in sorted({min(p, writers) for p in processes_list}):
                figures = {}
                for grouped in (True, False):
                    target = pg.create_database() if engine == "postgresql" else str(
                        Path(tempfile.mkdtemp(prefix="ps-fleet-")) / "fleet.db")
                    figures[grouped] = append_run(target, writers, per_writer, processes, grouped)
                g, b = figures[True], figures[False]
                rows.append((engine, writers, processes, g["rate"], b["rate"], g["lost"] + b["lost"],
                             g["duplicated"] + b["duplicated"], g["verified"] and b["verified"],
                             g["errors"] + b["errors"], g["first_error"] or b["first_error"]))
                print(f"  appends {engine:10s} {writers:2d} writers in {processes} process(es): {g['rate']:7.0f}/s "
                      f"group commit, {b['rate']:7.0f}/s one transaction each; lost {g['lost'] + b['lost']}, "
                      f"duplicated {g['duplicated'] + b['duplicated']}, "
                      f"verify {'ok' if g['verified'] and b['verified'] else 'FAILED'}", flush=True)
    return rows


def _release(home: Path, url: str) -> Path:
    """One real release (tiny model) into the PostgreSQL store of ``home``."""
    code = f"""
import torch; torch.set_num_threads(1)
from pathlib import Path
from training.tiny import build_tiny_random_model
from pocketstudio.core.base.config import Settings
from pocketstudio.core.app.studio import Studio, GenerationRequest
from pocketstudio.core.generator import load_generator
model = Path({str(home.parent / 'tiny')!r}); build_tiny_random_model(model, seed=0)
s = Settings.load({str(home)!r}).with_(database_url={url!r})
Studio(s, generator=load_generator(model)).generate(GenerationRequest(prompt='a red circle on a blue background',
    requester='alice', seed=1, size=256), Path({str(home.parent / 'release.png')!r}))
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1],
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return home.parent / "release.png"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verifications(pg, replicas_list, seconds: float, clients: int) -> list[tuple]:
    import httpx

    url = pg.create_database()
    home = Path(tempfile.mkdtemp(prefix="ps-fleet-serve-")) / "home"
    image = _release(home, url)
    data = image.read_bytes()
    rows, base = [], None
    # The first window after the release ran at half the rate of every later one (measured:
    # 27/s, then 56/s with the same single replica: a cold database and page cache), so one
    # untimed window with one replica comes first.
    for n, replicas in enumerate([1, *replicas_list]):
        warm_up = n == 0
        ports = [_free_port() for _ in range(replicas)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "POCKETSTUDIO_DATABASE_URL": url}
        servers = [subprocess.Popen([sys.executable, "-m", "pocketstudio.core.app.cli", "serve", "--home", str(home),
                                     "--port", str(p)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for p in ports]
        try:
            for p in ports:
                for _ in range(600):
                    try:
                        httpx.get(f"http://127.0.0.1:{p}/", timeout=1)
                        break
                    except httpx.HTTPError:
                        time.sleep(0.1)
            for p in ports:  # warm: the first verification of a process loads its readers and detectors
                for _ in range(2):
                    httpx.post(f"http://127.0.0.1:{p}/v1/verify", files={"file": ("release.png", data, "image/png")},
                               timeout=120)
            counts, failures, stop = [0] * clients, [0], time.time() + seconds

            def client(n: int) -> None:
                with httpx.Client(timeout=60) as http:
                    k = n
                    while time.time() < stop:
                        r = http.post(f"http://127.0.0.1:{ports[k % replicas]}/v1/verify",
                                      files={"file": ("release.png", data, "image/png")})
                        k += 1
                        if r.status_code == 200 and r.json().get("status") == "trusted":
                            counts[n] += 1
                        else:
                            failures[0] += 1

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            started = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rate = sum(counts) / (time.time() - started)
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                s.wait(30)
        if warm_up:
            print(f"  verify warm-up, 1 replica (not counted): {rate:6.1f}/s", flush=True)
            continue
        base = base or rate
        rows.append((replicas, rate, rate / base, failures[0]))
        print(f"  verify {replicas} replica(s): {rate:6.1f}/s ({rate / base:.2f}x one), {failures[0]} not trusted",
              flush=True)
    return rows


def proof_time(pg, leaves: int, samples: int = 200) -> dict:
    """Proof time at ``leaves`` leaves: the log is bulk-loaded (records signed by the log, tree
    nodes from an in-memory tree) with COPY, then inclusion proofs of random leaves are timed."""
    import base64
    import random

    import psycopg

    from pocketstudio.core.base.store import Store
    from pocketstudio.policy import merkle
    from pocketstudio.policy.audit import RECORD_SIG_CONTEXT, AuditLog, canonical
    from pocketstudio.policy.checkpoint import NoteSigner

    url = pg.create_database()
    key = ed25519.Ed25519PrivateKey.generate()
    log = AuditLog(Store.open(url), NoteSigner(ORIGIN, key))
    tree = merkle.MemoryTree()
    t0 = time.time()
    with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname={url.rsplit('/', 1)[1]}") as conn:
        with conn.cursor().copy("COPY audit_log (leaf_index, kind, entry_id, ref, created_at, record, signature, "
                                "leaf_hash) FROM STDIN") as copy:
            for i in range(leaves):
                record = {"v": 2, "kind": "consent", "entry_id": f"cev_{i:012d}", "time": NOW.isoformat(),
                          "event": "bench", "person_id": "p", "index": i, "log_origin": ORIGIN}
                body = canonical(record)
                sig = base64.b64encode(key.sign(RECORD_SIG_CONTEXT + body)).decode()
                leaf = merkle.hash_leaf(body)
                tree.append_leaf_hash(leaf)
                copy.write_row((i, "consent", record["entry_id"], "p", record["time"], body.decode(), sig, leaf))
        with conn.cursor().copy("COPY merkle_nodes (level, idx, hash) FROM STDIN") as copy:
            for level, hashes in enumerate(tree.levels):
                for idx, h in enumerate(hashes):
                    copy.write_row((level, idx, h))
    load_s = time.time() - t0
    log.checkpoint(NOW)
    rng = random.Random(0)
    times = []
    for _ in range(samples):
        i = rng.randrange(leaves)
        t = time.perf_counter()
        bundle = log.prove(f"cev_{i:012d}")
        times.append(time.perf_counter() - t)
        assert bundle["leaf_index"] == i
    from pocketstudio.policy.audit import verify_proof_bundle

    verify_proof_bundle(bundle, log.verifier)
    return {"leaves": leaves, "median_ms": statistics.median(times) * 1000,
            "p95_ms": sorted(times)[int(0.95 * len(times))] * 1000, "load_s": load_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--appends", type=int, default=300, help="appends per writer per run")
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                    help="writer processes (threads share them): one row per count")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--verify-seconds", type=float, default=10)
    ap.add_argument("--proof-leaves", type=int, default=1_000_000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["appends", "verify", "proof"])
    args = ap.parse_args()

    from tests.postgres import PostgresServer

    print(f"# fleet benchmark: {cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"PostgreSQL from tests/postgres.py (fsync on)", flush=True)
    with PostgresServer() as pg:
        rows = appends(pg, args.writers, args.appends, args.processes) if "appends" not in args.skip else []
        vrows = verifications(pg, args.replicas, args.verify_seconds, args.clients) if "verify" not in args.skip else []
        proof = proof_time(pg, args.proof_leaves) if "proof" not in args.skip else None
    print(f"\n# load average {os.getloadavg()[0]:.1f} at the end")
    if rows:
        print("\n| engine | writers | processes | appends/s (group commit) | baseline: one transaction each | lost | "
              "duplicated | audit verify |")
        print("|---|---|---|---|---|---|---|---|")
        for engine, w, procs, g, b, lost, dup, ok, errs, first in rows:
            print(f"| {engine} | {w} | {procs} | {g:.0f} | {b:.0f} | {lost} | {dup} | {'passes' if ok else 'FAILS'}"
                  + (f" ({errs} errors: {first[:80]})" if errs else "") + " |")
        for e, w, procs, g, *_ in rows:
            if e == "postgresql" and w == 16:
                print(f"target >= 2000 appends/s with 16 writers on PostgreSQL, {procs} process(es): {g:.0f} "
                      f"({'met' if g >= 2000 else 'NOT met'})")
    if vrows:
        print("\n| service replicas | verifications/s | vs one | not trusted |")
        print("|---|---|---|---|")
        for r, rate, ratio, bad in vrows:
            print(f"| {r} | {rate:.1f} | {ratio:.2f}x | {bad} |")
    if proof:
        print(f"\nproof at {proof['leaves']:,} leaves on PostgreSQL: median {proof['median_ms']:.2f} ms, "
              f"p95 {proof['p95_ms']:.2f} ms (bulk load {proof['load_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
