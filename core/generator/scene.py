"""The scene domain of the embedded default model: its palette, shapes, positions and backgrounds.

Runtime code (subject learning composites reference cut-outs onto these backgrounds and shapes)
and the training tools (``training/dataset.py`` renders the captioned scenes) share this one
definition, so the installed package needs nothing from ``training/``.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import ImageDraw

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 215, 30),
    "orange": (245, 130, 20),
    "purple": (130, 40, 170),
    "pink": (245, 120, 190),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star")
# name -> centre as a fraction of the side
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "center": (0.5, 0.5),
}
POSITION_PHRASE = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
# Pairs of positions that do not overlap for objects of radius <= 0.2.
_COMPATIBLE = {
    "left": {"right", "top", "bottom"},
    "right": {"left", "top", "bottom"},
    "top": {"bottom", "left", "right"},
    "bottom": {"top", "left", "right"},
    "center": set(),
}
BACKGROUND_KINDS = ("solid", "gradient", "stripes", "dots")


def _colour_choice(rng: np.random.Generator, exclude: set[str]) -> str:
    names = [n for n in PALETTE if n not in exclude]
    return names[int(rng.integers(len(names)))]


def _draw_background(draw: ImageDraw.ImageDraw, side: int, rng: np.random.Generator):
    kind = BACKGROUND_KINDS[int(rng.choice(4, p=[0.55, 0.2, 0.15, 0.1]))]
    c1 = _colour_choice(rng, set())
    if kind == "solid":
        draw.rectangle([0, 0, side, side], fill=PALETTE[c1])
        return {c1}, f"on a {c1} background"
    c2 = _colour_choice(rng, {c1})
    a, b = np.array(PALETTE[c1], float), np.array(PALETTE[c2], float)
    if kind == "gradient":
        for y in range(side):
            t = y / (side - 1)
            draw.line([(0, y), (side, y)], fill=tuple(int(v) for v in a * (1 - t) + b * t))
        return {c1, c2}, f"on a {c1} and {c2} gradient background"
    draw.rectangle([0, 0, side, side], fill=PALETTE[c1])
    if kind == "stripes":
        w = side // 8
        for x in range(0, side, 2 * w):
            draw.rectangle([x, 0, x + w - 1, side], fill=PALETTE[c2])
        return {c1, c2}, f"on a {c1} and {c2} striped background"
    step = side // 8
    r = step // 4
    for y in range(step // 2, side, step):
        for x in range(step // 2, side, step):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=PALETTE[c2])
    return {c1, c2}, f"on a {c1} background with {c2} dots"


def draw_background(draw: ImageDraw.ImageDraw, side: int, rng: np.random.Generator) -> tuple[set[str], str]:
    """One of the domain's backgrounds (kind and colours drawn from ``rng`` as the scenes draw
    them) over a ``side``² canvas: its colour names and its caption phrase, e.g. ``"on a blue
    background"``. Subject learning composites reference cut-outs onto these."""
    colours, phrase = _draw_background(draw, side, rng)
    return colours, _articles(phrase)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour: str, angle: float = 0.0) -> None:
    """One of the domain's shapes (``SHAPES``) in a palette colour, centred at (cx, cy), radius r."""
    _draw_shape(draw, shape, cx, cy, r, PALETTE[colour], angle)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour, angle: float):
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        s = r * 0.9
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=colour)
    elif shape == "triangle":
        pts = [(cx + r * np.sin(angle + k * 2 * np.pi / 3), cy - r * np.cos(angle + k * 2 * np.pi / 3)) for k in range(3)]
        draw.polygon(pts, fill=colour)
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            a = angle + k * np.pi / 5
            pts.append((cx + rad * np.sin(a), cy - rad * np.cos(a)))
        draw.polygon(pts, fill=colour)
    else:  # pragma: no cover - guarded by SHAPES
        raise ValueError(shape)


def _articles(text: str) -> str:
    """English articles: "a orange" -> "an orange"."""
    return re.sub(r"\ba orange\b", "an orange", text)
