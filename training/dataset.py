"""Procedural captioned scenes: the training data of the embedded default model.

Every scene is a pure function of ``(seed, index, domain)``: a background (solid colour,
two-colour gradient, stripes or dots), then either 1–3 large palette-coloured shapes at distinct
named positions, or a recurring character optionally next to one shape. Domain 1 (model v0.1)
has one character, Pip the robot (fixed identity: grey boxy body, square head, two cyan eyes, an
antenna; only the colour of the hat varies). Domain 2 (v0.2) draws Pip or, as often, Dot the
robot (fixed identity: grey round body, round head, one big cyan eye, no antenna; only the
hat's colour varies); everything else is drawn as in domain 1. The caption says what was drawn,
e.g. ``"a red circle on the left and a blue square on the right, on a yellow background"``.

Rendering draws at 2x with PIL and downsamples (anti-aliasing); 128 px takes about 1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pocketstudio.core.generator.scene import (_COMPATIBLE, BACKGROUND_KINDS, PALETTE, POSITION_PHRASE,  # noqa: F401
                                               POSITIONS, SHAPES, _articles, _colour_choice, _draw_background, _draw_shape,
                                               draw_background, draw_shape)

CHARACTER = "pip the robot"
CHARACTERS = ("pip the robot", "dot the robot")  # domain 2 draws either; domain 1 only the first


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    caption: str


def _draw_pip(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, hat):
    """Pip the robot, centred at (cx, cy), about 2r tall. Only the hat colour varies."""
    grey, dark, eye = (150, 150, 160), (70, 70, 80), (0, 230, 230)
    # body
    draw.rectangle([cx - 0.55 * r, cy, cx + 0.55 * r, cy + r], fill=grey, outline=dark, width=max(1, int(r / 12)))
    # head
    draw.rectangle([cx - 0.42 * r, cy - 0.7 * r, cx + 0.42 * r, cy - 0.05 * r], fill=grey, outline=dark, width=max(1, int(r / 12)))
    # eyes
    e = 0.12 * r
    for ex in (cx - 0.2 * r, cx + 0.2 * r):
        draw.ellipse([ex - e, cy - 0.45 * r - e, ex + e, cy - 0.45 * r + e], fill=eye)
    # antenna
    draw.line([(cx, cy - 0.7 * r), (cx, cy - 0.85 * r)], fill=dark, width=max(1, int(r / 10)))
    # hat: brim + crown (covers the antenna's top)
    draw.rectangle([cx - 0.55 * r, cy - 0.82 * r, cx + 0.55 * r, cy - 0.7 * r], fill=hat)
    draw.rectangle([cx - 0.32 * r, cy - r, cx + 0.32 * r, cy - 0.8 * r], fill=hat)


def _draw_dot(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, hat):
    """Dot the robot, centred at (cx, cy), about 2r tall, drawn in Pip's colours so that only
    shape tells them apart: round body and head, one big eye, no antenna. Only the hat varies."""
    grey, dark, eye = (150, 150, 160), (70, 70, 80), (0, 230, 230)
    line = max(1, int(r / 12))
    draw.ellipse([cx - 0.55 * r, cy - 0.05 * r, cx + 0.55 * r, cy + r], fill=grey, outline=dark, width=line)
    draw.ellipse([cx - 0.4 * r, cy - 0.75 * r, cx + 0.4 * r, cy + 0.05 * r], fill=grey, outline=dark, width=line)
    e = 0.17 * r
    draw.ellipse([cx - e, cy - 0.37 * r - e, cx + e, cy - 0.37 * r + e], fill=eye)
    draw.rectangle([cx - 0.55 * r, cy - 0.82 * r, cx + 0.55 * r, cy - 0.7 * r], fill=hat)
    draw.rectangle([cx - 0.32 * r, cy - r, cx + 0.32 * r, cy - 0.8 * r], fill=hat)


_DRAW_CHARACTER = {"pip the robot": _draw_pip, "dot the robot": _draw_dot}


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def render_scene(seed: int, index: int, size: int = 128, domain: int = 1) -> Scene:
    """Render scene ``index`` of the data set drawn from ``seed`` in ``domain``; deterministic."""
    if domain not in (1, 2):
        raise ValueError(f"no scene domain {domain}")
    rng = np.random.default_rng([seed, index])
    big = size * 2
    img = Image.new("RGB", (big, big))
    draw = ImageDraw.Draw(img)
    bg_colours, bg_phrase = _draw_background(draw, big, rng)

    parts: list[str] = []
    used = set(bg_colours)
    with_pip = rng.random() < 0.25
    if with_pip:
        character = CHARACTERS[int(rng.integers(2))] if domain == 2 else CHARACTER
        pos = ("left", "right", "center")[int(rng.integers(3))]
        hat = _colour_choice(rng, used)
        px, py = POSITIONS[pos]
        r = big * rng.uniform(0.3, 0.36)
        px_j = px * big + rng.uniform(-0.03, 0.03) * big
        py_j = py * big + 0.05 * big
        _DRAW_CHARACTER[character](draw, px_j, py_j, r, PALETTE[hat])
        phrase = f"{character} wearing a {hat} hat"
        if pos != "center":
            phrase += f" {POSITION_PHRASE[pos]}"
            # at most one companion shape on the other side
            if rng.random() < 0.5:
                other = "right" if pos == "left" else "left"
                colour = _colour_choice(rng, used | {hat})
                shape = SHAPES[int(rng.integers(len(SHAPES)))]
                ox, oy = POSITIONS[other]
                rr = big * rng.uniform(0.15, 0.2)
                _draw_shape(draw, shape, ox * big, oy * big, rr, PALETTE[colour], rng.uniform(-0.3, 0.3))
                parts.append(phrase)
                parts.append(f"a {colour} {shape} {POSITION_PHRASE[other]}")
            else:
                parts.append(phrase)
        else:
            parts.append(phrase)
    else:
        n = int(rng.choice(3, p=[0.45, 0.35, 0.2])) + 1
        positions: list[str] = []
        names = list(POSITIONS)
        if n == 1:
            positions = [names[int(rng.integers(len(names)))]]
        else:
            first = names[int(rng.integers(4))]  # not center
            positions = [first]
            while len(positions) < n:
                cands = [p for p in names if all(p in _COMPATIBLE[q] for q in positions)]
                positions.append(cands[int(rng.integers(len(cands)))])
        obj_colours: set[str] = set()
        for pos in positions:
            colour = _colour_choice(rng, used | obj_colours)
            obj_colours.add(colour)
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            cx, cy = POSITIONS[pos]
            r = big * (rng.uniform(0.2, 0.26) if n == 1 else rng.uniform(0.15, 0.2))
            jx, jy = rng.uniform(-0.03, 0.03, size=2) * big
            _draw_shape(draw, shape, cx * big + jx, cy * big + jy, r, PALETTE[colour], rng.uniform(-0.3, 0.3))
            parts.append(f"a {colour} {shape} {POSITION_PHRASE[pos]}")

    caption = _articles(f"{_join(parts)}, {bg_phrase}")
    return Scene(image=img.resize((size, size), Image.LANCZOS), caption=caption)


def render_character(hat: str, position: str, seed: int, size: int = 128, character: str = CHARACTER) -> Scene:
    """A character (Pip by default, or Dot) wearing a ``hat`` hat at ``position`` (left, right or
    center), drawn as the scenes draw it, alone on a background drawn from ``seed`` (redrawn until
    it does not use the hat's colour). Reference and held-out renders of a subject with fixed
    identity features."""
    if hat not in PALETTE or position not in ("left", "right", "center") or character not in CHARACTERS:
        raise ValueError(f"no such character: {character!r}, hat {hat!r}, position {position!r}")
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt, 11 + CHARACTERS.index(character)])
        big = size * 2
        img = Image.new("RGB", (big, big))
        draw = ImageDraw.Draw(img)
        bg_colours, bg_phrase = _draw_background(draw, big, rng)
        if hat in bg_colours:
            continue
        px, py = POSITIONS[position]
        r = big * rng.uniform(0.3, 0.36)
        _DRAW_CHARACTER[character](draw, px * big + rng.uniform(-0.03, 0.03) * big, py * big + 0.05 * big, r,
                                   PALETTE[hat])
        phrase = f"{character} wearing a {hat} hat" + ("" if position == "center" else f" {POSITION_PHRASE[position]}")
        return Scene(image=img.resize((size, size), Image.LANCZOS), caption=_articles(f"{phrase}, {bg_phrase}"))
    raise ValueError(f"no background without {hat} in 100 draws")  # pragma: no cover


def render_array(seed: int, start: int, count: int, size: int = 128, domain: int = 1) -> tuple[np.ndarray, list[str]]:
    """Scenes ``start .. start+count-1`` as a uint8 array (N, H, W, 3) and their captions."""
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    caps = []
    for i in range(count):
        s = render_scene(seed, start + i, size, domain)
        out[i] = np.asarray(s.image)
        caps.append(s.caption)
    return out, caps


def all_caption_words(domain: int = 1) -> list[str]:
    """Every word that any caption of ``domain`` can contain."""
    characters = CHARACTERS if domain == 2 else (CHARACTER,)
    words = set(PALETTE) | set(SHAPES) | {w for c in characters for w in c.split()}
    for p in POSITION_PHRASE.values():
        words |= set(p.split())
    words |= {"a", "and", "on", "background", "gradient", "striped", "with", "dots", "wearing", "hat"}
    return sorted(words)
