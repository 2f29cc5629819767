"""Audit-log benchmark: appends per second and proof times at 10^4, 10^5 and 10^6 entries.

Run:  .venv/bin/python bench/audit.py [--sizes 10000 100000 1000000] [--batch 1000] [--db PATH]

Builds one log on a real SQLite file (WAL, synchronous=FULL), growing it to each size with
batched appends (each batch one transaction: signing, canonical JSON, leaf and tree nodes), and
at each size times: single (unbatched) appends, inclusion proofs for random leaves and
consistency proofs from random earlier sizes, each proof also verified. Goals (issue 4):
>= 2000 appends/s batched; inclusion proof <= 5 ms at 10^6.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from pocketstudio.core.base.store import Store
from pocketstudio.policy import merkle
from pocketstudio.policy.audit import AuditLog, PendingEntry
from pocketstudio.policy.checkpoint import NoteSigner
from pocketstudio.policy.engine import PolicyEngine

NOW = dt.datetime.now(dt.timezone.utc)


def entries(engine: PolicyEngine, start: int, count: int) -> list[PendingEntry]:
    out = []
    for i in range(start, start + count):
        d = engine.evaluate(requester=f"user{i % 97}", purpose="general", persons=[], now=NOW, stage="post")
        out.append(PendingEntry(d, "released", NOW, f"prompt number {i}", f"user{i % 97}", "general", (d,),
                                f"{i:016x}", "ab" * 32, "urn:c2pa:x", {"alg": "bench", "id": f"{i:016x}"}, "cd" * 32))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--proofs", type=int, default=200, help="proofs timed at each size")
    ap.add_argument("--db", type=Path, default=None, help="database file (default: a temporary one)")
    args = ap.parse_args()

    db = args.db or Path(tempfile.mkdtemp(prefix="ps-audit-bench-")) / "audit.db"
    log = AuditLog(Store.open(db), NoteSigner("bench.local/audit", ed25519.Ed25519PrivateKey.generate()))
    engine = PolicyEngine()
    rng = random.Random(0)
    print(f"# audit benchmark on {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}), db {db}", flush=True)
    print(f"# batch size {args.batch}; {args.proofs} proofs of each kind per size; one run", flush=True)
    rows = []
    size = log.size()
    for target in sorted(args.sizes):
        # Grow to the target with batched appends; entry construction (policy evaluation) is
        # done outside the timed region so the number is the log's own cost.
        timed, grown = 0.0, 0
        while size < target:
            n = min(args.batch, target - size)
            batch = entries(engine, size, n)
            t0 = time.perf_counter()
            log.append_many(batch)
            timed += time.perf_counter() - t0
            size += n
            grown += n
        batched_rate = grown / timed if timed else float("nan")
        # Single appends: one transaction (and fsync) each.
        singles = entries(engine, size, 50)
        t0 = time.perf_counter()
        for e in singles:
            log.append_many([e])
        single_rate = len(singles) / (time.perf_counter() - t0)
        size += len(singles)
        root = log.root(size)
        inc, con = [], []
        with log.store.connect() as conn:
            node = log._node(conn)
            for _ in range(args.proofs):
                i = rng.randrange(size)
                t0 = time.perf_counter()
                proof = merkle.inclusion_proof(node, i, size)
                inc.append(time.perf_counter() - t0)
                leaf = conn.exec_driver_sql("SELECT leaf_hash FROM audit_log WHERE seq = ?", (i + 1,)).scalar()
                merkle.verify_inclusion(i, size, leaf, proof, root)
            for _ in range(args.proofs // 4):
                m = rng.randrange(1, size)
                t0 = time.perf_counter()
                proof = merkle.consistency_proof(node, m, size)
                con.append(time.perf_counter() - t0)
                merkle.verify_consistency(m, size, merkle.root_hash(node, m), root, proof)
        rows.append((size, batched_rate, single_rate, statistics.median(inc) * 1e3, max(inc) * 1e3,
                     statistics.median(con) * 1e3, db.stat().st_size / 2**20))
        print(f"# reached {size} entries", flush=True)

    print()
    print(f"{'entries':>10} | {'appends/s batched':>17} | {'appends/s single':>16} | {'inclusion ms (median / max)':>27} | "
          f"{'consistency ms (median)':>23} | {'db MiB':>7}")
    print("-" * 118)
    for size, br, sr, im, ix, cm, mb in rows:
        print(f"{size:>10} | {br:>17.0f} | {sr:>16.0f} | {im:>12.3f} / {ix:>12.3f} | {cm:>23.3f} | {mb:>7.0f}")
    print()
    print("goals: >= 2000 appends/s batched; inclusion proof <= 5 ms at 10^6 (proofs from stored perfect-subtree nodes, "
          "each verified against the root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
