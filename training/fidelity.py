"""GenEval-style automatic scorer for the procedural domain of ``dataset.py``.

``parse_caption`` turns a caption of the domain back into its structure (entities: shapes with
colour and position, Pip the robot with his hat colour and position; the background's kind and
colours). ``score_image(image, spec)`` then checks a 128 px image against that structure and
returns a score in [0, 1] (or None where a category does not apply) for each category:

* ``object``: each named kind (circle, square, triangle, star, robot) is present (one-to-one);
* ``count``: the number of foreground objects equals the number named (1 or 0);
* ``colour``: each named colour is present in its role (an object's colour, Pip's hat, the
  background's colours);
* ``position``: each named object (found by kind or colour) sits at its named place (nearest of
  the five anchors of ``dataset.POSITIONS``; Pip, whose positions are left/right/centre, by x);
* ``binding``: each named object is present with *both* its kind and its colour;
* ``identity`` (captions with a character only): the robot has that character's fixed features:
  Pip a grey boxy body and two cyan eyes side by side in his head, Dot (domain 2) a round body
  and one big cyan eye; both a hat on top.

Nothing is learned: the checks use the renderer's own knowledge. Pixels go to CIELAB; the
background is modelled from the image's own border, following the kind the caption names
(solid: one colour; gradient: a robust per-row fit; stripes: two colours; dots: one colour plus
small dots), and everything further than ``FG_DELTA_E`` from it is foreground. Connected
foreground components above ``MIN_AREA_FRAC`` of the image are the detections. A detection's
colour is the nearest renderer colour (the palette plus Pip's grey, dark grey and cyan) to the
median of its interior; its kind is ``robot`` when it is mostly Pip's greys, else the shape whose
ideal fill ratio it matches best (area over its minimum enclosing circle, rectangle and
triangle; low solidity = star). ``bench/fidelity.py`` prints the scorer's calibration: held-out
renders score ≈ 1 and mismatched caption/image pairs low; ``tests/test_fidelity.py`` asserts it.
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageFilter

from .dataset import CHARACTER, CHARACTERS, PALETTE, POSITIONS, SHAPES

CATEGORIES = ("object", "count", "colour", "position", "binding", "identity")
SIZE = 128
FG_DELTA_E = 20.0  # CIE76 distance from the background model that makes a pixel foreground
MIN_AREA_FRAC = 0.008  # smallest detection: 0.8 % of the image (the smallest star is ~3 %)
ROBOT_GREY_FRAC = 0.4  # a detection mostly of Pip's greys is the robot
SPLIT_FRAC = 0.15  # a colour part of a component is its own object from this share of it
STAR_SOLIDITY = 0.8  # solidity below this = star (ideal star 0.58, other shapes ~1)
ROUND_BOTTOM = 0.9  # Dot's round body: the row at 92 % of the figure's height is narrower than this
                   # share of the lower half's median width (renders 0.76-0.82; Pip's box 1.0)
PIP_COLOURS: dict[str, tuple[int, int, int]] = {"grey": (150, 150, 160), "dark": (70, 70, 80), "cyan": (0, 230, 230)}
ALL_COLOURS = {**PALETTE, **PIP_COLOURS}
_NAMES = list(ALL_COLOURS)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


_REF_LAB = _lab(np.array([list(ALL_COLOURS.values())], dtype=np.uint8))[0]  # (K, 3)
_PALETTE_IDX = [i for i, n in enumerate(_NAMES) if n in PALETTE]
_PIP_IDX = [_NAMES.index(n) for n in PIP_COLOURS]
_GREY_IDX = [_NAMES.index("grey"), _NAMES.index("dark")]
_K3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Entity:
    kind: str  # a shape of SHAPES, or "robot" (a character)
    colour: str  # the shape's colour; for the robot, his hat's
    position: str  # a key of POSITIONS ("center" for a character without a place)
    character: str = ""  # for a robot: which one (dataset.CHARACTERS)


@dataclass(frozen=True)
class Background:
    kind: str  # solid, gradient, stripes, dots
    colours: tuple[str, ...]


@dataclass(frozen=True)
class SceneSpec:
    entities: tuple[Entity, ...]
    background: Background

    @property
    def has_robot(self) -> bool:
        return any(e.kind == "robot" for e in self.entities)


_COLOUR = "|".join(PALETTE)
_PLACE = {"on the left": "left", "on the right": "right", "at the top": "top", "at the bottom": "bottom", "in the center": "center"}
_PLACE_RE = "|".join(_PLACE)
_SHAPE_RE = re.compile(rf"^an? ({_COLOUR}) ({'|'.join(SHAPES)}) ({_PLACE_RE})$")
_CHARACTER_RE = re.compile(rf"^({'|'.join(CHARACTERS)}) wearing an? ({_COLOUR}) hat(?: ({_PLACE_RE}))?$")
_BG_RES = [
    (re.compile(rf"^on an? ({_COLOUR}) background$"), "solid"),
    (re.compile(rf"^on an? ({_COLOUR}) and ({_COLOUR}) gradient background$"), "gradient"),
    (re.compile(rf"^on an? ({_COLOUR}) and ({_COLOUR}) striped background$"), "stripes"),
    (re.compile(rf"^on an? ({_COLOUR}) background with ({_COLOUR}) dots$"), "dots"),
]


def parse_caption(caption: str) -> SceneSpec:
    """The structure behind a caption of the domain; ValueError for anything else."""
    text = caption.strip().lower()
    head, sep, bg_text = text.rpartition(", on ")
    if not sep:
        raise ValueError(f"no background phrase in {caption!r}")
    background = None
    for rx, kind in _BG_RES:
        m = rx.match("on " + bg_text)
        if m:
            background = Background(kind, tuple(m.groups()))
            break
    if background is None:
        raise ValueError(f"unknown background phrase in {caption!r}")
    entities = []
    for part in re.split(r", | and ", head):
        m = _SHAPE_RE.match(part)
        if m:
            entities.append(Entity(m.group(2), m.group(1), _PLACE[m.group(3)]))
            continue
        m = _CHARACTER_RE.match(part)
        if m:
            entities.append(Entity("robot", m.group(2), _PLACE[m.group(3)] if m.group(3) else "center", m.group(1)))
            continue
        raise ValueError(f"unknown object phrase {part!r} in {caption!r}")
    return SceneSpec(tuple(entities), background)


@dataclass
class Detection:
    area: int
    cx: float  # centroid, fraction of the side
    cy: float
    colour: str
    kind: str
    mask: np.ndarray = field(repr=False)
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, w, h
    features: dict[str, bool] = field(default_factory=dict)  # the robot's identity checks as Pip
    character_features: dict[str, dict[str, bool]] = field(default_factory=dict)  # ... as each character


@dataclass
class Analysis:
    """What the scorer saw: background colour names and the detections."""

    background: tuple[str, ...]
    detections: list[Detection]


def _nearest(lab: np.ndarray, allowed: list[int] | None = None) -> np.ndarray:
    """Index into ``_NAMES`` of the nearest reference colour, per pixel (any leading shape)."""
    refs = _REF_LAB if allowed is None else _REF_LAB[allowed]
    d = np.linalg.norm(lab[..., None, :] - refs, axis=-1)
    idx = d.argmin(-1)
    return idx if allowed is None else np.asarray(allowed)[idx]


def _name(lab_vec: np.ndarray, allowed: list[int] | None = None) -> str:
    return _NAMES[int(_nearest(lab_vec[None], allowed)[0])]


def _border(lab: np.ndarray, w: int = 3) -> np.ndarray:
    return np.concatenate([lab[:w].reshape(-1, 3), lab[-w:].reshape(-1, 3), lab[w:-w, :w].reshape(-1, 3), lab[w:-w, -w:].reshape(-1, 3)])


def _robust_rows(lab: np.ndarray, w: int = 3) -> np.ndarray:
    """Per-row background colour of a vertical gradient: the left and right border strips, per
    row, fitted with a quadratic in y whose worst-fitting rows (objects touching the side) are
    dropped and refitted twice."""
    h = lab.shape[0]
    ys = np.repeat(np.arange(h), 2 * w).astype(np.float64)
    vals = np.concatenate([lab[:, :w], lab[:, -w:]], axis=1).reshape(-1, 3).astype(np.float64)
    keep = np.ones(len(ys), bool)
    A = np.stack([np.ones_like(ys), ys / h, (ys / h) ** 2], 1)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(A[keep], vals[keep], rcond=None)
        res = np.linalg.norm(vals - A @ coef, axis=1)
        cut = max(np.quantile(res[keep], 0.7) * 2.0, 3.0)
        keep = res <= cut
    yy = np.arange(h, dtype=np.float64) / h
    return (np.stack([np.ones_like(yy), yy, yy**2], 1) @ coef).astype(np.float32)  # (H, 3)


def _two_colours(pix: np.ndarray) -> np.ndarray:
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(pix.astype(np.float32), 2, None, crit, 3, cv2.KMEANS_PP_CENTERS)
    # medians per cluster (robust to edge pixels)
    return np.stack([np.median(pix[labels.ravel() == k], 0) if np.any(labels.ravel() == k) else centres[k] for k in range(2)])


def _background(lab: np.ndarray, bg: Background) -> tuple[np.ndarray, tuple[str, ...]]:
    """Distance of every pixel to the background model, and the background's colour names as seen."""
    border = _border(lab)
    if bg.kind == "gradient":
        rows = _robust_rows(lab)
        dist = np.linalg.norm(lab - rows[:, None, :], axis=-1)
        names = (_name(rows[:4].mean(0), _PALETTE_IDX), _name(rows[-4:].mean(0), _PALETTE_IDX))
        return dist, names
    if bg.kind == "stripes":
        cols = _two_colours(np.concatenate([lab[:3].reshape(-1, 3), lab[-3:].reshape(-1, 3)]))
        dist = np.min(np.linalg.norm(lab[..., None, :] - cols, axis=-1), axis=-1)
        return dist, tuple(_name(c, _PALETTE_IDX) for c in cols)
    c1 = np.median(border, 0)
    dist = np.linalg.norm(lab - c1, axis=-1)
    if bg.kind == "solid":
        return dist, (_name(c1, _PALETTE_IDX),)
    # dots: small blobs off the main colour; their median colour is the second background colour
    fg = (dist > FG_DELTA_E).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    small = [k for k in range(1, n) if 6 <= stats[k, cv2.CC_STAT_AREA] <= 120]
    if len(small) >= 4:
        c2 = np.median(lab[np.isin(labels, small)], 0)
        dist = np.minimum(dist, np.linalg.norm(lab - c2, axis=-1))
        names = (_name(c1, _PALETTE_IDX), _name(c2, _PALETTE_IDX))
    else:
        names = (_name(c1, _PALETTE_IDX), "none")
    return dist, names


def _shape_kind(mask: np.ndarray) -> str:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    area = float(cv2.contourArea(c))
    if area <= 0:
        return "circle"
    hull = cv2.convexHull(c)
    solidity = area / max(float(cv2.contourArea(hull)), 1e-6)
    if solidity < STAR_SOLIDITY:
        return "star"
    (_, _), radius = cv2.minEnclosingCircle(c)
    (_, _), (rw, rh), _ = cv2.minAreaRect(c)
    tri_area, _ = cv2.minEnclosingTriangle(c.astype(np.float32))
    fills = {
        "circle": area / max(np.pi * radius**2, 1e-6),
        "square": area / max(rw * rh, 1e-6),
        "triangle": area / max(float(tri_area), 1e-6),
    }
    return max(fills, key=fills.get)


def _as_rgb(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        im = image.convert("RGB")
    else:
        im = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if im.size != (SIZE, SIZE):
        im = im.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(im)


def analyse(image, spec: SceneSpec) -> Analysis:
    """Background colours and foreground detections of ``image`` (PIL or HxWx3 uint8), reading
    only the background *kind* from ``spec``."""
    rgb = _as_rgb(image)
    lab = _lab(rgb)
    dist, bg_names = _background(lab, spec.background)
    names = _nearest(lab)  # per-pixel class index
    pip_group = np.isin(names, _PIP_IDX)
    fg = (dist > FG_DELTA_E).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _K3)
    # Pip's head and body are drawn 0.05 r apart: bridge gaps between his own greys
    bridge = cv2.morphologyEx((fg.astype(bool) & pip_group).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 3), np.uint8))
    fg = fg | bridge
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    min_area = MIN_AREA_FRAC * SIZE * SIZE
    dets = []
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < min_area:
            continue
        comp = labels == k
        cls = names[comp]
        if float(np.isin(cls, _GREY_IDX).mean()) >= ROBOT_GREY_FRAC:
            dets.append(_robot_detection(comp, names))
            continue
        # objects may touch (diagonal neighbours): split a component into its colour parts when
        # it holds two or more large ones, else it is one object
        parts = []
        for g in np.unique(cls):
            sub = cv2.morphologyEx((comp & (names == g)).astype(np.uint8), cv2.MORPH_OPEN, _K3)
            m, sl, sst, _ = cv2.connectedComponentsWithStats(sub, connectivity=4)
            parts += [sl == j for j in range(1, m) if sst[j, cv2.CC_STAT_AREA] >= max(min_area, SPLIT_FRAC * comp.sum())]
        for mask in parts if len(parts) >= 2 else [comp]:
            dets.append(_shape_detection(mask, lab))
    # a hat whose edge against the head fell into the background (dark outline on a dark
    # background) is a separate part just above a robot: give it back to him
    for r in [d for d in dets if d.kind == "robot"]:
        x, y, w, h = r.bbox
        for d in [d for d in dets if d.kind != "robot"]:
            dx, dy, dw, dh = d.bbox
            if d.area < 0.5 * r.area and y - 6 <= dy + dh <= y + 6 and x <= d.cx * SIZE <= x + w and d in dets:
                dets.remove(d)
                dets[dets.index(r)] = r = _robot_detection(r.mask | d.mask, names)
                x, y, w, h = r.bbox
    dets.sort(key=lambda d: -d.area)
    return Analysis(bg_names, dets[:8])


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _shape_detection(mask: np.ndarray, lab: np.ndarray) -> Detection:
    ys, xs = np.nonzero(mask)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    core = inner if inner.sum() >= 10 else mask
    colour = _name(np.median(lab[core], 0))
    return Detection(int(mask.sum()), float(xs.mean() + 0.5) / SIZE, float(ys.mean() + 0.5) / SIZE, colour, _shape_kind(mask), mask, _box(mask))


def _robot_detection(mask: np.ndarray, names: np.ndarray) -> Detection:
    x, y, w, h = _box(mask)
    # the hat: the commonest palette colour in the top quarter (his outline is "dark", not black)
    top = mask.copy()
    top[y + max(1, h // 4):] = False
    hat = [c for c in names[top] if _NAMES[c] in PALETTE]
    colour = _NAMES[int(np.bincount(hat).argmax())] if len(hat) >= 0.15 * max(int(top.sum()), 1) else "none"
    ys, xs = np.nonzero(mask)
    d = Detection(int(mask.sum()), float(xs.mean() + 0.5) / SIZE, float(ys.mean() + 0.5) / SIZE, colour, "robot", mask, (x, y, w, h))
    d.character_features = _robot_features(d, names, _NAMES.index("cyan"))
    d.features = d.character_features[CHARACTER]
    return d


def _robot_features(d: Detection, names: np.ndarray, cyan_idx: int) -> dict[str, dict[str, bool]]:
    """Each character's fixed features, checked on one robot: Pip's boxy grey body and two cyan
    eyes side by side in the head (the checks of model v0.1's measurements, unchanged), Dot's
    round body and one big cyan eye in the middle of it; a hat for both. Pip's body check also
    passes a round body, so Dot scored as Pip gets 2/3 and Pip scored as Dot 1/3."""
    x, y, w, h = d.bbox
    mask = d.mask
    rows = mask[y : y + h].sum(1).astype(float)
    # body: the lower half is a filled box (wide rows of near-constant width); Dot's is as wide,
    # but round: narrower near its bottom
    lower = rows[h // 2 :]
    body = bool(len(lower) and np.median(lower) >= 0.6 * w and d.kind == "robot")
    round_bottom = body and bool(rows[min(h - 1, int(0.92 * h))] < ROUND_BOTTOM * np.median(lower))
    # eyes: cyan components in the head band (drawn at 0.275 of the figure's height, each
    # about 0.011 h² in area); thin cyan-ish fringes (a green or white hat's anti-aliased edge)
    # are far smaller
    cyan = ((names == cyan_idx) & mask).astype(np.uint8)
    n, _, stats, cents = cv2.connectedComponentsWithStats(cyan, connectivity=8)
    eyes = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= 0.003 * h * h and y + 0.12 * h <= cents[k][1] <= y + 0.45 * h]
    two_eyes = False
    if len(eyes) == 2:
        (ax, ay), (bx, by) = cents[eyes[0]], cents[eyes[1]]
        two_eyes = bool(abs(ay - by) <= 0.1 * h and 0.1 * w <= abs(ax - bx) <= 0.6 * w)
    # Dot's one eye is about twice the area of one of Pip's, in the middle of the head
    one_eye = bool(len(eyes) == 1 and stats[eyes[0], cv2.CC_STAT_AREA] >= 0.008 * h * h
                   and abs(cents[eyes[0]][0] - (x + w / 2)) <= 0.15 * w)
    hat = d.colour in PALETTE
    return {CHARACTERS[0]: {"body": body, "eyes": two_eyes, "hat": hat},
            CHARACTERS[1]: {"body": round_bottom, "eyes": one_eye, "hat": hat}}


def _near_position(d: Detection, e: Entity) -> bool:
    if e.kind == "robot":
        want = {"left": 0, "center": 1, "right": 2}.get(e.position)
        got = 0 if d.cx < 0.375 else (2 if d.cx > 0.625 else 1)
        return want == got
    best = min(POSITIONS, key=lambda p: (POSITIONS[p][0] - d.cx) ** 2 + (POSITIONS[p][1] - d.cy) ** 2)
    return best == e.position


def _max_matching(ok: np.ndarray) -> int:
    """Largest one-to-one matching in a small boolean entities × detections matrix."""
    ne, nd = ok.shape
    best = 0
    for perm in itertools.permutations(range(nd), min(ne, nd)):
        best = max(best, sum(bool(ok[i, j]) for i, j in enumerate(perm)))
        if best == ne:
            break
    return best


def score_image(image, spec: SceneSpec, analysis: Analysis | None = None) -> dict[str, float | None]:
    """Per-category scores of ``image`` against ``spec`` (None: the category does not apply)."""
    a = analysis or analyse(image, spec)
    ents, dets = spec.entities, a.detections
    ne = len(ents)
    kind_ok = np.array([[d.kind == e.kind for d in dets] for e in ents], bool).reshape(ne, len(dets))
    col_ok = np.array([[d.colour == e.colour for d in dets] for e in ents], bool).reshape(ne, len(dets))
    pos_ok = np.array([[_near_position(d, e) for d in dets] for e in ents], bool).reshape(ne, len(dets))
    out: dict[str, float | None] = {}
    out["object"] = _max_matching(kind_ok) / ne
    out["count"] = float(len(dets) == ne)
    bg_named = list(spec.background.colours)
    bg_seen = list(a.background)
    bg_hits = 0
    for c in bg_named:  # multiset intersection (order free for stripes; ordered for gradient)
        if c in bg_seen:
            bg_hits += 1
            bg_seen.remove(c)
    if spec.background.kind == "gradient":
        bg_hits = sum(x == y for x, y in zip(bg_named, a.background))
    out["colour"] = (_max_matching(col_ok) + bg_hits) / (ne + len(bg_named))
    out["binding"] = _max_matching(kind_ok & col_ok) / ne
    # position: the joint assignment (kind and colour weigh most), credited only where the
    # assigned detection is plausibly that object (right kind or right colour)
    best, best_pos = -1.0, 0
    for perm in itertools.permutations(range(len(dets)), min(ne, len(dets))):
        val = sum(2 * kind_ok[i, j] + 2 * col_ok[i, j] + pos_ok[i, j] for i, j in enumerate(perm))
        if val > best:
            best = val
            best_pos = sum(bool(pos_ok[i, j] and (kind_ok[i, j] or col_ok[i, j])) for i, j in enumerate(perm))
    out["position"] = best_pos / ne
    if spec.has_robot:
        robots = [d for d in dets if d.kind == "robot"]
        out["identity"] = float(np.mean([
            max((float(np.mean(list(d.character_features[e.character].values()))) for d in robots), default=0.0)
            for e in ents if e.kind == "robot"]))
    else:
        out["identity"] = None
    return out


def overall(scores: dict[str, float | None]) -> float:
    vals = [v for v in scores.values() if v is not None]
    return float(np.mean(vals)) if vals else 0.0


def aggregate(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Mean per category over the images where it applies, and ``overall`` = the mean of the
    category means (GenEval's overall is the mean over its tasks)."""
    out: dict[str, float | None] = {}
    for c in CATEGORIES:
        vals = [r[c] for r in rows if r.get(c) is not None]
        out[c] = float(np.mean(vals)) if vals else None
    cats = [out[c] for c in CATEGORIES if out[c] is not None]
    out["overall"] = float(np.mean(cats)) if cats else None
    return out


EVAL_SEED = 20250101  # held-out scenes: neither the training data (DATA_SEED) nor the SR stage's (7)


def training_captions(domain: int = 1) -> set[str]:
    """Every caption the teacher and student of ``domain`` were trained on (the scenes of the
    ``data`` stage and their mirrors). A caption depends only on the scene's random draws, not on
    its size, so the scenes are drawn at 8 px (fast)."""
    from .common import DATA_SEED, NUM_TRAIN_IMAGES
    from .dataset import render_scene
    from .teacher import _mirror_caption

    caps = {render_scene(DATA_SEED, i, 8, domain).caption for i in range(NUM_TRAIN_IMAGES)}
    return caps | {_mirror_caption(c) for c in caps}


def held_out_scenes(n: int, seed: int = EVAL_SEED, exclude: set[str] | None = None, size: int = SIZE,
                    domain: int = 1) -> list:
    """The first ``n`` scenes of ``seed`` in ``domain`` whose caption is not in ``exclude`` (by
    default the training captions) and not already taken: held-out captions, each once."""
    from .dataset import render_scene

    exclude = training_captions(domain) if exclude is None else exclude
    out, seen, i = [], set(), 0
    while len(out) < n:
        s = render_scene(seed, i, size, domain)
        i += 1
        if s.caption not in exclude and s.caption not in seen:
            seen.add(s.caption)
            out.append(s)
    return out


def degrade(im: Image.Image) -> Image.Image:
    """The handling the scorer is calibrated to tolerate: resolution halved, Gaussian blur 1.5 px,
    JPEG quality 40 (used by the calibration line of bench/fidelity.py and by the tests)."""
    im = im.resize((64, 64), Image.Resampling.BILINEAR).resize((128, 128), Image.Resampling.BILINEAR)
    im = im.filter(ImageFilter.GaussianBlur(1.5))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=40)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


# -- subject identity (issue 6 point 5) ---------------------------------------------------------------
# A benchmark subject is a character with fixed identity features that the domain can render:
# one of its characters with one fixed hat colour. It is learned (``pocketstudio subject create``)
# from ``REFERENCE_PLACES`` renders of ``dataset.render_character`` and then generated into held-out
# scenes: the scenes of ``EVAL_SEED`` with that character (held-out captions of the main table's
# seed, neither training captions nor their mirrors), its phrase replaced by the subject's name.
SUBJECT_REFERENCE_SEED = 4242
REFERENCE_PLACES = ("left", "center", "right")


@dataclass(frozen=True)
class BenchSubject:
    name: str  # what prompts call it (not a word of the model's vocabulary)
    hat: str  # its fixed identity feature besides the character's own: the hat's colour
    character: str = CHARACTER  # which of dataset.CHARACTERS it is

    @property
    def phrase(self) -> str:
        return f"{self.character} wearing {'an' if self.hat[0] in 'aeiou' else 'a'} {self.hat} hat"

    @property
    def _phrase_re(self) -> re.Pattern:
        return re.compile(rf"{self.character} wearing an? ({_COLOUR}) hat")

    def references(self, size: int = SIZE) -> list[Image.Image]:
        from .dataset import render_character

        return [render_character(self.hat, place, SUBJECT_REFERENCE_SEED + i, size, self.character).image
                for i, place in enumerate(REFERENCE_PLACES)]

    def scenes(self, n: int, seed: int = EVAL_SEED, exclude: set[str] | None = None,
               domain: int = 1) -> list[tuple[str, str, SceneSpec]]:
        """``n`` held-out scenes for this subject: (caption naming the subject, the same caption
        with the character in words, the scene's spec). Scenes whose other colours include the
        subject's hat colour are skipped (the hat would be unjudgeable on a same-coloured background)."""
        out = []
        phrase_re = self._phrase_re
        for scene in held_out_scenes(40 * n, seed, exclude=exclude, domain=domain):
            if not phrase_re.search(scene.caption):
                continue
            described = phrase_re.sub(self.phrase, scene.caption)
            spec = parse_caption(described)
            others = {e.colour for e in spec.entities if e.kind != "robot"} | set(spec.background.colours)
            if self.hat in others or described in {d for _, d, _ in out}:
                continue
            out.append((phrase_re.sub(self.name, scene.caption), described, spec))
            if len(out) == n:
                break
        return out


BENCH_SUBJECTS = (BenchSubject("rusty", "red"), BenchSubject("blanco", "white"))
DOMAIN_TWO_SUBJECTS = (BenchSubject("dotty", "yellow", CHARACTERS[1]),)  # Dot exists in domain 2 only
IDENTITY_FEATURES = ("robot", "body", "eyes", "hat", "hat_colour")


def bench_subjects(domain: int) -> tuple[BenchSubject, ...]:
    return BENCH_SUBJECTS + (DOMAIN_TWO_SUBJECTS if domain == 2 else ())


def subject_identity(image, spec: SceneSpec, hat: str, character: str = CHARACTER) -> dict:
    """The subject's identity as the scorer sees it in one image: whether there is a robot, the
    character's fixed features (``_robot_features``: Pip's boxy body and two eyes, or Dot's round
    body and one eye; a hat), whether the hat has the subject's colour, ``identity`` = the mean of
    those four (0 without a robot), and the robot's colour signature (share of each renderer
    colour among his pixels; None without a robot)."""
    rgb = _as_rgb(image)
    robots = [d for d in analyse(rgb, spec).detections if d.kind == "robot"]
    if not robots:
        return {"robot": False, "body": False, "eyes": False, "hat": False, "hat_colour": False, "identity": 0.0,
                "signature": None}
    d = max(robots, key=lambda r: r.area)
    feats = {"robot": True, **{k: bool(v) for k, v in d.character_features[character].items()},
             "hat_colour": d.colour == hat}
    feats["identity"] = float(np.mean([feats["body"], feats["eyes"], feats["hat"], feats["hat_colour"]]))
    names = _nearest(_lab(rgb))[d.mask]
    feats["signature"] = np.bincount(names, minlength=len(_NAMES)).astype(np.float64) / max(len(names), 1)
    return feats


def signature_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Histogram intersection of two colour signatures (1: the same colours in the same shares;
    0 when either image shows no robot)."""
    if a is None or b is None:
        return 0.0
    return float(np.minimum(a, b).sum())


def aggregate_identity(rows: list[dict], reference: np.ndarray) -> dict[str, float]:
    """Means of the features and ``identity`` over the generations, ``reference`` = the mean
    similarity of each generation's robot to the references' (``reference``: their mean
    signature), and ``agreement`` = the mean similarity between the generations, over all pairs."""
    out = {k: float(np.mean([r[k] for r in rows])) for k in (*IDENTITY_FEATURES, "identity")}
    out["reference"] = float(np.mean([signature_similarity(r["signature"], reference) for r in rows]))
    pairs = list(itertools.combinations(rows, 2))
    out["agreement"] = float(np.mean([signature_similarity(a["signature"], b["signature"]) for a, b in pairs])) if pairs else 0.0
    return out


def reference_signature(subject: BenchSubject) -> np.ndarray:
    """The mean colour signature of the robot in the subject's reference renders."""
    from .dataset import render_character

    sigs = []
    for i, place in enumerate(REFERENCE_PLACES):
        scene = render_character(subject.hat, place, SUBJECT_REFERENCE_SEED + i, character=subject.character)
        sig = subject_identity(scene.image, parse_caption(scene.caption), subject.hat, subject.character)["signature"]
        if sig is None:  # pragma: no cover - the renderer's own Pip is always found
            raise ValueError(f"the scorer finds no robot in the reference render {scene.caption!r}")
        sigs.append(sig)
    return np.mean(sigs, axis=0)
