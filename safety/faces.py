"""Faces: dlib HOG detection, 5-point alignment and 128-d descriptors (DESIGN.md §5).

Detection runs on a copy of at most ``DETECT_MAX_SIDE`` pixels (fast at 4K); landmarks and
descriptors are computed at full resolution. Models come from the ``face_recognition_models``
package, located by path (its ``__init__`` needs pkg_resources). The 68-point predictor is not
used (its training data is not licensed for commercial use).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pocketstudio.core.base.errors import PocketStudioError

DETECT_MAX_SIDE = 1024
MIN_FACE_PX = 40  # below this (box side at full resolution) a face is too small to judge
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
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        if not (path / name).exists():
            raise FaceModelError(f"face model {name} is missing from {path}")
    return path


@dataclass(frozen=True)
class DetectedFace:
    """A face found in an image: its box at full resolution and, if judgeable, its descriptor."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    size_px: int
    descriptor: np.ndarray | None  # None when too small to judge

    @property
    def too_small(self) -> bool:
        return self.descriptor is None


class FaceAnalyzer:
    """Loaded once per process; ``analyze`` is thread-compatible for reading."""

    def __init__(self):
        import dlib

        models = model_dir()
        try:
            self._detector = dlib.get_frontal_face_detector()
            self._shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
            self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as exc:
            raise FaceModelError(f"cannot load the face models: {exc}") from exc
        self._dlib = dlib

    def analyze(self, image: Image.Image) -> list[DetectedFace]:
        rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = rgb if scale == 1.0 else np.ascontiguousarray(np.asarray(
            image.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)))
        # Upsampling once finds faces down to ~40 px in small images; large ones don't need it.
        upsample = 1 if max(small.shape[:2]) <= 640 else 0
        faces = []
        for rect in self._detector(small, upsample):
            left, top = max(0, int(rect.left() / scale)), max(0, int(rect.top() / scale))
            right, bottom = min(w, int(rect.right() / scale)), min(h, int(rect.bottom() / scale))
            side = min(right - left, bottom - top)
            if side < MIN_FACE_PX:
                faces.append(DetectedFace((left, top, right, bottom), side, None))
                continue
            shape = self._shapes(rgb, self._dlib.rectangle(left, top, right, bottom))
            descriptor = np.asarray(self._encoder.compute_face_descriptor(rgb, shape), dtype=np.float32)
            faces.append(DetectedFace((left, top, right, bottom), side, descriptor))
        return faces


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))
