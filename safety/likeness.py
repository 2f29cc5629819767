"""The likeness checker: turns a prompt or an image into ``Finding``s about registered people.

First version: the prompt is checked against registered names and aliases. Face matching on
reference images and on the output arrives with the face registry (likeness issue); until then
the registry holds no face templates, so an image can match nobody and ``check_image`` reports
that it compared against zero templates rather than pretending to have looked.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .prompt import mentions
from .registry import Registry


@dataclass(frozen=True)
class Finding:
    """A registered person found by a check. ``person_id`` is opaque; no name travels further."""

    kind: str  # "prompt-name" | "face"
    person_id: str
    stage: str  # "pre" | "post"
    score: float = 1.0


@dataclass(frozen=True)
class ImageCheck:
    findings: tuple[Finding, ...]
    templates_compared: int


class LikenessChecker:
    def __init__(self, registry: Registry):
        self.registry = registry

    def check_prompt(self, prompt: str) -> list[Finding]:
        return [Finding("prompt-name", p.person_id, "pre") for p in self.registry.all()
                if any(mentions(prompt, name) for name in p.names)]

    def check_image(self, image: Image.Image, stage: str) -> ImageCheck:
        return ImageCheck(findings=(), templates_compared=0)
