"""Every few-step family on tiny random components of its real architecture, saved as a folder and
loaded the way a user's checkpoint is: SD-/SDXL-Turbo, TCD- and Hyper-SD LoRAs on SD 1.5 / SDXL
bases, SANA-Sprint and FLUX.2 [klein] (LCM and LCM-LoRA: test_generator_checkpoints.py). Each is
recognised, runs under its own sampler with its own defaults, goes through every gate of a real
release, and its manifest names the family and the sampler; the refusals say what to do."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import c2pa
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.base.errors import GenerationError, ModelLoadError
from pocketstudio.core.generator import load_generator
from pocketstudio.core.generator import memory
from pocketstudio.core.generator.hashing import combined_sha256, file_sha256, model_sha256
from training.tiny import (build_tiny_flux2_klein_model, build_tiny_lora, build_tiny_random_model,
                           build_tiny_random_sdxl_model, build_tiny_sana_sprint_model)

PROMPT = "a red circle on the left, on a blue background"


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.int16)


def reference(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((80, 80), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    f = {
        "sd-turbo": build_tiny_random_model(root / "sd-turbo", name="tiny-sd-turbo", lcm=False, turbo=True),
        "sdxl-turbo": build_tiny_random_sdxl_model(root / "sdxl-turbo", name="tiny-sdxl-turbo", lcm=False, turbo=True),
        "sd-base": build_tiny_random_model(root / "sd-base", name="tiny-sd15-base", lcm=False),
        "sdxl-base": build_tiny_random_sdxl_model(root / "sdxl-base", name="tiny-sdxl-base", lcm=False),
        "sana": build_tiny_sana_sprint_model(root / "sana"),
        "klein": build_tiny_flux2_klein_model(root / "klein"),
    }
    # The TCD LoRA names its family in its metadata; the Hyper-SD one does not (as published),
    # its file name carries its step count.
    f["tcd-lora"] = build_tiny_lora(f["sd-base"], root / "loras" / "tcd-sd15.safetensors", seed=3, family="tcd")
    f["hyper-lora"] = build_tiny_lora(f["sdxl-base"], root / "loras" / "Hyper-SDXL-2steps-lora.safetensors", seed=4)
    return f


# (folder, lora, --lora-family) -> family id, scheduler class, timestep spacing, default steps, guidance
CASES = {
    "sd-turbo": (("sd-turbo", None, None), "sd-turbo", "EulerDiscreteScheduler", "trailing", 1, 0.0),
    "sdxl-turbo": (("sdxl-turbo", None, None), "sdxl-turbo", "EulerDiscreteScheduler", "trailing", 1, 0.0),
    "tcd-lora": (("sd-base", "tcd-lora", None), "tcd-lora", "TCDScheduler", None, 4, 0.0),
    "hyper-sd-lora": (("sdxl-base", "hyper-lora", "hyper-sd"), "hyper-sd-lora", "DDIMScheduler", "trailing", 2, 0.0),
    "sana-sprint": (("sana", None, None), "sana-sprint", "SCMScheduler", None, 2, 4.5),
    "flux2-klein": (("klein", None, None), "flux2-klein", "FlowMatchEulerDiscreteScheduler", None, 4, 1.0),
}


@pytest.fixture(scope="module")
def loaded(folders):
    cache = {}

    def get(case: str):
        if case not in cache:
            (folder, lora, family), *_ = CASES[case]
            cache[case] = load_generator(folders[folder], lora=None if lora is None else folders[lora],
                                         lora_family=family)
        return cache[case]

    return get


# --- recognition, sampler, defaults ---------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_family_is_recognised_and_runs_under_its_sampler_with_its_defaults(loaded, case):
    _, family, scheduler, spacing, steps, guidance = CASES[case]
    gen = loaded(case)
    assert gen.family.id == family
    assert type(gen._pipe.scheduler).__name__ == scheduler
    if spacing is not None:
        assert gen._pipe.scheduler.config.timestep_spacing == spacing
    r = gen.generate(PROMPT, seed=3)
    assert (r.family, r.steps, r.guidance) == (family, steps, guidance)
    assert r.sampler == gen.family.sampler_name and r.sampler.startswith(scheduler)
    assert r.image.size == (64, 64) and r.image.mode == "RGB"
    assert np.array_equal(pixels(r.image), pixels(gen.generate(PROMPT, seed=3).image))
    assert not np.array_equal(pixels(r.image), pixels(gen.generate(PROMPT, seed=4).image))


def test_turbo_runs_without_classifier_free_guidance(loaded):
    """Guidance 0 and 1 both mean one conditional UNet pass: the same image."""
    gen = loaded("sd-turbo")
    assert np.array_equal(pixels(gen.generate(PROMPT, seed=1, guidance=0.0).image),
                          pixels(gen.generate(PROMPT, seed=1, guidance=1.0).image))
    with pytest.raises(GenerationError, match="guidance must be a number from 0.0 to 1.0 for SD-Turbo"):
        gen.generate(PROMPT, seed=1, guidance=7.5)
    with pytest.raises(GenerationError, match="steps must be an integer from 1 to 4 for SD-Turbo"):
        gen.generate(PROMPT, seed=1, steps=6)


def test_family_ranges_refuse_what_the_family_cannot_do(loaded):
    with pytest.raises(GenerationError, match="from 1 to 4 for SANA-Sprint"):
        loaded("sana-sprint").generate(PROMPT, steps=5)
    with pytest.raises(GenerationError, match=r"guidance .* for FLUX.2 \[klein\]"):
        loaded("flux2-klein").generate(PROMPT, guidance=4.0)
    with pytest.raises(GenerationError, match="multiple of 4"):  # FLUX.2 packs 2×2 latent patches
        loaded("flux2-klein").generate(PROMPT, size=66)


def test_a_folder_that_declares_turbo_gets_eulers_trailing_sampler(folders, tmp_path):
    """pocketstudio.json may name the family; the family's sampler is then set over the folder's DDIM."""
    copy = shutil.copytree(folders["sd-base"], tmp_path / "m")
    (copy / "pocketstudio.json").write_text(json.dumps({"name": "declared", "family": "sd-turbo"}))
    gen = load_generator(copy)
    assert gen.family.id == "sd-turbo"
    assert type(gen._pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert gen._pipe.scheduler.config.timestep_spacing == "trailing"
    assert json.loads((copy / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDIMScheduler"


def test_tcd_lora_samples_as_diffusers_tcd_does_and_not_as_lcm(folders, loaded):
    """The same LoRA under TCD (its family) equals diffusers' own TCD pipeline over the fused base,
    and differs from what the LCM sampler (today's silent default) would draw with it."""
    import diffusers

    gen = loaded("tcd-lora")
    ours = pixels(gen.generate(PROMPT, seed=9, steps=2).image)
    as_lcm = load_generator(folders["sd-base"], lora=folders["tcd-lora"], lora_family="tcd")
    as_lcm._pipe.scheduler = diffusers.LCMScheduler.from_config(as_lcm._pipe.scheduler.config)
    assert np.abs(ours - pixels(as_lcm.generate(PROMPT, seed=9, steps=2).image)).mean() > 0.5

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folders["sd-base"], local_files_only=True,
                                                             safety_checker=None, feature_extractor=None,
                                                             requires_safety_checker=False)
    pipe.scheduler = diffusers.TCDScheduler.from_config(pipe.scheduler.config)
    pipe.load_lora_weights(str(folders["tcd-lora"]))
    pipe.fuse_lora()
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt=PROMPT, num_inference_steps=2, guidance_scale=0.0, eta=0.3, height=64, width=64,
               generator=torch.Generator().manual_seed(9)).images[0]
    assert np.abs(pixels(out) - ours).max() <= 1


def test_hyper_sd_default_steps_come_from_its_file_name(loaded, folders, tmp_path):
    assert loaded("hyper-sd-lora").default_steps == 2
    renamed = shutil.copy(folders["hyper-lora"], tmp_path / "hyper.safetensors")
    assert load_generator(folders["sdxl-base"], lora=renamed, lora_family="hyper-sd").default_steps == 4


def test_lora_identity_and_family_together(loaded, folders):
    gen = loaded("tcd-lora")
    r = gen.generate(PROMPT, seed=1)
    assert [(c.role, c.sha256) for c in r.model_components] == [("checkpoint", model_sha256(folders["sd-base"])),
                                                                 ("lora", file_sha256(folders["tcd-lora"]))]
    assert r.model_sha256 == combined_sha256([(c.role, c.sha256) for c in r.model_components])


# --- references and subjects --------------------------------------------------------------------


@pytest.mark.parametrize("case", ["sd-turbo", "sdxl-turbo", "tcd-lora", "sana-sprint", "flux2-klein"])
def test_reference_images_steer_each_family_that_takes_them(loaded, case):
    gen = loaded(case)
    steps = 2
    a = gen.generate(PROMPT, steps=steps, seed=2, init_image=reference(1), strength=1.0 if case == "sd-turbo" else 0.5)
    b = gen.generate(PROMPT, steps=steps, seed=2, init_image=reference(2), strength=1.0 if case == "sd-turbo" else 0.5)
    plain = gen.generate(PROMPT, steps=steps, seed=2)
    assert a.image.size == (64, 64)
    assert not np.array_equal(pixels(a.image), pixels(b.image))
    assert not np.array_equal(pixels(a.image), pixels(plain.image))


@pytest.mark.parametrize("case", ["sana-sprint", "flux2-klein", "sdxl-turbo"])
def test_subjects_on_a_family_without_a_single_clip_encoder_are_a_typed_error(loaded, case):
    from pocketstudio.core.generator.subject import SubjectEmbedding

    gen = loaded(case)
    subject = SubjectEmbedding(name="rusty", subject_id="s1", vectors=torch.zeros(2, 16), model_sha256=gen.model_sha256,
                               sha256="0" * 64)
    with pytest.raises(GenerationError, match="subjects need a single-CLIP-text-encoder"):
        gen.generate(PROMPT, seed=1, subject=subject)


# --- refusals -------------------------------------------------------------------------------


def test_a_lora_without_a_family_is_refused_naming_the_flag(folders, tmp_path):
    with pytest.raises(ModelLoadError, match=r"--lora-family lcm\|tcd\|hyper-sd"):
        load_generator(folders["sdxl-base"], lora=folders["hyper-lora"])


def test_lora_family_contradicting_the_files_metadata_is_refused(folders):
    with pytest.raises(ModelLoadError, match="contradicts"):
        load_generator(folders["sd-base"], lora=folders["tcd-lora"], lora_family="lcm")


def test_unknown_lora_family_and_lora_family_without_lora_are_refused(folders):
    with pytest.raises(ModelLoadError, match="unknown LoRA family 'lightning'"):
        load_generator(folders["sd-base"], lora=folders["tcd-lora"], lora_family="lightning")
    with pytest.raises(ModelLoadError, match="no --lora was given"):
        load_generator(folders["sd-turbo"], lora_family="tcd")


def test_a_lora_on_a_transformer_family_is_refused(folders):
    with pytest.raises(ModelLoadError, match="SD 1.5 / SDXL bases"):
        load_generator(folders["sana"], lora=folders["tcd-lora"])


def test_an_unknown_folder_is_refused_listing_what_is_understood(folders, tmp_path):
    copy = shutil.copytree(folders["sana"], tmp_path / "m")
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = "QwenImagePipeline"
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError) as err:
        load_generator(copy)
    for name in ("QwenImagePipeline", "LCM", "SD-Turbo", "--lora-family lcm|tcd|hyper-sd", "SANA-Sprint", "FLUX.2 [klein]"):
        assert name in str(err.value)
    with pytest.raises(ModelLoadError, match="understands"):
        load_generator(folders["sd-base"])  # a base without a LoRA


def test_a_family_declared_for_the_wrong_architecture_is_refused(folders, tmp_path):
    copy = shutil.copytree(folders["sd-turbo"], tmp_path / "m")
    (copy / "pocketstudio.json").write_text(json.dumps({"family": "flux2-klein"}))
    with pytest.raises(ModelLoadError, match="names the family 'flux2-klein'"):
        load_generator(copy)


def test_a_flux2_klein_base_that_is_not_step_distilled_is_refused(folders, tmp_path):
    copy = shutil.copytree(folders["klein"], tmp_path / "m")
    index = json.loads((copy / "model_index.json").read_text())
    index["is_distilled"] = False
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="about 50 steps"):
        load_generator(copy)


def _sparse_safetensors(path: Path, params: int) -> None:
    """A safetensors file whose header declares ``params`` float32 numbers and whose body is a
    hole: the size a real checkpoint of that many parameters has, without the disk it takes."""
    header = json.dumps({"weight": {"dtype": "F32", "shape": [params], "data_offsets": [0, 4 * params]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
    with open(path, "r+b") as f:
        f.truncate(8 + len(header) + 4 * params)


def test_attack_weights_larger_than_host_memory_are_refused_before_loading(folders, tmp_path):
    copy = shutil.copytree(folders["sd-turbo"], tmp_path / "m")
    unet = copy / "unet" / "diffusion_pytorch_model.safetensors"
    _sparse_safetensors(unet, 2**40 // 4)  # 1 TiB of float32 weights
    with pytest.raises(ModelLoadError, match=r"need 1024\.0 GiB in fp32, more than the [\d.]+ GiB of memory") as err:
        load_generator(copy)
    assert "smaller dtype" in str(err.value)
    with pytest.raises(ModelLoadError, match=r"need 512\.0 GiB in bf16"):
        load_generator(copy, dtype="bf16")


def test_memory_estimate_counts_the_parameters_the_pipeline_loads(folders, loaded):
    gen = loaded("sana-sprint")
    params = sum(p.numel() for m in gen._pipe.components.values() if isinstance(m, torch.nn.Module)
                 for p in m.parameters())
    buffers = sum(b.numel() for m in gen._pipe.components.values() if isinstance(m, torch.nn.Module)
                  for b in m.buffers(recurse=True) if b.numel())
    est = memory.estimate(folders["sana"], "fp32")
    assert params * 4 <= est.total <= (params + buffers) * 4
    assert memory.estimate(folders["sana"], "fp16").total * 2 == est.total
    assert est.largest_name in ("transformer", "vae", "text_encoder")


def test_accelerator_memory_without_offload_is_refused_with_the_numbers():
    need = memory.MemoryEstimate(total=9 * memory.GIB, largest=6 * memory.GIB, largest_name="transformer", dtype="bf16")
    with pytest.raises(ModelLoadError, match=r"need 9\.0 GiB in bf16, more than the 8\.0 GiB of cuda:0; use --offload model"):
        memory.check_fits(need, host=64 * memory.GIB, accelerator=8 * memory.GIB, offload=None, device="cuda:0")
    memory.check_fits(need, host=64 * memory.GIB, accelerator=8 * memory.GIB, offload="model", device="cuda:0")
    with pytest.raises(ModelLoadError, match=r"largest component \(transformer, 6\.0 GiB"):
        memory.check_fits(need, host=64 * memory.GIB, accelerator=4 * memory.GIB, offload="model", device="cuda:0")
    memory.check_fits(need, host=64 * memory.GIB, accelerator=4 * memory.GIB, offload="sequential", device="cuda:0")
    with pytest.raises(ModelLoadError, match="memory this machine has"):
        memory.check_fits(need, host=8 * memory.GIB, accelerator=None, offload="sequential", device="cuda:0")


def test_device_dtype_and_offload_options_are_checked(folders):
    with pytest.raises(ModelLoadError, match="use cpu, cuda or mps"):
        load_generator(folders["sd-turbo"], device="tpu")
    with pytest.raises(ModelLoadError, match="unknown dtype 'fp8'"):
        load_generator(folders["sd-turbo"], dtype="fp8")
    with pytest.raises(ModelLoadError, match="needs --device cuda or mps"):
        load_generator(folders["sd-turbo"], offload="model")
    with pytest.raises(ModelLoadError, match="unknown offload mode"):
        load_generator(folders["sd-turbo"], device="cpu", offload="disk")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load_generator(folders["sd-turbo"], device="cuda")


def test_bf16_on_cpu_loads_and_generates(folders):
    gen = load_generator(folders["sana"], dtype="bf16")
    assert gen.dtype == "bf16" and gen._pipe.transformer.dtype == torch.bfloat16
    assert gen.generate(PROMPT, seed=1).image.size == (64, 64)


# --- through the release flow and the command line -------------------------------------------


def _generation_assertion(data: bytes, keys) -> dict:
    from pocketstudio.provenance.verify import trust_context

    reader = c2pa.Reader.try_create("image/png", io.BytesIO(data), None, trust_context(keys))
    return next(a["data"] for a in reader.get_active_manifest()["assertions"]
                if a["label"] == "io.pocketstudio.generation")


@pytest.mark.parametrize("case", list(CASES))
def test_each_family_releases_through_every_gate_and_its_manifest_names_it(settings, loaded, case, tmp_path):
    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.provenance.verify import Status, Verifier
    from pocketstudio.provenance.watermark import all_detectors

    from .conftest import NOW

    _, family, _, _, steps, guidance = CASES[case]
    gen = loaded(case)
    studio = Studio(settings, generator=gen)
    release = studio.generate(GenerationRequest(prompt=PROMPT, requester="alice", seed=1, size=128),
                              tmp_path / "out.png", now=NOW)
    assert (release.steps, release.model_sha256) == (steps, gen.model_sha256)
    verdict = Verifier(studio.keys, all_detectors(studio.keys.watermark_key()), studio.manifests,
                       audit=studio.audit).verify_bytes(release.data)
    assert verdict.status is Status.TRUSTED
    # the verifier reports what was signed: the family and the sampler
    assert (verdict.manifest.model.family, verdict.manifest.sampler) == (family, gen.family.sampler_name)
    generation = _generation_assertion(release.data, studio.keys)
    assert generation["model"]["family"] == family
    assert generation["sampler"] == gen.family.sampler_name
    assert (generation["steps"], generation["guidance"]) == (steps, guidance)
    assert generation["native_size"] == {"width": 64, "height": 64} and (generation["width"], generation["height"]) == (128, 128)
    if gen.family.lora:
        assert [c["role"] for c in generation["model"]["components"]] == ["checkpoint", "lora"]


def test_cli_generates_with_a_lora_family_and_refuses_a_lora_without_one(folders, tmp_path):
    from pocketstudio.core.app.cli import app

    out = tmp_path / "o.png"
    args = ["generate", "a blue square", "-o", out, "--model", folders["sdxl-base"], "--lora", folders["hyper-lora"],
            "--lora-family", "hyper-sd", "--seed", "4", "--size", "64", "--home", tmp_path / "home", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["steps"] == 2 and out.is_file()  # Hyper-SDXL-2steps: two steps by default
    bad = CliRunner().invoke(app, [str(a) for a in ["generate", "x", "-o", tmp_path / "p.png", "--model",
                                                    folders["sdxl-base"], "--lora", folders["hyper-lora"],
                                                    "--home", tmp_path / "home"]])
    assert bad.exit_code != 0 and not (tmp_path / "p.png").exists()
    assert "--lora-family" in bad.output


def test_cli_generates_with_a_transformer_family_folder(folders, tmp_path):
    from pocketstudio.core.app.cli import app

    out = tmp_path / "k.png"
    args = ["generate", "a blue square", "-o", out, "--model", folders["klein"], "--seed", "4", "--size", "64",
            "--home", tmp_path / "home", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["steps"] == 4 and data["model"] == "tiny-flux2-klein" and out.is_file()
