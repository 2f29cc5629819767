"""Prompt-fidelity benchmark (GenEval-style) of the embedded model on held-out captions.

Run:  .venv/bin/python bench/fidelity.py [--n 64] [--steps 1,2,4,8] [--teacher DIR] [--threads 1]
                                         [--subject-scenes 12] [--subject-objectives sampler,epsilon]

Captions: the first ``--n`` scenes of seed ``fidelity.EVAL_SEED`` whose caption is neither a
training caption nor the mirror of one (the training set is re-drawn from its seed, no files
needed). Each caption is generated once per row with generator seed = its row index, at the
model's default guidance, at its native size. The scorer (``training.fidelity``) checks
object, count, colour, position, colour binding and the character's identity (Pip; in scene
domain 2 also Dot); a row's category score is the
mean over the captions it applies to, ``overall`` the mean of the six (GenEval's convention).

Rows: the LCD student (the embedded model, ``load_generator(None)``) at 1, 2, 4 and 8 steps (and,
"LCD student*", at a step count whose timesteps the model declares, on its scheduler's own) and,
with ``--teacher DIR``, the teacher with DDIM at 25 and 50 steps and classifier-free guidance at
the same scale. DIR is either a training run folder (``RUN/teacher/state.pt`` as written by
``training/teacher.py``, with ``RUN/tokenizer`` and ``RUN/latents.pt``; the VAE from
``RUN/vae*`` when present, else the embedded model's) or a diffusers folder: a pipeline folder
(``model_index.json`` with unet, text_encoder, tokenizer, vae) or a bare ``UNet2DConditionModel``
folder, whose text encoder, tokenizer and VAE are then the student model's (the student ships
the teacher's own text encoder and VAE). Without ``--teacher`` the teacher is the UNet the model
folder ships for subject learning (``subject_teacher/``, fp16: the teacher's EMA weights, as the
embedded v0.9 and later ship them), so the comparison runs from a fresh clone; a folder without
one leaves the teacher rows NOT RUN.

Subject identity (its own section, issue 6 point 5): two subjects with fixed identity features,
Pip wearing a red hat ("rusty") and Pip wearing a white hat ("blanco"), are each learned from 3
reference renders by the same code as ``pocketstudio subject create`` (the token starts from random
vocabulary rows, not from "pip", "robot" or the hat's colour) and generated into ``--subject-scenes``
held-out Pip scenes of the same seed, Pip's phrase replaced by the subject's name; rows: with the
subject, the same captions without it (the name is then just unknown word pieces), and Pip
described in words. Columns: the scorer's identity features of the largest robot detection, the
hat's colour, their mean (``identity``), and the robot's colour-signature similarity to the
references and between generations (``fidelity.aggregate_identity``).

Seconds per image: wall-clock of the whole text-to-image call (text encoding, sampling, decode:
the model's light decoder when it ships one, for the teacher too, else the VAE in the same
channels-last layout as the generator's), one image at a time, torch at ``--threads`` threads (1 by default: the machine is
shared), after one untimed warm-up call per row.
"""

from __future__ import annotations

import _checkout  # noqa: F401 — training/ runs from the checkout

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training import fidelity as F
from hostinfo import cpu_name  # noqa: E402 (bench/ is the script directory)



def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


class Teacher:
    """DDIM + classifier-free guidance sampler over a teacher UNet (scaled-linear betas; ε, or for a
    zero-terminal-SNR teacher the rescaled betas, v-prediction and trailing timesteps)."""

    def __init__(self, tokenizer, text_encoder, unet, vae, scaling: float, source: str, zero_snr: bool = False):
        self.tokenizer, self.text_encoder, self.unet, self.vae = tokenizer, text_encoder, unet, vae
        self.scaling, self.source, self.zero_snr = scaling, source, zero_snr
        self.light = None  # the student's light decoder, when it has one: both then decode alike

    @torch.no_grad()
    def generate(self, prompt: str, steps: int, seed: int, guidance: float) -> Image.Image:
        from training.teacher import make_ddim_scheduler

        sched = make_ddim_scheduler(self.zero_snr)
        sched.set_timesteps(steps)
        ids = self.tokenizer([prompt, ""], padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        emb = self.text_encoder(ids)[0]
        size = int(self.unet.config.sample_size)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((1, int(self.unet.config.in_channels), size, size), generator=g)
        for t in sched.timesteps:
            eps = self.unet(torch.cat([x, x]), t, encoder_hidden_states=emb).sample
            ec, eu = eps.chunk(2)
            x = sched.step(eu + guidance * (ec - eu), t, x).prev_sample
        y = self.light(x) if self.light is not None else self.vae.decode(x / self.scaling).sample
        img = y.clamp(-1, 1).add(1).mul(127.5).round().byte()
        return Image.fromarray(img[0].permute(1, 2, 0).numpy())


def load_teacher(path: Path, model_dir: Path) -> Teacher:
    """The teacher at ``path``; a bare UNet folder takes its text encoder, tokenizer, VAE and
    schedule from the student's ``model_dir``."""
    from pocketstudio.core.generator.pipeline import DEFAULT_MODEL_DIR, cpu_fast_layout, quiet_libraries

    path = path.expanduser()
    with quiet_libraries():
        if (path / "teacher" / "state.pt").is_file():
            from training import recipe as R
            from training import teacher as T
            from training import vae as V

            tokenizer, text_encoder, unet, scaling = T.load_trained(path)
            if (path / "vae" / "state.pt").is_file():
                vae, vae_src = V.load_trained(path), "run folder"
            else:
                from diffusers import AutoencoderKL

                vae, vae_src = AutoencoderKL.from_pretrained(DEFAULT_MODEL_DIR / "vae", local_files_only=True), "embedded model"
            return Teacher(tokenizer, text_encoder, unet, cpu_fast_layout(vae.float().eval()), scaling,
                           f"training run folder {path} (EMA UNet + text encoder from teacher/state.pt, VAE from the {vae_src})",
                           R.load(path).zero_snr)
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        if (path / "model_index.json").is_file() and (path / "unet").is_dir():
            base, unet_dir, src = path, path / "unet", f"diffusers pipeline folder {path}"
        elif (path / "config.json").is_file():
            base, unet_dir, src = model_dir, path, f"diffusers UNet folder {path} (text encoder, tokenizer, VAE: {model_dir}'s)"
        else:
            raise SystemExit(f"--teacher {path}: neither a training run folder (teacher/state.pt) nor a diffusers UNet/pipeline folder")
        unet = UNet2DConditionModel.from_pretrained(unet_dir, local_files_only=True, torch_dtype=torch.float32)
        if unet.config.time_cond_proj_dim:
            raise SystemExit(f"--teacher {path}: this UNet has a guidance embedding: it is a distilled student, not the teacher")
        vae = AutoencoderKL.from_pretrained(base / "vae", local_files_only=True, torch_dtype=torch.float32)
        text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder", local_files_only=True, torch_dtype=torch.float32)
        tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer", local_files_only=True)
    # the schedule: the pipeline folder's own scheduler config, else the student model's
    sched_cfg = json.loads((base / "scheduler" / "scheduler_config.json").read_text())
    zero_snr = bool(sched_cfg.get("rescale_betas_zero_snr")) and sched_cfg.get("prediction_type") == "v_prediction"
    return Teacher(tokenizer, text_encoder.eval(), unet.eval(), cpu_fast_layout(vae.eval()), float(vae.config.scaling_factor), src, zero_snr)


def vae_round_trip(images: list[Image.Image], model_dir: Path, light=None) -> list[Image.Image]:
    """The held-out renders through the model's VAE (encode mean, decode; with ``light``, the
    light decoder instead of the VAE's): the best any generator decoding so can look."""
    from diffusers import AutoencoderKL

    from pocketstudio.core.generator.pipeline import quiet_libraries

    with quiet_libraries():
        vae = AutoencoderKL.from_pretrained(model_dir / "vae", local_files_only=True, torch_dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for im in images:
            x = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
            z = vae.encode(x).latent_dist.mean
            y = light(z * vae.config.scaling_factor) if light is not None else vae.decode(z).sample
            y = y.clamp(-1, 1).add(1).mul(127.5).round().byte()
            out.append(Image.fromarray(y[0].permute(1, 2, 0).numpy()))
    return out



def subject_section(gen, args, train_caps: set[str], domain: int) -> None:
    """Subject consistency (issue 6 point 5): each benchmark subject is learned from 3 reference
    renders with the same code as ``pocketstudio subject create``, then generated into held-out
    scenes with and without it, and Pip described in words for scale."""
    from pocketstudio.core.generator.subject import LearnSettings, SubjectEmbedding, learn_subject

    n = args.subject_scenes
    started = time.monotonic()
    objectives = [o for o in args.subject_objectives.split(",") if o]
    base = LearnSettings() if args.subject_steps is None else LearnSettings(steps=args.subject_steps)
    cols = ("robot", "body", "eyes", "hat", "hat_colour", "identity", "reference", "agreement")
    head = f"{'subject':<23} | {'row':<30} | " + " | ".join(f"{c:>10}" for c in cols) + f" | {'learn s':>7}"
    lines = []
    for subject in F.bench_subjects(domain):
        scenes = subject.scenes(n, args.seed, exclude=train_caps, domain=domain)
        reference = F.reference_signature(subject)
        who = subject.character.split()[0].capitalize()
        label = f"{subject.name} ({who}, {subject.hat} hat)"

        def row(name, make, seconds=None):
            scored = [F.subject_identity(make(i, named, described), spec, subject.hat, subject.character)
                      for i, (named, described, spec) in enumerate(scenes)]
            agg = F.aggregate_identity(scored, reference)
            lines.append(f"{label:<23} | {name:<30} | " + " | ".join(fmt(agg[c], 10, 2) for c in cols)
                         + f" | {'' if seconds is None else f'{seconds:.0f}':>7}")

        for objective in objectives:
            settings = LearnSettings(**{**base.__dict__, "objective": objective})
            learned = learn_subject(gen, subject.references(), settings, threads=args.threads)
            emb = SubjectEmbedding("bench_" + subject.name, subject.name, learned.vectors, "0" * 64, gen.model_sha256)
            row(f"--subject ({objective} loss)", lambda i, named, d: gen.generate(named, seed=i, subject=emb).image,
                learned.seconds)
            print(f"#   subject {subject.name} learned ({objective}): {learned.seconds:.0f} s", file=sys.stderr, flush=True)
        row("no --subject (name as words)", lambda i, named, d: gen.generate(named, seed=i).image)
        row(f"{who} described in words", lambda i, named, d: gen.generate(d, seed=i).image)
    print(f"\nsubject identity (issue 6 point 5): each subject learned from {len(F.REFERENCE_PLACES)} reference renders "
          f"(dataset.render_character, seeds {F.SUBJECT_REFERENCE_SEED}+), {base.steps} steps, {base.vectors} vectors; "
          f"{n} held-out scenes of its character, seed {args.seed}, per subject (the character's phrase replaced by the subject's name), "
          f"4 steps, generator seed = scene index; {time.monotonic() - started:.0f} s for this section")
    print("  robot/body/eyes/hat: share of images whose largest robot detection has the scorer's identity feature; "
          "hat_colour: the subject's hat colour;\n  identity: mean of body, eyes, hat, hat_colour (the scorer's "
          "identity score plus the subject's colour); reference: colour-signature similarity of the robot to the\n"
          "  references' (histogram intersection over the renderer's colours, 0 without a robot); agreement: the same "
          "between generations, mean over all pairs")
    print(head)
    print("-" * len(head))
    for line in lines:
        print(line)


def fmt(v, width=8, digits=3) -> str:
    return f"{'—':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64, help="held-out captions (default 64)")
    p.add_argument("--steps", default="1,2,4,8", help="student step counts")
    p.add_argument("--model", type=Path, default=None, help="student: a model folder made by the export stage "
                                                           "(default: the embedded model)")
    p.add_argument("--teacher", type=Path, default=None, help="teacher: training run folder or diffusers UNet/pipeline folder (default: the model folder's subject_teacher/)")
    p.add_argument("--teacher-steps", default="25,50", help="teacher DDIM step counts")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--seed", type=int, default=F.EVAL_SEED, help="scene seed of the held-out captions")
    p.add_argument("--subject-scenes", type=int, default=12,
                   help="held-out scenes per learned subject in the subject-identity section (0 skips it; at least 8)")
    p.add_argument("--subject-steps", type=int, default=None, help="learning steps per subject (default: the tool's)")
    p.add_argument("--subject-objectives", default="sampler",
                   help="learning objectives to compare, of: sampler, epsilon (core/generator/subject.py)")
    args = p.parse_args()
    if 0 < args.subject_scenes < 8:
        p.error("--subject-scenes: at least 8 (or 0 to skip the section)")
    torch.set_num_threads(args.threads)

    from pocketstudio.core.generator import load_generator
    from pocketstudio.core.generator.pipeline import DEFAULT_MODEL_DIR, SUBJECT_TEACHER_FOLDER
    from training import recipe as recipes

    t_start = time.monotonic()
    load_start = load_avg()
    model_dir = args.model or DEFAULT_MODEL_DIR
    gen = load_generator(args.model)
    guidance = gen.default_guidance
    # the model's scene domain (domain 2 adds Dot): from the recipe its export recorded
    domain = recipes.of_model(model_dir).domain
    train_caps = F.training_captions(domain)
    scenes = F.held_out_scenes(args.n, args.seed, exclude=train_caps, size=gen.native_size, domain=domain)
    captions = [s.caption for s in scenes]
    specs = [F.parse_caption(c) for c in captions]
    n_pip = sum(s.has_robot for s in specs)  # captions with a character

    print("# fidelity benchmark (GenEval-style, procedural domain)")
    print(f"# command: {shlex.join([Path(sys.executable).name] + sys.argv)}")
    print(f"# machine: {platform.node()}, {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{args.threads} thread(s); load average (1/5/15 min) {load_start} at start")
    print(f"# model: {gen.model_name} {gen.model_version or ''} sha256 {gen.model_sha256[:16]}…, {gen.native_size} px, guidance {guidance:g}")
    print(f"# captions: {args.n} held out (scene seed {args.seed}, none among the {len(train_caps)} training captions "
          f"incl. mirrors, scene domain {domain}), {n_pip} with a character; 1 image per caption per row, "
          "generator seed = caption index")

    # the scorer's own calibration
    real = [F.score_image(s.image, sp) for s, sp in zip(scenes, specs)]
    mism = []
    for i, s in enumerate(scenes):
        j = (i + 1) % len(scenes)
        mism.append(F.score_image(s.image, specs[j]))
    rt = [F.score_image(im, sp) for im, sp in zip(vae_round_trip([s.image for s in scenes], model_dir), specs)]
    soft = [F.score_image(F.degrade(s.image), sp) for s, sp in zip(scenes, specs)]
    cal = {"real renders, own caption": F.aggregate(real),
           "real renders, 64 px + blur 1.5 + JPEG 40": F.aggregate(soft),
           "real renders through the VAE": F.aggregate(rt),
           "mismatched (render i, caption i+1)": F.aggregate(mism)}
    if gen.light_decoder is not None:
        rt_light = vae_round_trip([s.image for s in scenes], model_dir, gen.light_decoder)
        cal["real renders, VAE encoder + light decoder"] = F.aggregate([F.score_image(im, sp) for im, sp in zip(rt_light, specs)])

    rows: list[tuple[str, int, dict | None, float | None, str]] = []
    schedules = dict(gen.sampler_timesteps)

    def student_row(name, steps):
        gen.generate(captions[0], steps=steps, seed=0)  # warm-up
        scores, secs = [], []
        for i, (cap, sp) in enumerate(zip(captions, specs)):
            t0 = time.perf_counter()
            img = gen.generate(cap, steps=steps, seed=i).image
            secs.append(time.perf_counter() - t0)
            scores.append(F.score_image(img, sp))
        rows.append((name, steps, F.aggregate(scores), float(np.mean(secs)), ""))
        print(f"#   {name} {steps} step(s) done: {np.mean(secs):.3f} s/img", file=sys.stderr, flush=True)

    for steps in [int(s) for s in args.steps.split(",") if s]:
        student_row("LCD student", steps)
        if steps in schedules:  # the same student on its scheduler's own timesteps, for comparison
            gen.sampler_timesteps = {}
            try:
                student_row("LCD student*", steps)
            finally:
                gen.sampler_timesteps = schedules
    teacher_note = ""
    t_steps = [int(s) for s in args.teacher_steps.split(",") if s]
    shipped = Path(model_dir) / SUBJECT_TEACHER_FOLDER
    teacher_dir = args.teacher or (shipped if (shipped / "config.json").is_file() else None)
    if teacher_dir is None:
        teacher_note = (f"not run: no --teacher DIR given and {model_dir} ships no {SUBJECT_TEACHER_FOLDER}/. "
                        "A training run folder after the 'teacher' stage (e.g. runs/default) or a diffusers "
                        "teacher UNet/pipeline folder provides one")
        for steps in t_steps:
            rows.append(("teacher DDIM", steps, None, None, "NOT RUN"))
    else:
        teacher = load_teacher(teacher_dir, Path(model_dir))
        teacher.light = gen.light_decoder
        teacher_note = (f"teacher: {teacher.source}; DDIM, classifier-free guidance {guidance:g} (= the student's w embedding)"
                        + ("; decoded by the student's light decoder, as the student's images are" if teacher.light is not None else ""))
        for steps in t_steps:
            teacher.generate(captions[0], steps, 0, guidance)  # warm-up
            scores, secs = [], []
            for i, (cap, sp) in enumerate(zip(captions, specs)):
                t0 = time.perf_counter()
                img = teacher.generate(cap, steps, i, guidance)
                secs.append(time.perf_counter() - t0)
                scores.append(F.score_image(img, sp))
            rows.append(("teacher DDIM", steps, F.aggregate(scores), float(np.mean(secs)), ""))
            print(f"#   teacher {steps} steps done: {np.mean(secs):.3f} s/img", file=sys.stderr, flush=True)

    slowest = max((r[3] for r in rows if r[3] is not None), default=None)
    cats = list(F.CATEGORIES) + ["overall"]
    head = f"{'row':<13} | {'steps':>5} | " + " | ".join(f"{c:>8}" for c in cats) + f" | {'s/img':>6} | {'speed-up':>8}"
    print(f"# load average at end {load_avg()}; {time.monotonic() - t_start:.0f} s in all\n")
    print("scorer calibration (same captions; category means, overall = mean of the categories):")
    for name, agg in cal.items():
        print(f"  {name:<41} " + "  ".join(f"{c} {fmt(agg[c], 0, 2)}" for c in cats))
    print()
    print(head)
    print("-" * len(head))
    for name, steps, agg, sec, note in rows:
        if agg is None:
            print(f"{name:<13} | {steps:>5} | " + " | ".join(f"{note:>8}" for _ in cats) + f" | {'—':>6} | {'—':>8}")
            continue
        print(f"{name:<13} | {steps:>5} | " + " | ".join(fmt(agg[c]) for c in cats) + f" | {sec:>6.3f} | {slowest / sec:>7.1f}×")
    if schedules:
        own = ", ".join(f"{k} steps: {', '.join(map(str, gen.timesteps_for(k, declared=False)))}" for k in schedules)
        mine = ", ".join(f"{k} steps: {', '.join(map(str, v))}" for k, v in schedules.items())
        print(f"LCD student: the timesteps the model declares (pocketstudio.json, {mine}); "
              f"LCD student*: its scheduler's own ({own})")
    print(f"\n{teacher_note}")
    if args.subject_scenes:
        subject_section(gen, args, train_caps, domain)

    def row(name, steps):
        return next((r for r in rows if r[0] == name and r[1] == steps and r[2] is not None), None)

    s4, t50 = row("LCD student", 4), row("teacher DDIM", 50)
    print("\ntargets (issue 6, point 3):")
    if s4 is None:
        print("  student at 4 steps not in --steps: every target NOT RUN")
        return 0
    if t50 is None:
        print("  student 4 steps ≥ 10× faster than teacher DDIM 50 ........ NOT RUN (no teacher row)")
        print("  student 4 steps within 5 points of teacher DDIM 50 overall  NOT RUN (no teacher row)")
    else:
        speed = t50[3] / s4[3]
        gap = 100 * (t50[2]["overall"] - s4[2]["overall"])
        print(f"  student 4 steps ≥ 10× faster than teacher DDIM 50 ........ {'MET' if speed >= 10 else 'MISSED'} ({speed:.1f}×)")
        print(f"  student 4 steps within 5 points of teacher DDIM 50 overall  {'MET' if gap <= 5 else 'MISSED'} "
              f"({100 * s4[2]['overall']:.1f} vs {100 * t50[2]['overall']:.1f}: {abs(gap):.1f} points {'behind' if gap >= 0 else 'ahead'})")
    ov = s4[2]["overall"]
    print(f"  student 4 steps overall ≥ 0.7 .............................. {'MET' if ov >= 0.7 else 'MISSED'} ({ov:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
