"""Training recipes: a run folder keeps the model version it started with; v0.2's networks fit
together at 256 px (16x16x16 latents) with the UNet size of v0.1."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from training import recipe as recipes
from training.teacher import learning_rate, make_unet
from training.vae import TrainingCrops, make_vae


def test_a_run_folder_keeps_its_recipe(tmp_path):
    assert recipes.load(tmp_path).name == "v0.1"  # a folder from before recipes: the shipped model's
    assert recipes.choose(tmp_path, "v0.2").image_size == 256
    assert json.loads((tmp_path / recipes.FILE).read_text())["name"] == "v0.2"
    assert recipes.choose(tmp_path, None).name == "v0.2"
    with pytest.raises(SystemExit, match="started with recipe v0.2"):
        recipes.choose(tmp_path, "v0.1")
    with pytest.raises(SystemExit, match="unknown recipe"):
        recipes.choose(tmp_path / "other", "v9")


@torch.no_grad()
def test_v02_networks_fit_together_at_256px():
    v2 = recipes.RECIPES["v0.2"]
    vae = make_vae(v2).eval()
    z = vae.encode(torch.zeros(1, 3, 256, 256)).latent_dist.mean
    assert tuple(z.shape) == (1, 16, 16, 16) and v2.latent_size == 16
    assert tuple(vae.decode(z).sample.shape) == (1, 3, 256, 256)
    unet = make_unet(v2).eval()
    out = unet(z, 10, encoder_hidden_states=torch.zeros(1, 8, 256)).sample
    assert out.shape == z.shape
    # the point of the recipe: the same UNet as v0.1 but for its input and output convolutions
    v1_params = sum(p.numel() for p in make_unet(recipes.RECIPES["v0.1"]).parameters())
    assert abs(sum(p.numel() for p in unet.parameters()) - v1_params) < 0.01 * v1_params


def test_v02_vae_trains_on_crops_of_scenes_and_photos():
    v2 = recipes.RECIPES["v0.2"]
    scenes = np.zeros((4, 256, 256, 3), np.uint8)  # black scenes: anything bright came from a photo
    np.random.seed(0)
    crops = TrainingCrops(v2, scenes)
    batch = crops.batch(64)
    assert batch.shape == (64, 128, 128, 3)
    from_photos = int((batch.reshape(64, -1).max(axis=1) > 0).sum())
    assert 5 <= from_photos <= 30  # about a quarter
    whole = TrainingCrops(recipes.RECIPES["v0.1"], np.zeros((4, 128, 128, 3), np.uint8)).batch(3)
    assert whole.shape == (3, 128, 128, 3)


@pytest.mark.parametrize("name", ["v0.3", "v0.4", "v0.5"])
def test_offset_recipes_are_v02_until_the_teachers_offset_noise_starts(name):
    # so a v0.3, v0.4 or v0.5 run folder may start from a copy of a v0.2 one at teacher step 12 000
    v3 = recipes.RECIPES[name]
    assert v3.teacher_offset_noise > 0 and v3.teacher_offset_from == recipes.RECIPES["v0.2"].teacher_nominal_steps
    v2 = recipes.RECIPES["v0.2"]
    assert dataclasses.replace(v3, name="v0.2", teacher_offset_noise=0.0, teacher_offset_from=0,
                               teacher_offset_lr=0.0, teacher_offset_steps=0, distill_offset_noise=0.0) == v2
    for step in (0, 150, 5000, 11999):
        assert learning_rate(v3, step) == learning_rate(v2, step)
    assert learning_rate(v2, 12000) == learning_rate(v2, 14000) == pytest.approx(5e-5)  # v0.2's floor
    assert learning_rate(v3, 12000) < learning_rate(v3, 12000 + 199) == pytest.approx(v3.teacher_offset_lr, rel=0.01)


def test_v05_is_v04_with_the_offset_in_the_students_noise_too():
    # so a v0.5 run folder may start from a copy of a v0.4 one at the end of its teacher
    v4, v5 = recipes.RECIPES["v0.4"], recipes.RECIPES["v0.5"]
    assert v5.distill_offset_noise == v4.teacher_offset_noise > 0 == v4.distill_offset_noise
    assert dataclasses.replace(v5, name="v0.4", distill_offset_noise=0.0) == v4


def test_v06_is_v05_with_the_offset_from_the_teachers_first_step_on_v02s_schedule():
    v2, v5, v6 = recipes.RECIPES["v0.2"], recipes.RECIPES["v0.5"], recipes.RECIPES["v0.6"]
    assert dataclasses.replace(v6, name="v0.5", teacher_offset_from=v5.teacher_offset_from,
                               teacher_offset_lr=v5.teacher_offset_lr, teacher_offset_steps=v5.teacher_offset_steps) == v5
    assert v6.teacher_offset_from == 0
    for step in (0, 150, 5000, 11999, 12000, 14000):
        assert learning_rate(v6, step) == pytest.approx(learning_rate(v2, step))


@pytest.mark.parametrize("name, base", [("v0.7", "v0.5"), ("v0.8", "v0.6")])
def test_adversarial_recipes_continue_their_base_after_its_lcd_steps(name, base):
    # so their run folder may start from a copy of the base's at the end of its 2 500 LCD steps
    # (the discriminator is seeded apart: tests/test_training_distill.py)
    r, b = recipes.RECIPES[name], recipes.RECIPES[base]
    assert r.distill_adversarial > 0 == b.distill_adversarial and r.distill_adversarial_from == 2500
    assert dataclasses.replace(r, name=base, distill_adversarial=0.0, distill_adversarial_from=0) == b


def test_v09_is_v06_with_an_eight_phase_student():
    # so its run folder may start from a copy of v0.6's before the distill stage
    v6, v9 = recipes.RECIPES["v0.6"], recipes.RECIPES["v0.9"]
    assert v6.distill_phases == 1 and v9.distill_phases == 8
    assert dataclasses.replace(v9, name="v0.6", distill_phases=1) == v6


def test_an_exported_model_names_its_recipe(tmp_path):
    assert recipes.of_model(tmp_path).name == "v0.1"  # nothing recorded: the shipped v0.1
    (tmp_path / "pocketstudio.json").write_text(json.dumps({"training": {"recipe": "v0.3"}}))
    assert recipes.of_model(tmp_path).domain == 2
    (tmp_path / "pocketstudio.json").write_text(json.dumps({"training": {"recipe": "v7"}}))
    with pytest.raises(ValueError, match="unknown recipe 'v7'"):
        recipes.of_model(tmp_path)


def test_v010_is_v09_whose_teacher_turns_zero_snr_after_15000_steps():
    # so its run folder may start from a copy of the 15 000-step v0.6 teacher (runs/v06b)
    v9, v10 = recipes.RECIPES["v0.9"], recipes.RECIPES["v0.10"]
    assert not v9.zero_snr and v10.zero_snr and v10.zero_snr_from == 15000
    assert dataclasses.replace(v10, name="v0.9", zero_snr_from=None, zero_snr_lr=0.0, zero_snr_steps=0,
                               zero_snr_high_t_share=0.0, default_guidance=4.0) == v9
    assert v10.default_guidance == 3.0  # its student's best (README)
    for step in (0, 5000, 12000, 14999):
        assert learning_rate(v10, step) == learning_rate(v9, step)
    # a fresh warm-up to its own peak, then the cosine down to a tenth of it
    assert learning_rate(v10, 15000) < learning_rate(v10, 15199) == pytest.approx(v10.zero_snr_lr, rel=0.01)
    assert learning_rate(v10, 15000 + v10.zero_snr_steps) == pytest.approx(0.1 * v10.zero_snr_lr)


def test_v011_is_v010_whose_student_anneals_its_learning_rate_after_5000_steps():
    from training import distill

    v10, v11 = recipes.RECIPES["v0.10"], recipes.RECIPES["v0.11"]
    assert dataclasses.replace(v11, name="v0.10", distill_decay_from=None, distill_decay_steps=0,
                               distill_decay_focus=0.0, sampler_timesteps=()) == v10
    # so its run folder may start from a copy of v0.10's 5 000-step distillation checkpoint
    for step in (0, 2500, 4999, 5000):
        assert distill.learning_rate(v11, step) == distill.learning_rate(v10, step) == distill.LR
    rates = [distill.learning_rate(v11, s) for s in range(5000, 8001, 250)]
    assert all(a > b for a, b in zip(rates, rates[1:]))  # strictly falling ...
    assert distill.learning_rate(v11, 6500) == pytest.approx(distill.LR / 2)
    assert rates[-1] == distill.learning_rate(v11, 9000) == 0.0  # ... to zero, and it stays there
    # the focused share of each annealing batch sits on the exported sampler's own timesteps
    ddim_t = torch.arange(1, 51) * 20 - 1
    focus = distill._focus_indices(v11, ddim_t)
    assert ddim_t[focus].tolist() == list(dict(v11.sampler_timesteps)[4]) == [999, 879, 759, 379]
    assert distill._focus_indices(v10, ddim_t) is None
