"""The README's picture of what the embedded model makes: docs/grid.png.

Run:  .venv/bin/python bench/grid.py [--out docs/grid.png] [--threads 1] [--model DIR]

Rows of 8 tiles at the model's native size, 4 steps, default guidance, seed = the tile's
column: shapes (colours, counts, places, backgrounds), Pip the robot (the recurring character) in
varied scenes, Dot the robot (the second character, for models trained on scene domain 2), and a
learned subject: "rusty", learned by the same code as ``pocketstudio subject
create`` from the three reference renders shown first in row 3, then generated with ``--subject``
into scenes it was not shown in (two rows). Every caption is printed with its tile's
place. Nothing is picked: the seeds are fixed and every tile is the first image for its caption.
The PNG is palette-quantised (256 colours) to stay small.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from pocketstudio.core.generator import load_generator
from pocketstudio.core.generator.subject import LearnSettings, SubjectEmbedding, learn_subject
from pocketstudio.core.generator.pipeline import DEFAULT_MODEL_DIR
from training import fidelity as F
from training import recipe as recipes

SHAPES = [
    "a red circle in the center, on a blue background",
    "a yellow square on the left and a green triangle on the right, on a purple background",
    "a white star at the top, on a black background",
    "a blue circle at the bottom, on an orange and pink gradient background",
    "an orange triangle on the right, on a green background",
    "a pink circle on the left and a black square on the right, on a white background",
    "a green square in the center, on a yellow background with blue dots",
    "a purple star on the left, on a white and red striped background",
]
PIP = [
    "pip the robot wearing a red hat, on a yellow background",
    "pip the robot wearing a blue hat on the left, on a white background",
    "pip the robot wearing a green hat on the right, on a purple background",
    "pip the robot wearing a white hat, on a black background",
    "pip the robot wearing a purple hat on the left and a yellow star on the right, on a green background",
    "pip the robot wearing a black hat on the right, on a pink and white striped background",
    "pip the robot wearing a yellow hat, on a blue and green gradient background",
    "pip the robot wearing a pink hat on the left, on a green background with white dots",
]
DOT = [
    "dot the robot wearing a blue hat, on a yellow background",
    "dot the robot wearing a red hat on the right, on a white background",
    "dot the robot wearing a green hat on the left, on a purple background",
    "dot the robot wearing a yellow hat, on a black background",
    "dot the robot wearing a white hat on the right and a red circle on the left, on a blue background",
    "dot the robot wearing a pink hat on the left, on a green and white striped background",
    "dot the robot wearing a black hat, on an orange and yellow gradient background",
    "dot the robot wearing a purple hat on the right, on a white background with green dots",
]
SUBJECT = F.BENCH_SUBJECTS[0]  # "rusty": Pip wearing a red hat
SUBJECT_SCENES = [
    "rusty on the left, on a blue background",
    "rusty on the right and a yellow star on the left, on a green background",
    "rusty, on a white and purple striped background",
    "rusty on the left and a green circle on the right, on a black background",
    "rusty, on a yellow background",
    "rusty on the right, on a pink background with blue dots",
    "rusty on the left, on an orange and white gradient background",
    "rusty, on a purple background with yellow dots",
    "rusty on the right and a white square on the left, on a blue background",
    "rusty, on a green and blue gradient background",
    "rusty on the left and a pink triangle on the right, on a white background",
    "rusty, on a black background",
    "rusty on the right, on a yellow and black striped background",
]
LABEL = 18


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "grid.png")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", type=Path, default=None, help="an exported model folder (default: the embedded model)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = load_generator(args.model)
    tile = gen.native_size
    domain = recipes.of_model(args.model or DEFAULT_MODEL_DIR).domain
    start = time.monotonic()
    refs = SUBJECT.references()
    learned = learn_subject(gen, refs, LearnSettings(), threads=args.threads)
    subject = SubjectEmbedding("grid_rusty", SUBJECT.name, learned.vectors, "0" * 64, gen.model_sha256)
    print(f"learned {SUBJECT.name!r} in {learned.seconds:.0f} s", file=sys.stderr)

    rows: list[tuple[str, list[tuple[Image.Image, str]]]] = [
        ("shapes: colour, count, place, background", [(gen.generate(c, seed=i).image, c) for i, c in enumerate(SHAPES)]),
        ("pip the robot, the recurring character", [(gen.generate(c, seed=i).image, c) for i, c in enumerate(PIP)]),
    ]
    if domain >= 2:
        rows.append(("dot the robot, the second character", [(gen.generate(c, seed=i).image, c) for i, c in enumerate(DOT)]))
    subject_tiles = [(im, f"reference render {i + 1} of rusty (Pip, red hat)") for i, im in enumerate(refs)]
    subject_tiles += [(gen.generate(c, seed=i, subject=subject).image, c + "  [--subject rusty]")
                      for i, c in enumerate(SUBJECT_SCENES)]
    rows.append((f"--subject rusty: 3 reference renders, then new scenes (learned in {learned.seconds:.0f} s)",
                 subject_tiles[:8]))
    rows.append(("--subject rusty, more new scenes", subject_tiles[8:16]))

    cols = 8
    sheet = Image.new("RGB", (cols * tile, len(rows) * (tile + LABEL)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, (title, tiles) in enumerate(rows):
        y = r * (tile + LABEL)
        draw.text((4, y + 3), f"{r + 1}. {title}", fill=(0, 0, 0), font=font)
        for c, (im, caption) in enumerate(tiles):
            sheet.paste(im.convert("RGB").resize((tile, tile)), (c * tile, y + LABEL))
            print(f"row {r + 1} col {c + 1}: {caption}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(args.out, optimize=True)
    print(f"wrote {args.out} ({tile} px tiles, {args.out.stat().st_size // 1024} KB) in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
