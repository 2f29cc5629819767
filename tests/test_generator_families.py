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
    # Hyper-SD's 1-step "unified" LoRA (TCD) and its 12-step CFG-preserved one, named as published.
    f["hyper-1step"] = build_tiny_lora(f["sd-base"], root / "loras" / "Hyper-SD15-1step-lora.safetensors", seed=5)
    f["hyper-cfg"] = build_tiny_lora(f["sdxl-base"], root / "loras" / "Hyper-SDXL-12steps-CFG-lora.safetensors", seed=6)
    return f


# (folder, lora, --lora-family) -> family id, scheduler class, timestep spacing, default steps, guidance
CASES = {
    "sd-turbo": (("sd-turbo", None, None), "sd-turbo", "EulerDiscreteScheduler", "trailing", 1, 0.0),
    "sdxl-turbo": (("sdxl-turbo", None, None), "sdxl-turbo", "EulerDiscreteScheduler", "trailing", 1, 0.0),
    "tcd-lora": (("sd-base", "tcd-lora", None), "tcd-lora", "TCDScheduler", None, 4, 0.0),
    "hyper-sd-lora": (("sdxl-base", "hyper-lora", "hyper-sd"), "hyper-sd-lora", "DDIMScheduler", "trailing", 2, 0.0),
    "hyper-sd-1step-lora": (("sd-base", "hyper-1step", "hyper-sd"), "hyper-sd-1step-lora", "TCDScheduler", None, 1,
                            0.0),
    "hyper-sd-cfg-lora": (("sdxl-base", "hyper-cfg", "hyper-sd"), "hyper-sd-cfg-lora", "DDIMScheduler", "trailing", 12,
                          5.0),
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


def _with_metadata(src: Path, dst: Path, **meta: str) -> Path:
    """A copy of the LoRA file ``src`` at ``dst`` whose safetensors metadata also holds ``meta``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        old = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={**old, **meta})
    return dst


def test_hyper_sd_1step_lora_samples_as_diffusers_tcd_at_eta_1(loaded, folders):
    """Hyper-SD's card runs its 1-step LoRA under TCDScheduler with eta 1.0 (not DDIM trailing, the
    2/4/8-step LoRAs' sampler): ours equals diffusers' own TCD pipeline over the fused base so,
    and, at more steps (the unified LoRA runs them under TCD too), differs from what DDIM trailing
    draws with it. (One step from t=999 is the same x0 prediction under both samplers.)"""
    import diffusers

    gen = loaded("hyper-sd-1step-lora")
    assert gen.family.call_kwargs == {"eta": 1.0} and gen.sampler == "TCDScheduler(eta=1.0)"
    ours = pixels(gen.generate(PROMPT, seed=9).image)

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folders["sd-base"], local_files_only=True,
                                                             safety_checker=None, feature_extractor=None,
                                                             requires_safety_checker=False)
    pipe.load_lora_weights(str(folders["hyper-1step"]))
    pipe.fuse_lora()
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.TCDScheduler.from_config(pipe.scheduler.config)
    tcd = pipe(prompt=PROMPT, num_inference_steps=1, guidance_scale=0.0, eta=1.0, height=64, width=64,
               generator=torch.Generator().manual_seed(9)).images[0]
    assert np.abs(pixels(tcd) - ours).max() <= 1
    ours3 = pixels(gen.generate(PROMPT, seed=9, steps=3).image)
    tcd3 = pipe(prompt=PROMPT, num_inference_steps=3, guidance_scale=0.0, eta=1.0, height=64, width=64,
                generator=torch.Generator().manual_seed(9)).images[0]
    assert np.abs(pixels(tcd3) - ours3).max() <= 1
    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
    ddim3 = pipe(prompt=PROMPT, num_inference_steps=3, guidance_scale=0.0, height=64, width=64,
                 generator=torch.Generator().manual_seed(9)).images[0]
    assert np.abs(pixels(ddim3) - ours3).mean() > 0.5


def test_hyper_sd_variant_comes_from_the_file_name_or_its_metadata(folders, tmp_path):
    from pocketstudio.core.generator.families import HYPER_SD_METADATA_KEY, recognise

    renamed = shutil.copy(folders["hyper-1step"], tmp_path / "hyper.safetensors")
    assert recognise(folders["sd-base"], Path(renamed), "hyper-sd").family.id == "hyper-sd-lora"  # no count: 2/4/8
    marked = _with_metadata(folders["hyper-1step"], tmp_path / "m" / "hyper.safetensors",
                            **{HYPER_SD_METADATA_KEY: "12steps-CFG"})
    assert recognise(folders["sd-base"], marked, "hyper-sd").family.id == "hyper-sd-cfg-lora"
    bad = _with_metadata(folders["hyper-1step"], tmp_path / "b" / "hyper.safetensors", **{HYPER_SD_METADATA_KEY: "fast"})
    with pytest.raises(ModelLoadError, match="does not name a Hyper-SD LoRA"):
        recognise(folders["sd-base"], bad, "hyper-sd")
    too_many = shutil.copy(folders["hyper-1step"], tmp_path / "Hyper-SD15-16steps-CFG-lora.safetensors")
    with pytest.raises(ModelLoadError, match="16-step Hyper-SD LoRA"):
        recognise(folders["sd-base"], Path(too_many), "hyper-sd")


def test_hyper_sd_cfg_lora_runs_12_steps_with_guidance_5_to_8(loaded):
    """The CFG-preserved LoRAs take more steps than the global few-step limit and real guidance."""
    gen = loaded("hyper-sd-cfg-lora")
    assert (gen.default_steps, gen.max_steps, gen.guidance_range) == (12, 12, (5.0, 8.0))
    assert gen.generate(PROMPT, seed=1, guidance=8.0).steps == 12
    with pytest.raises(GenerationError, match="steps must be an integer from 1 to 12 for Hyper-SD CFG LoRA"):
        gen.generate(PROMPT, seed=1, steps=13)
    with pytest.raises(GenerationError, match="guidance must be a number from 5.0 to 8.0 for Hyper-SD CFG LoRA"):
        gen.generate(PROMPT, seed=1, guidance=0.0)
    with pytest.raises(GenerationError, match="from 1 to 8 for Hyper-SD LoRA"):
        loaded("hyper-sd-lora").generate(PROMPT, seed=1, steps=12)


def _no_model():
    raise AssertionError("the model was loaded before the request's numbers were checked")


@pytest.mark.parametrize("lora, steps, guidance, message", [
    ("hyper-lora", 12, None, "steps must be an integer from 1 to 8 for Hyper-SD LoRA"),
    ("hyper-cfg", 13, None, "steps must be an integer from 1 to 12 for Hyper-SD CFG LoRA"),
    ("hyper-cfg", 12, 3.0, "guidance must be a number from 5.0 to 8.0 for Hyper-SD CFG LoRA"),
])
def test_studio_checks_the_familys_step_and_guidance_limits_before_the_model_loads(settings, folders, tmp_path,
                                                                                    lora, steps, guidance, message):
    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.core.generator.pipeline import model_family

    studio = Studio(settings, generator_factory=_no_model)
    studio.model_family = model_family(folders["sdxl-base"], folders[lora], "hyper-sd")
    with pytest.raises(GenerationError, match=message):
        studio.generate(GenerationRequest(prompt=PROMPT, requester="alice", steps=steps, guidance=guidance),
                        tmp_path / "o.png")
    assert studio.audit.records() == [] and not (tmp_path / "o.png").exists()


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
    # FLUX.2 [klein] attends to the reference and takes no strength (test_a_strength_for_flux2_klein_...)
    strength = None if case == "flux2-klein" else 1.0 if case == "sd-turbo" else 0.5
    a = gen.generate(PROMPT, steps=steps, seed=2, init_image=reference(1), strength=strength)
    b = gen.generate(PROMPT, steps=steps, seed=2, init_image=reference(2), strength=strength)
    plain = gen.generate(PROMPT, steps=steps, seed=2)
    assert a.image.size == (64, 64)
    assert not np.array_equal(pixels(a.image), pixels(b.image))
    assert not np.array_equal(pixels(a.image), pixels(plain.image))


def test_flux2_klein_attends_to_every_reference(loaded):
    """Flux2KleinPipeline takes a list of images: each one given changes the result."""
    gen = loaded("flux2-klein")
    both = pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=[reference(1), reference(2)]).image)
    first = pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=reference(1)).image)
    second = pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=(reference(2),)).image)
    assert not np.array_equal(both, first) and not np.array_equal(both, second)
    again = pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=(reference(1), reference(2))).image)
    assert np.array_equal(both, again)


def test_a_strength_for_flux2_klein_is_refused_not_ignored(loaded, settings, folders, tmp_path):
    from pocketstudio.core.app.studio import GenerationRequest, Studio
    from pocketstudio.core.generator.pipeline import model_family

    with pytest.raises(GenerationError, match=r"FLUX.2 \[klein\] attends to its reference images .* leave --strength out"):
        loaded("flux2-klein").generate(PROMPT, steps=2, seed=2, init_image=reference(1), strength=0.6)
    # the studio refuses it before the model loads when the folder tells the family
    studio = Studio(settings, generator_factory=_no_model)
    studio.model_family = model_family(folders["klein"])
    with pytest.raises(GenerationError, match="no image-to-image strength"):
        studio.generate(GenerationRequest(prompt=PROMPT, requester="alice", references=(reference(1),), strength=0.5),
                        tmp_path / "o.png")
    assert studio.audit.records() == []


def test_image_to_image_families_keep_the_default_strength_and_start_from_the_first_reference(loaded):
    gen = loaded("sdxl-turbo")
    default = pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=reference(1)).image)
    assert np.array_equal(default, pixels(gen.generate(PROMPT, steps=2, seed=2, init_image=reference(1),
                                                       strength=0.6).image))
    assert np.array_equal(default, pixels(gen.generate(PROMPT, steps=2, seed=2,
                                                       init_image=[reference(1), reference(2)]).image))


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


def test_cli_refuses_strength_with_flux2_klein_and_passes_every_reference(folders, tmp_path):
    from pocketstudio.core.app.cli import app

    refs = []
    for i in (1, 2):
        reference(i).save(tmp_path / f"r{i}.png")
        refs += ["--reference", tmp_path / f"r{i}.png"]
    base = ["generate", "a blue square", "--model", folders["klein"], "--seed", "4", "--size", "64", "--steps", "2",
            "--home", tmp_path / "home", *refs]
    bad = CliRunner().invoke(app, [str(a) for a in base + ["-o", tmp_path / "s.png", "--strength", "0.5"]])
    assert bad.exit_code != 0 and not (tmp_path / "s.png").exists()
    assert "leave --strength out" in " ".join(bad.output.split())
    ok = CliRunner().invoke(app, [str(a) for a in base + ["-o", tmp_path / "k.png", "--json"]], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "k.png").is_file()


def test_cli_runs_a_hyper_sd_cfg_lora_for_12_steps_and_refuses_13_before_loading(folders, tmp_path):
    from pocketstudio.core.app.cli import app

    base = ["generate", "a blue square", "--model", folders["sdxl-base"], "--lora", folders["hyper-cfg"],
            "--lora-family", "hyper-sd", "--seed", "4", "--size", "64", "--home", tmp_path / "home"]
    ok = CliRunner().invoke(app, [str(a) for a in base + ["-o", tmp_path / "a.png", "--json"]], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout.strip().splitlines()[-1])
    assert data["steps"] == 12
    bad = CliRunner().invoke(app, [str(a) for a in base + ["-o", tmp_path / "b.png", "--steps", "13"]])
    assert bad.exit_code != 0 and "from 1 to 12 for Hyper-SD CFG LoRA" in " ".join(bad.output.split())
