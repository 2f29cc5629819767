"""The likeness checker: a prompt or an image in, ``Finding``s about registered people out.

Faces are compared by the minimum distance over each person's templates: at most
``MATCH_DISTANCE`` is a match, up to ``PROBABLE_DISTANCE`` a probable match; both become a finding
for that person, so the policy lets the image through only with valid consent. Faces too small to
judge are counted and reported. A face found but not matchable (eyes covered) that matches nobody
becomes an "unmatchable" finding for every person with a face on file: the policy decides what it
means (by default nothing; policy/policies/strict/ makes it need their consent). The descriptor of a face that matches nobody is dropped at once:
nothing about unregistered people is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .faces import MATCH_DISTANCE, PROBABLE_DISTANCE
from .prompt import NameIndex
from .registry import Registry


@dataclass(frozen=True)
class Finding:
    """A registered person found by a check. ``person_id`` is opaque; no name travels further."""

    kind: str  # "prompt-name" | "face"
    person_id: str
    stage: str  # "pre" (prompt, references) | "post" (output)
    band: str = "match"  # "match" | "probable" | "unmatchable" (a face whose eyes cannot be seen)
    distance: float | None = None
    source: str = "prompt"  # "prompt", "reference-1", ..., "output"


@dataclass(frozen=True)
class ImageCheck:
    findings: tuple[Finding, ...]
    faces: int
    too_small: int
    templates_compared: int
    unmatchable: int = 0  # faces found whose eyes cannot be seen and that matched nobody


class LikenessChecker:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._index: tuple[tuple, NameIndex] | None = None

    def name_index(self) -> NameIndex:
        """The registered names keyed for look-up, rebuilt when the registry's names change."""
        version = self.registry.names_version()
        if self._index is None or self._index[0] != version:
            self._index = (version, NameIndex({p.person_id: (p.names, p.forms) for p in self.registry.all()}))
        return self._index[1]

    def check_prompt(self, prompt: str) -> list[Finding]:
        return [Finding("prompt-name", pid, "pre") for pid in self.name_index().find(prompt)]

    def check_image(self, image: Image.Image, stage: str, source: str = "output") -> ImageCheck:
        templates = self.registry.templates()
        count = sum(len(t) for t in templates.values())
        if not templates:
            # Nobody has a face on file: no face can match, and no face analysis is needed.
            return ImageCheck((), 0, 0, 0)
        faces = self.registry.analyzer.analyze(image)
        findings: list[Finding] = []
        too_small = unmatchable = 0
        for face in faces:
            if face.too_small:
                too_small += 1
                continue
            best_pid, best = None, float("inf")
            for pid, mat in templates.items():
                d = float(np.min(np.linalg.norm(mat - face.descriptor, axis=1)))
                if d < best:
                    best_pid, best = pid, d
            if best <= PROBABLE_DISTANCE:
                band = "match" if best <= MATCH_DISTANCE else "probable"
                findings.append(Finding("face", best_pid, stage, band, round(best, 4), source))
            elif face.unmatchable:
                unmatchable += 1
            # Unmatched: the descriptor goes out of scope here and is never stored or logged.
        if unmatchable:
            findings += [Finding("face", pid, stage, "unmatchable", None, source) for pid in templates]
        return ImageCheck(tuple(findings), len(faces), too_small, count, unmatchable)
