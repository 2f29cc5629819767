"""Likeness benchmark: face-check time by image size, and match / non-match distances.

Run:  .venv/bin/python bench/likeness.py [--runs 5]

Uses the real photos the tests use (face_recognition 1.3.0's test images, fetched through pip into
~/.cache/pocketstudio-tests, and scikit-image's astronaut). Times ``FaceAnalyzer.analyze`` (detect on
a copy of at most 1024 px, landmarks and descriptors at full resolution) on the photos scaled to
512², 1024² and 3840×2160, and prints the distance of every photo pair with the bands used.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

from pocketstudio.safety.faces import MATCH_DISTANCE, PROBABLE_DISTANCE, FaceAnalyzer, distance


def photos() -> dict[str, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import face_photos

    return face_photos.__wrapped__()


def canvas(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The photo fitted (aspect kept) onto a grey canvas of ``size``."""
    out = Image.new("RGB", size, (128, 128, 128))
    p = photo.convert("RGB")
    p.thumbnail(size)
    out.paste(p, ((size[0] - p.width) // 2, (size[1] - p.height) // 2))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    found = photos()
    analyzer = FaceAnalyzer()
    print(f"# likeness benchmark on {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs); "
          f"{args.runs} runs per cell, median; photos: {', '.join(sorted(found))}")
    subject = Image.open(found["obama.jpg"])
    print(f"\n{'size':>11} | {'faces':>5} | {'check ms (median)':>17} | {'min':>7} | {'max':>7}")
    print("-" * 60)
    for size in ((512, 512), (1024, 1024), (3840, 2160)):
        image = canvas(subject, size)
        times, faces = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            faces = len(analyzer.analyze(image))
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"{size[0]:>5}x{size[1]:<5} | {faces:>5} | {statistics.median(times):>17.1f} | {min(times):>7.1f} | {max(times):>7.1f}")

    descriptors = {}
    for name, path in sorted(found.items()):
        faces = [f for f in analyzer.analyze(Image.open(path)) if not f.too_small]
        for i, face in enumerate(faces):
            descriptors[f"{name}#{i}" if len(faces) > 1 else name] = face.descriptor
    print(f"\n{'photo A':>26} | {'photo B':>26} | {'same person':>11} | {'distance':>8} | band")
    print("-" * 96)
    rows = []
    for a, b in itertools.combinations(sorted(descriptors), 2):
        d = distance(descriptors[a], descriptors[b])
        band = "match" if d <= MATCH_DISTANCE else "probable" if d <= PROBABLE_DISTANCE else "-"
        is_same = ("obama" in a or "32bit" in a) and ("obama" in b or "32bit" in b)
        rows.append((is_same, d))
        print(f"{a:>26} | {b:>26} | {'yes' if is_same else 'no':>11} | {d:>8.3f} | {band}")
    sames = [d for s, d in rows if s]
    diffs = [d for s, d in rows if not s]
    print(f"\nsame person: n={len(sames)} min {min(sames):.3f} median {statistics.median(sames):.3f} max {max(sames):.3f}")
    print(f"different people: n={len(diffs)} min {min(diffs):.3f} median {statistics.median(diffs):.3f} max {max(diffs):.3f}")
    print(f"bands: match <= {MATCH_DISTANCE}, probable <= {PROBABLE_DISTANCE} (treated as a match unless consent exists)")
    print("note: 32bit.png is obama2.jpg saved as RGBA PNG; astronaut.png yields two detections (one is not a face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
