"""Stage ``export``: assemble the distilled student, VAE, text encoder, tokenizer and an
``LCMScheduler`` into a ``LatentConsistencyModelPipeline`` folder (fp16 safetensors; plus
``light_decoder/`` when the run trained one, and the teacher's UNet as ``subject_teacher/`` when
the student is phased), with
``pocketstudio.json`` (name, version, native size, how it was trained) and ``SHA256SUMS``.

Stage ``sample``: a PNG grid of fixed prompts through :func:`load_generator` (4 steps).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from pocketstudio.core.generator.hashing import file_sha256, weight_files
from pocketstudio.core.generator.pipeline import DEFAULT_MODEL_DIR, SUBJECT_TEACHER_FOLDER, quiet_libraries
from . import recipe as recipes
from .common import DATA_SEED, NUM_TRAIN_IMAGES, log

MODEL_NAME = "pocketstudio-lcd-tiny"
MODEL_VERSIONS = {"v0.1": "0.1.0", "v0.2": "0.2.0", "v0.3": "0.3.0", "v0.4": "0.4.0", "v0.5": "0.5.0", "v0.6": "0.6.0", "v0.7": "0.7.0", "v0.8": "0.8.0", "v0.9": "0.9.0", "v0.10": "0.10.0", "v0.11": "0.11.0"}  # by recipe
SAMPLE_PROMPTS = [
    "a red circle in the center, on a blue background",
    "a yellow square on the left and a green triangle on the right, on a purple background",
    "a white star at the top, on a black background",
    "pip the robot wearing a red hat, on a yellow background",
    "pip the robot wearing a blue hat on the left, on a white background",
    "a blue circle at the bottom, on an orange and pink gradient background",
    "an orange triangle on the right, on a green background",
    "a pink circle on the left and a black square on the right, on a white background",
]


def make_lcm_scheduler(zero_snr: bool = False):
    """The student's sampler: the teacher's betas (rescaled to zero terminal SNR, v-prediction,
    for a ``zero_snr`` recipe), LCD's 50-step origin grid and boundary scaling."""
    from diffusers import LCMScheduler

    return LCMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction" if zero_snr else "epsilon",
        rescale_betas_zero_snr=zero_snr,
        original_inference_steps=50,
        clip_sample=False,
        timestep_scaling=10.0,
    )


def _stage_log(run_dir: Path) -> dict:
    """Last logged step count and training seconds per stage."""
    out: dict = {}
    path = run_dir / "log.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if "step" in rec and "seconds" in rec:
                out[rec["stage"]] = {"steps": rec["step"], "seconds": rec["seconds"]}
            elif rec["stage"] == "latents":
                out["latents"] = {"seconds": rec["seconds"]}
    return out


def run(run_dir: Path, out: Path | None, which: str = "target") -> Path:
    from diffusers import LatentConsistencyModelPipeline

    from pocketstudio.core.generator.light_decoder import FOLDER as LIGHT_DECODER_FOLDER
    from .data import write_vocab_merges
    from .distill import load_trained as load_student
    from .light_decoder import load_trained as load_light_decoder
    from .teacher import load_trained as load_teacher
    from .vae import load_trained as load_vae

    out = Path(out or DEFAULT_MODEL_DIR)
    recipe = recipes.load(run_dir)
    tokenizer, text_encoder, teacher_unet, scaling = load_teacher(run_dir)
    unet, _ = load_student(run_dir, which)
    vae = load_vae(run_dir)
    vae.register_to_config(scaling_factor=scaling)
    pipe = LatentConsistencyModelPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=make_lcm_scheduler(recipe.zero_snr),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.to(torch.float16)
    if out.exists():
        shutil.rmtree(out)
    with quiet_libraries():
        pipe.save_pretrained(out, safe_serialization=True)
    write_vocab_merges(tokenizer, out / "tokenizer")
    light = load_light_decoder(run_dir)
    if light is not None:
        with quiet_libraries():
            light.to(torch.float16).save_pretrained(out / LIGHT_DECODER_FOLDER, safe_serialization=True)
    if recipe.distill_phases > 1:
        # subject learning fits its vectors against the teacher: a phased student's x0 is no
        # posterior mean (``Generator.subject_unet``)
        with quiet_libraries():
            teacher_unet.to(torch.float16).save_pretrained(out / SUBJECT_TEACHER_FOLDER, safe_serialization=True)
    stages = _stage_log(run_dir)
    info = {
        "name": MODEL_NAME,
        "version": MODEL_VERSIONS[recipe.name],
        "native_size": recipe.image_size,
        "default_steps": 4,
        "default_guidance": recipe.default_guidance,
        **({"sampler_timesteps": {str(k): list(v) for k, v in recipe.sampler_timesteps}} if recipe.sampler_timesteps else {}),
        "weights_dtype": "float16",
        "data": {"generator": "training.dataset", "seed": DATA_SEED, "images": NUM_TRAIN_IMAGES, "mirrored": True},
        "training": {
            "recipe": recipe.name,
            "commands": [
                "python -m training data" + ("" if recipe.name == recipes.DEFAULT else f" --recipe {recipe.name}"),
                "python -m training vae --max-minutes M",
                "python -m training teacher --max-minutes M",
                "python -m training distill --max-minutes M",
            ] + (["python -m training light-decoder --max-minutes M"] if light is not None else []) + [
                "python -m training export",
            ],
            "stages": stages,
            "exported_unet": which,
        },
    }
    (out / "pocketstudio.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [f"{file_sha256(p)}  {p.relative_to(out).as_posix()}" for p in weight_files(out)]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    size = sum(p.stat().st_size for p in weight_files(out))
    log(run_dir, "export", out=str(out), weight_bytes=size, stages=stages)
    return out


def sample_grid(run_dir: Path, model: Path | None, seeds=(0, 1), path: Path | None = None) -> Path:
    """Generate ``SAMPLE_PROMPTS`` × ``seeds`` at 4 steps and save a captioned-order grid PNG."""
    from PIL import Image

    from pocketstudio.core.generator import load_generator

    gen = load_generator(model)
    tiles = []
    for seed in seeds:
        for prompt in SAMPLE_PROMPTS:
            tiles.append(gen.generate(prompt, steps=4, seed=seed).image)
    s = gen.native_size
    cols = len(SAMPLE_PROMPTS)
    grid = Image.new("RGB", (cols * s, len(seeds) * s))
    for i, im in enumerate(tiles):
        grid.paste(im, ((i % cols) * s, (i // cols) * s))
    path = path or run_dir / "samples.png"
    grid.save(path)
    print(path)
    return path
