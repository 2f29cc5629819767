"""Real-checkpoint layouts, on tiny random components saved to folders and loaded back the way a
user's local checkpoint is: SDXL-layout LCM, SD 1.5 / SDXL bases plus an LCM-LoRA file made here,
image-to-image for each kind, the LoRA's sha256 in the model identity and the signed manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from pocketstudio.core.base.errors import GenerationError, ModelLoadError
from pocketstudio.core.generator import load_generator, model_sha256
from pocketstudio.core.generator.hashing import combined_sha256
from training.tiny import (build_tiny_lora, build_tiny_random_model,
                                              build_tiny_random_sdxl_model)

PROMPT = "a red circle on the left, on a blue background"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.int16)


def zeroed(lora: Path, out: Path) -> Path:
    """The same LoRA with its up (B) factors zeroed: loads and fuses, changes nothing."""
    tensors = {k: (torch.zeros_like(v) if ".lora.up." in k or "lora_B" in k else v) for k, v in load_file(lora).items()}
    save_file(tensors, out)
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    f = {
        "sdxl-lcm": build_tiny_random_sdxl_model(root / "sdxl-lcm"),
        "sdxl-base": build_tiny_random_sdxl_model(root / "sdxl-base", name="tiny-sdxl-base", lcm=False),
        "sd-base": build_tiny_random_model(root / "sd-base", name="tiny-sd15-base", lcm=False),
    }
    # the first two name their family in their metadata; the third does not (--lora-family lcm)
    f["sdxl-lora"] = build_tiny_lora(f["sdxl-base"], root / "loras" / "lcm-lora-sdxl.safetensors", seed=1, family="lcm")
    f["sd-lora"] = build_tiny_lora(f["sd-base"], root / "loras" / "lcm-lora-sd15.safetensors", seed=1, family="lcm")
    f["sd-lora-2"] = build_tiny_lora(f["sd-base"], root / "loras" / "other.safetensors", seed=2)
    return f


@pytest.fixture(scope="module")
def sdxl(folders):
    return load_generator(folders["sdxl-lcm"])


@pytest.fixture(scope="module", params=["sd", "sdxl"])
def with_lora(request, folders):
    base, lora = folders[f"{request.param}-base"], folders[f"{request.param}-lora"]
    return request.param, base, lora, load_generator(base, lora=lora)


# --- SDXL-layout LCM folder -----------------------------------------------------------------------


def test_sdxl_lcm_folder_loads_as_sdxl_and_generates(sdxl, folders):
    assert sdxl.kind.architecture == "sdxl" and sdxl.kind.family.id == "lcm" and sdxl.kind.distilled
    assert type(sdxl._pipe).__name__ == "StableDiffusionXLPipeline"
    assert type(sdxl._pipe.scheduler).__name__ == "LCMScheduler"
    r = sdxl.generate(PROMPT, steps=2, seed=3)
    assert r.image.size == (64, 64) and r.image.mode == "RGB"
    assert r.model_name == "tiny-random-sdxl"
    assert r.model_sha256 == model_sha256(folders["sdxl-lcm"])
    assert [c.role for c in r.model_components] == ["checkpoint"]
    assert np.array_equal(pixels(r.image), pixels(sdxl.generate(PROMPT, steps=2, seed=3).image))
    assert not np.array_equal(pixels(r.image), pixels(sdxl.generate(PROMPT, steps=2, seed=4).image))


def test_sdxl_guidance_reaches_the_unet_embedding(sdxl):
    a = sdxl.generate(PROMPT, seed=5, guidance=1.5)
    b = sdxl.generate(PROMPT, seed=5, guidance=9.0)
    assert not np.array_equal(pixels(a.image), pixels(b.image))


def test_sdxl_does_not_add_diffusers_own_watermark(sdxl):
    assert sdxl._pipe.watermark is None
    assert sdxl._img2img().watermark is None


def test_sdxl_folder_without_second_text_encoder_is_refused(folders, tmp_path):
    copy = shutil.copytree(folders["sdxl-lcm"], tmp_path / "m")
    shutil.rmtree(copy / "text_encoder_2")
    with pytest.raises(ModelLoadError, match="text_encoder_2"):
        load_generator(copy)


def test_unsupported_pipeline_class_is_refused(folders, tmp_path):
    copy = shutil.copytree(folders["sdxl-lcm"], tmp_path / "m")
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="FluxPipeline"):
        load_generator(copy)


def test_sdxl_folder_with_only_fp16_variant_weights_loads(tmp_path):
    import diffusers

    src = build_tiny_random_sdxl_model(tmp_path / "src")
    pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(src, local_files_only=True, add_watermarker=False)
    pipe.save_pretrained(tmp_path / "fp16", variant="fp16", safe_serialization=True)
    for sub in ("tokenizer", "tokenizer_2"):
        shutil.copytree(src / sub, tmp_path / "fp16" / sub, dirs_exist_ok=True)
    assert any(".fp16." in p.name for p in (tmp_path / "fp16" / "unet").iterdir())
    gen = load_generator(tmp_path / "fp16")
    assert gen.kind.architecture == "sdxl"
    assert gen.model_sha256 == model_sha256(tmp_path / "fp16") != model_sha256(src)
    assert gen.generate(PROMPT, steps=2, seed=0).image.size == (64, 64)


@pytest.mark.parametrize("kind", ["sd-base", "sdxl-base"])
def test_base_model_without_lora_is_refused_with_a_hint(folders, kind):
    with pytest.raises(ModelLoadError, match="--lora"):
        load_generator(folders[kind])


# --- base + LCM-LoRA --------------------------------------------------------------------------


def test_lora_base_runs_with_lcm_scheduler_and_no_adapter_left(with_lora):
    family, _, _, gen = with_lora
    assert gen.kind.architecture == family and gen.kind.family.id == "lcm-lora" and not gen.kind.distilled
    assert type(gen._pipe.scheduler).__name__ == "LCMScheduler"
    assert not hasattr(gen._pipe.unet, "peft_config")  # fused, then the adapter layers removed
    assert gen.default_guidance == 1.0
    r = gen.generate(PROMPT, steps=4, seed=0)
    assert r.image.size == (64, 64)
    assert np.array_equal(pixels(r.image), pixels(gen.generate(PROMPT, steps=4, seed=0).image))


def test_lora_sha256_is_part_of_the_model_identity(with_lora):
    _, base, lora, gen = with_lora
    r = gen.generate(PROMPT, steps=2, seed=0)
    roles = [(c.role, c.name, c.sha256) for c in r.model_components]
    assert roles == [("checkpoint", gen.components[0].name, model_sha256(base)),
                     ("lora", lora.name, sha256_file(lora))]
    assert r.model_sha256 == combined_sha256([("checkpoint", model_sha256(base)), ("lora", sha256_file(lora))])
    assert r.model_sha256 not in (model_sha256(base), sha256_file(lora))
    assert r.model_name.endswith(f"+ lora:{lora.name}")


def test_another_lora_file_is_another_model(folders):
    a = load_generator(folders["sd-base"], lora=folders["sd-lora"])
    b = load_generator(folders["sd-base"], lora=folders["sd-lora-2"], lora_family="lcm")
    assert a.model_sha256 != b.model_sha256
    assert not np.array_equal(pixels(a.generate(PROMPT, seed=1).image), pixels(b.generate(PROMPT, seed=1).image))


def test_lora_changes_the_output_and_a_null_lora_does_not(with_lora, tmp_path):
    """A LoRA whose up-factors are zero fuses to the bare base: its output equals diffusers' own
    pipeline over the base with LCMScheduler and no LoRA. The random LoRA's output differs."""
    import diffusers

    family, base, lora, gen = with_lora
    null = load_generator(base, lora=zeroed(lora, tmp_path / "null.safetensors"), lora_family="lcm")
    with_random = pixels(gen.generate(PROMPT, steps=2, seed=9).image)
    with_null = pixels(null.generate(PROMPT, steps=2, seed=9).image)
    assert np.abs(with_random - with_null).mean() > 0.5

    if family == "sdxl":
        bare = diffusers.StableDiffusionXLPipeline.from_pretrained(base, local_files_only=True, add_watermarker=False)
    else:
        bare = diffusers.StableDiffusionPipeline.from_pretrained(base, local_files_only=True, safety_checker=None,
                                                                 feature_extractor=None, requires_safety_checker=False)
    bare.scheduler = diffusers.LCMScheduler.from_config(bare.scheduler.config)
    bare.set_progress_bar_config(disable=True)
    out = bare(prompt=PROMPT, num_inference_steps=2, guidance_scale=1.0, height=64, width=64,
               generator=torch.Generator().manual_seed(9)).images[0]
    assert np.abs(pixels(out) - with_null).max() <= 1


def test_corrupt_lora_file_raises_model_load_error(folders, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(folders["sd-lora"].read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="cannot read the LoRA"):
        load_generator(folders["sd-base"], lora=bad)


def test_lora_made_for_another_base_raises_model_load_error(folders):
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_generator(folders["sd-base"], lora=folders["sdxl-lora"])


def test_file_without_lora_tensors_raises_model_load_error(folders, tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"unet.conv_in.weight": torch.zeros(8, 4, 3, 3)}, plain)
    with pytest.raises(ModelLoadError, match="LoRA file .* does not fit"):
        load_generator(folders["sd-base"], lora=plain, lora_family="lcm")


def test_missing_or_non_safetensors_lora_raises(folders, tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_generator(folders["sd-base"], lora=tmp_path / "nope.safetensors")
    pt = tmp_path / "lora.bin"
    pt.write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match=".safetensors"):
        load_generator(folders["sd-base"], lora=pt)


# --- image-to-image for each kind -------------------------------------------------------------


def reference(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((80, 80), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("kind", ["sdxl-lcm", "sd-lora", "sdxl-lora"])
def test_image_to_image_follows_the_reference_for_each_kind(folders, sdxl, kind):
    if kind == "sdxl-lcm":
        gen = sdxl
    else:
        family = kind.split("-")[0]
        gen = load_generator(folders[f"{family}-base"], lora=folders[f"{family}-lora"])
    a = gen.generate(PROMPT, steps=4, seed=2, init_image=reference(1), strength=0.5)
    again = gen.generate(PROMPT, steps=4, seed=2, init_image=reference(1), strength=0.5)
    other_ref = gen.generate(PROMPT, steps=4, seed=2, init_image=reference(2), strength=0.5)
    stronger = gen.generate(PROMPT, steps=4, seed=2, init_image=reference(1), strength=1.0)
    assert a.image.size == (64, 64)
    assert np.array_equal(pixels(a.image), pixels(again.image))
    assert not np.array_equal(pixels(a.image), pixels(other_ref.image))
    assert not np.array_equal(pixels(a.image), pixels(stronger.image))
    assert type(gen._img2img()).__name__.endswith("Img2ImgPipeline")
    with pytest.raises(GenerationError, match="strength"):
        gen.generate(PROMPT, steps=4, seed=2, init_image=reference(1), strength=1.5)


# --- through the release flow and the command line -----------------------------------------


def test_lora_identity_is_signed_into_the_manifest(settings, folders, tmp_path):
    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.provenance.verify import Status, Verifier
    from pocketstudio.provenance.watermark import all_detectors

    from .conftest import NOW

    gen = load_generator(folders["sdxl-base"], lora=folders["sdxl-lora"])
    studio = Studio(settings, generator=gen)
    release = studio.generate(GenerationRequest(prompt=PROMPT, requester="alice", seed=1, size=128),
                              tmp_path / "out.png", now=NOW)
    assert release.model_sha256 == gen.model_sha256
    verdict = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests,
                       audit=studio.audit).verify_bytes(release.data)
    assert verdict.status is Status.TRUSTED
    model = verdict.manifest.model.to_json()
    assert model["sha256"] == gen.model_sha256
    assert {"role": "lora", "name": folders["sdxl-lora"].name, "sha256": sha256_file(folders["sdxl-lora"])} in model["components"]
    assert model["components"][0] == {"role": "checkpoint", "name": "tiny-sdxl-base",
                                      "sha256": model_sha256(folders["sdxl-base"])}


def test_cli_generate_with_lora_and_reference(folders, tmp_path):
    from pocketstudio.core.app.cli import app

    ref = tmp_path / "ref.png"
    reference(3).save(ref)
    out = tmp_path / "o.png"
    args = ["generate", "a blue square", "-o", out, "--model", folders["sd-base"], "--lora", folders["sd-lora"],
            "--reference", ref, "--strength", "0.7", "--seed", "4", "--home", tmp_path / "home", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["model_sha256"] == combined_sha256([("checkpoint", model_sha256(folders["sd-base"])),
                                                   ("lora", sha256_file(folders["sd-lora"]))])
    assert out.is_file()
    bad = CliRunner().invoke(app, [str(a) for a in ["generate", "x", "-o", tmp_path / "p.png", "--model",
                                                    folders["sd-base"], "--home", tmp_path / "home"]])
    assert bad.exit_code != 0 and not (tmp_path / "p.png").exists()
