"""Faces: dlib HOG detection with a CNN second opinion, 5-point alignment, 128-d descriptors
(DESIGN.md §5).

Search (``FaceAnalyzer.analyze``): dlib's HOG detector scans an image pyramid that starts above
full resolution, at ``hog_scale(min_face)`` (1.7× for ``MIN_FACE_PX`` = 40: its window is about
66 px, so a 40 px face needs the picture enlarged; the pyramid then covers every larger size), so
a small face in a 4K frame is seen at its own size, not on a reduced copy. The enlarged picture is
capped at ``MAX_SEARCH_PIXELS`` (beyond that the smallest faces found grow in proportion).
Second detector, where it pays: dlib's CNN (MMOD) face detector (a) confirms the HOG detector's
near misses (score within ``HOG_CANDIDATE_SCORE`` of its threshold: eyes covered, strong blur),
each on its own region (the box and ``CNN_REGION_MARGIN`` of its side around it) scaled to a
face of ``CNN_REGION_FACE`` px, the best ``cnn_candidates(w, h)`` of them (8 up to full HD, 3 in a
4K picture), and (b) looks for large faces HOG misses altogether (rotation, occlusion) on a copy
of ``CNN_SIDE`` px. At full resolution it would cost about 5 s per megapixel on one core.

Cost on one core (2-vCPU Xeon): HOG about 72 ns per scanned pixel, pyramid included, whatever the
content, so 0.40 s for the >= 80 px search of a 4K picture (5.6 MP scanned) and 1.6 s for the
>= 40 px one (22.6 MP); each CNN region about 0.19 s, the whole-picture pass 0.4 s, each
descriptor 0.08 s. Neither the start scale nor the pyramid has room to give: a HOG level finds
every face of 63 px (160/160 pasted faces) but misses 8 % at 60 px, and alone it finds only two
thirds of those of 74 px, so the next level (5/6 the size) is needed there.
The picture is read as PIL grey for HOG and as RGB crops for the rest: no array of the whole
picture in colour is made. HOG uses every core the process may run on (``threads``; dlib releases
the GIL): one band of the scanned picture per thread plus a coarse copy for faces larger than the
bands share, which finds what one scan finds (tests/test_likeness_faces.py) in 0.37-0.40 s instead
of 0.47-0.49 s for >= 80 px in 4K, 2.0-2.1 s instead of 2.7-2.9 s for the whole >= 40 px check (2
cores, bench/likeness.py --part small).

Landmarks and descriptors are computed at full resolution. A face whose eyes cannot be seen (the
aligned face's eye band has almost no texture: a bar, sunglasses) is ``unmatchable``: its
descriptor is not evidence either way; the likeness checker reports it and the policy decides.
Models come from the ``face_recognition_models`` package, located by path (its ``__init__`` needs
pkg_resources). The 68-point predictor is not used (its training data is not licensed for
commercial use).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pocketstudio.core.base.errors import PocketStudioError

MIN_FACE_PX = 40  # below this (box side at full resolution) a face is too small to judge
HOG_WINDOW_PX = 66  # the smallest box dlib's HOG detector reports reliably (80 px window, tight box)
MAX_SEARCH_PIXELS = 40_000_000
SMALL_PICTURE_PIXELS = 1_100_000  # up to 1024x1024 HOG starts at 2x  # the enlarged picture HOG scans: 4K at 1.7× is 24 MP
HOG_CANDIDATE_SCORE = -0.5  # HOG detections scoring in [this, 0) are candidates for the CNN
# The CNN examines this many near misses (about 0.19 s each on one core) in a picture of up to
# CANDIDATE_PIXELS, fewer in larger ones down to MIN_CANDIDATES, since HOG's scan grows with the
# area: a 4K check stays near 3 s. A count, not a clock, so the result does not depend on load.
MAX_CANDIDATES = 8
MIN_CANDIDATES = 3
CANDIDATE_PIXELS = 2_100_000
CNN_REGION_FACE = 120  # px: a candidate region is scaled so its face is this wide for the CNN
CNN_REGION_MARGIN = 0.35  # the region around a candidate, in shares of its side on each side (0.25 loses a covered face)
CNN_SIDE = 384  # px: the whole-picture CNN pass (0.08-0.15 MP, 0.4-0.7 s on one core; 256 loses rotated faces of 650 px in 4K)
CNN_MIN_CONFIDENCE = 0.3
# HOG on several cores (dlib releases the GIL while it scans): the scanned picture is cut into one
# horizontal band per thread, neighbours sharing HOG_BAND_OVERLAP rows, so every face up to about
# that size lies whole inside one band; a copy HOG_COARSE times smaller, scanned too, finds the
# larger ones (its smallest face, 66 px there, is HOG_COARSE x 66 = 264 px here).
HOG_BAND_OVERLAP = 400
HOG_COARSE = 4
# Eye band of the aligned 150 px chip (dlib.get_face_chip, padding 0.25): rows 30-60. Covered when
# some 10-row strip of it has a standard deviation below this share of the whole chip's (clean
# faces here: 0.42-0.63; a black bar: 0-0.19).
EYE_ROWS = (30, 60)
EYE_MIN_TEXTURE = 0.3
# Distance bands (dlib: same person 0.33-0.43, different people 0.63-0.97 on the photos here).
MATCH_DISTANCE = 0.50
PROBABLE_DISTANCE = 0.60


class FaceModelError(PocketStudioError):
    """The face models are missing or do not load."""


def model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceModelError("the face_recognition_models package is not installed")
    path = Path(spec.origin).parent / "models"
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat",
                 "mmod_human_face_detector.dat"):
        if not (path / name).exists():
            raise FaceModelError(f"face model {name} is missing from {path}")
    return path


def cnn_candidates(width: int, height: int) -> int:
    """How many of HOG's near misses the CNN examines in a picture of this size."""
    return max(MIN_CANDIDATES, min(MAX_CANDIDATES, int(MAX_CANDIDATES * CANDIDATE_PIXELS / max(1, width * height))))


def hog_scale(width: int, height: int, min_face: int = MIN_FACE_PX) -> float:
    """The factor HOG's pyramid starts at so that a face of ``min_face`` px is found."""
    scale = HOG_WINDOW_PX / min_face
    if width * height <= SMALL_PICTURE_PIXELS:
        scale = max(scale, 2.0)  # cheap here: faces a little under min_face are seen (and counted too small)
    return min(scale, (MAX_SEARCH_PIXELS / max(1, width * height)) ** 0.5)


@dataclass(frozen=True)
class DetectedFace:
    """A face found in an image: its box at full resolution and, if judgeable, its descriptor."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    size_px: int
    descriptor: np.ndarray | None  # None when too small to judge
    detector: str = "hog"  # "hog" | "cnn" (found only by the second detector)
    unmatchable: bool = False  # eyes not visible: the descriptor says nothing either way

    @property
    def too_small(self) -> bool:
        return self.descriptor is None


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _overlaps(a: tuple, b: tuple) -> bool:
    """Intersection over the smaller box above one half."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return False
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h > 0.5 * max(1, smaller)


class FaceAnalyzer:
    """Loaded once per process; ``analyze`` is thread-compatible for reading. ``threads``: how many
    cores the HOG scan may use (default: the cores this process may run on, at most 4)."""

    def __init__(self, threads: int | None = None):
        import os

        import dlib

        self.threads = max(1, threads if threads is not None else min(4, len(os.sched_getaffinity(0))))

        models = model_dir()
        try:
            self._detector = dlib.get_frontal_face_detector()
            self._cnn = dlib.cnn_face_detection_model_v1(str(models / "mmod_human_face_detector.dat"))
            self._shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
            self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as exc:
            raise FaceModelError(f"cannot load the face models: {exc}") from exc
        self._dlib = dlib
        # One HOG detector per concurrent scan: a dlib detector keeps scratch buffers and is not
        # safe to run from two threads at once (it corrupts the heap).
        self._band_hogs = [dlib.get_frontal_face_detector() for _ in range(self.threads + 1)] if self.threads > 1 else []
        self._band_lock = threading.Lock()

    def boxes(self, image: Image.Image, min_face: int = MIN_FACE_PX, second: bool = True) -> list[tuple[tuple, str]]:
        """Face boxes at full resolution, each with the detector that found it.

        HOG reads a grey copy (PIL's conversion: no full RGB array is made); the CNN reads RGB
        crops and a thumbnail, so a 4K picture is never held as a 24 MB array."""
        import cv2

        image = _rgb(image)
        w, h = image.size
        gray = np.asarray(image.convert("L"))
        f = hog_scale(w, h, min_face)
        # Bilinear either way: at the scales used here (0.6-2x) area averaging costs 5x more at 4K
        # and finds the same faces (bench/likeness.py --part small).
        scanned = gray if f == 1.0 else cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))),
                                                   interpolation=cv2.INTER_LINEAR)
        detections = self._hog(scanned, HOG_CANDIDATE_SCORE if second else 0.0)

        def full(r, s: float) -> tuple:
            return (max(0, int(r.left() / s)), max(0, int(r.top() / s)),
                    min(w, int(r.right() / s)), min(h, int(r.bottom() / s)))

        found = [(full(r, f), "hog") for r, score in detections if score >= 0]
        if not second:
            return found
        candidates = sorted(((score, full(r, f)) for r, score in detections if score < 0), reverse=True)
        examined: list[tuple] = []
        for _, box in candidates:
            # A near miss overlapping one the CNN has seen is the same place at another scale.
            if len(examined) >= cnn_candidates(w, h) or any(_overlaps(box, b) for b in [*examined, *(b for b, _ in found)]):
                continue
            examined.append(box)
            side = max(1, box[2] - box[0])
            m = int(side * CNN_REGION_MARGIN)
            x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(w, box[2] + m), min(h, box[3] + m)
            s = CNN_REGION_FACE / side
            region = image.crop((x0, y0, x1, y1)).resize((max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))),
                                                         Image.Resampling.BILINEAR)
            for d in self._cnn(np.asarray(region), 0):
                if d.confidence >= CNN_MIN_CONFIDENCE:
                    r = d.rect
                    cbox = (max(0, x0 + int(r.left() / s)), max(0, y0 + int(r.top() / s)),
                            min(w, x0 + int(r.right() / s)), min(h, y0 + int(r.bottom() / s)))
                    if not any(_overlaps(cbox, b) for b, _ in found):
                        found.append((cbox, "cnn"))
        s = min(1.0, CNN_SIDE / max(h, w))
        small = image if s == 1.0 else image.resize((max(1, round(w * s)), max(1, round(h * s))),
                                                    Image.Resampling.BOX, reducing_gap=2.0)
        for d in self._cnn(np.asarray(small), 0):
            if d.confidence >= CNN_MIN_CONFIDENCE:
                cbox = full(d.rect, s)
                if not any(_overlaps(cbox, b) for b, _ in found):
                    found.append((cbox, "cnn"))
        return found

    def _hog(self, scanned: np.ndarray, threshold: float) -> list[tuple]:
        """(dlib rectangle in ``scanned``, score) of every HOG detection scoring >= ``threshold``:
        one scan, or with several threads one band per thread plus the coarse copy, merged (a
        face two bands both saw is kept once, at its best score)."""
        import cv2

        h, w = scanned.shape[:2]
        if self.threads == 1 or h < 4 * HOG_BAND_OVERLAP:
            rects, scores, _ = self._detector.run(scanned, 0, threshold)
            return list(zip(rects, scores))
        from concurrent.futures import ThreadPoolExecutor

        dlib = self._dlib
        edges = [round(i * h / self.threads) for i in range(self.threads + 1)]
        bands = [(max(0, edges[i] - HOG_BAND_OVERLAP // 2), min(h, edges[i + 1] + HOG_BAND_OVERLAP // 2))
                 for i in range(self.threads)]

        def band(i: int, rows: tuple[int, int]) -> list[tuple]:
            rects, scores, _ = self._band_hogs[i + 1].run(np.ascontiguousarray(scanned[rows[0]:rows[1]]), 0, threshold)
            return [(dlib.rectangle(r.left(), r.top() + rows[0], r.right(), r.bottom() + rows[0]), sc)
                    for r, sc in zip(rects, scores)]

        def coarse() -> list[tuple]:
            small = cv2.resize(scanned, (max(1, w // HOG_COARSE), max(1, h // HOG_COARSE)), interpolation=cv2.INTER_AREA)
            rects, scores, _ = self._band_hogs[0].run(small, 0, threshold)
            k = HOG_COARSE
            return [(dlib.rectangle(r.left() * k, r.top() * k, r.right() * k, r.bottom() * k), sc)
                    for r, sc in zip(rects, scores)]

        with self._band_lock, ThreadPoolExecutor(self.threads) as pool:
            jobs = [pool.submit(coarse)] + [pool.submit(band, i, rows) for i, rows in enumerate(bands)]
            found = [(job, r, sc) for job, future in enumerate(jobs) for r, sc in future.result()]
        kept: list[tuple] = []
        for job, r, sc in sorted(found, key=lambda d: d[2], reverse=True):
            box = (r.left(), r.top(), r.right(), r.bottom())
            # One scan already keeps one box per face; a face seen by two scans is kept once.
            if not any(j != job and _overlaps(box, b) for j, b, _, _ in kept):
                kept.append((job, box, r, sc))
        return [(r, sc) for _, _, r, sc in kept]

    def analyze(self, image: Image.Image, min_face: int = MIN_FACE_PX, second: bool = True) -> list[DetectedFace]:
        """Every face of at least ``min_face`` px; ``second``: also ask the CNN detector."""
        image = _rgb(image)
        faces = []
        for box, detector in self.boxes(image, min_face, second):
            left, top, right, bottom = box
            side = min(right - left, bottom - top)
            if side < MIN_FACE_PX:
                faces.append(DetectedFace(box, side, None, detector))
                continue
            # Landmarks, descriptor and eye band read only the face and a box side around it (the
            # aligned chip stays inside): the same numbers as on the whole picture, without an
            # array of it.
            m = right - left
            x0, y0 = max(0, left - m), max(0, top - m)
            rgb = np.asarray(image.crop((x0, y0, min(image.width, right + m), min(image.height, bottom + m))))
            shape = self._shapes(rgb, self._dlib.rectangle(left - x0, top - y0, right - x0, bottom - y0))
            descriptor = np.asarray(self._encoder.compute_face_descriptor(rgb, shape), dtype=np.float32)
            faces.append(DetectedFace(box, side, descriptor, detector, self._eyes_hidden(rgb, shape)))
        return faces

    def _eyes_hidden(self, rgb: np.ndarray, shape) -> bool:
        """The aligned face's eye band is nearly flat next to the rest of the face."""
        chip = np.asarray(self._dlib.get_face_chip(rgb, shape, size=150, padding=0.25), dtype=np.float32).mean(axis=2)
        whole = float(chip.std())
        band = min(float(chip[r:r + 10, 30:120].std()) for r in range(EYE_ROWS[0], EYE_ROWS[1] - 9, 5))
        return whole > 0 and band < EYE_MIN_TEXTURE * whole


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))
