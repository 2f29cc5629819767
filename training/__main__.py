"""``python -m training <stage> [--run-dir runs/default] [--max-minutes M]``

Stages, in order (``--recipe`` at the first picks the model version, ``recipe.py``): ``data`` → ``vae`` → ``teacher`` → ``distill`` → ``export`` (``vae-decoder``,
any time after ``teacher`` has encoded the latents, fine-tunes the decoder alone; ``light-decoder``, any time
after that, trains the fast text-to-image decoder that ``export`` ships when there is one; ``sample`` draws a grid).
``sr`` → ``sr-export`` train and ship the ×2 super-resolution net of the 2K/4K path (independent of the rest). Each training stage
resumes from its checkpoint in the run folder, so a stage can be continued in chunks by running
it again; ``--max-minutes`` bounds one invocation, ``--steps`` the stage's total step count.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .recipe import RECIPES

STAGES = ("data", "vae", "vae-decoder", "teacher", "light-decoder", "distill", "export", "sample", "sr", "sr-export")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training")
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--run-dir", default="runs/default", type=Path)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--steps", type=int, default=None, help="stop once the stage has this many steps in total")
    p.add_argument("--out", type=Path, default=None, help="export: target folder (default: the embedded model)")
    p.add_argument("--recipe", default=None, help=f"model version the run folder trains (recipe.py: {', '.join(RECIPES)}); "
                                                  "fixed by the first stage run in the folder (default v0.1)")
    args = p.parse_args(argv)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    if args.stage not in ("sr", "sr-export"):
        from . import recipe

        recipe.choose(args.run_dir, args.recipe)

    if args.stage == "data":
        from . import data

        data.run(args.run_dir)
    elif args.stage == "vae":
        from . import vae

        vae.run(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "vae-decoder":
        from . import vae

        vae.run_decoder(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "teacher":
        from . import teacher

        teacher.run(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "light-decoder":
        from . import light_decoder

        light_decoder.run(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "distill":
        from . import distill

        distill.run(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "export":
        from . import export

        export.run(args.run_dir, args.out)
    elif args.stage == "sr":
        from . import sr

        sr.run(args.run_dir, args.max_minutes, args.steps)
    elif args.stage == "sr-export":
        from . import sr

        sr.export(args.run_dir, args.out)
    elif args.stage == "sample":
        from . import export

        export.sample_grid(args.run_dir, args.out)


if __name__ == "__main__":
    main()
