"""The ``distill`` stage (LCD) on a tiny v0.1 run folder: the student starts as the teacher, trains
in resumable chunks, and a recipe's discriminator neither changes what the student draws before
it starts nor stops an older checkpoint from being continued."""

import dataclasses

import pytest
import torch

from pocketstudio.core.training import distill, recipe as recipes
from pocketstudio.core.training.common import save_state
from pocketstudio.core.training.data import train_tokenizer
from pocketstudio.core.training.dataset import render_scene
from pocketstudio.core.training.teacher import load_tokenizer, make_scheduler, make_text_encoder, make_unet

V01 = recipes.RECIPES["v0.1"]


@pytest.fixture()
def run_dir(tmp_path):
    """A v0.1 folder (no recipe.json) with a tokenizer, 8 latents and a random 'trained' teacher."""
    captions = [render_scene(1, i).caption for i in range(8)]
    train_tokenizer(captions, tmp_path / "tokenizer", vocab_size=300)
    tok = load_tokenizer(tmp_path)
    torch.manual_seed(0)
    save_state(tmp_path / "latents.pt", {"latents": torch.randn(8, 4, 16, 16).half(), "captions": captions, "scaling_factor": 1.0})
    unet = make_unet(V01)
    text = make_text_encoder(len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    save_state(tmp_path / "teacher" / "state.pt", {"ema_unet": unet.state_dict(), "ema_text": text.state_dict()})
    return tmp_path


def _with_recipe(monkeypatch, run_dir, **changes):
    """The folder trains to v0.1 with ``changes`` (a test recipe, registered for this test only)."""
    recipe = dataclasses.replace(V01, name="test", **changes)
    monkeypatch.setitem(recipes.RECIPES, "test", recipe)
    (run_dir / recipes.FILE).unlink(missing_ok=True)
    recipes.choose(run_dir, "test")


def _student(run_dir):
    return torch.load(run_dir / "distill" / "state.pt", weights_only=False)["student"]


def test_lcd_trains_a_student_with_a_guidance_embedding_and_resumes(run_dir):
    distill.run(run_dir, None, 1)
    unet, state = distill.load_trained(run_dir)
    assert state["step"] == 1 and unet.config.time_cond_proj_dim == distill.W_EMBED_DIM
    teacher = torch.load(run_dir / "teacher" / "state.pt", weights_only=False)["ema_unet"]
    moved = [k for k, v in state["student"].items() if k in teacher and not torch.equal(v, teacher[k])]
    assert moved  # one optimiser step moved the teacher's copy
    distill.run(run_dir, None, 2)
    assert distill.load_trained(run_dir)[1]["step"] == 2
    assert "disc" not in distill.load_trained(run_dir)[1]  # v0.1 has no discriminator


def test_a_discriminator_that_has_not_started_changes_nothing(run_dir, tmp_path_factory, monkeypatch):
    distill.run(run_dir, None, 2)
    other = tmp_path_factory.mktemp("with_disc")
    for name in ("tokenizer", "latents.pt", "teacher"):
        (other / name).symlink_to(run_dir / name)
    _with_recipe(monkeypatch, other, distill_adversarial=0.5, distill_adversarial_from=10)
    distill.run(other, None, 2)
    a, b = _student(run_dir), _student(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "disc" in torch.load(other / "distill" / "state.pt", weights_only=False)


def test_the_discriminator_joins_an_older_run_and_trains_the_student(run_dir, monkeypatch):
    distill.run(run_dir, None, 1)  # a checkpoint without a discriminator
    monkeypatch.setattr(distill, "DISC_WARMUP", 1)
    _with_recipe(monkeypatch, run_dir, distill_adversarial=0.5, distill_adversarial_from=1)
    distill.run(run_dir, None, 3)
    state = torch.load(run_dir / "distill" / "state.pt", weights_only=False)
    assert state["step"] == 3 and "disc" in state and state["disc_opt"]["state"]
    logged = (run_dir / "log.jsonl").read_text().splitlines()[-1]
    assert '"disc_loss"' in logged and '"adv_weight"' in logged


def test_the_discriminator_is_seeded_apart_from_the_global_rng():
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = distill.make_discriminator(4, 32)
    assert torch.equal(torch.get_rng_state(), before)
    b = distill.make_discriminator(4, 32)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    x, text = torch.randn(2, 4, 16, 16), torch.randn(2, 7, 32)
    assert a(x, text).shape == (2,)


def test_phase_edges_are_the_timesteps_the_lcm_sampler_visits():
    from pocketstudio.core.training.export import make_lcm_scheduler

    for phases in (2, 3, 4, 8):
        sched = make_lcm_scheduler()
        sched.set_timesteps(phases)
        assert distill.phase_edges(phases).tolist() == [0, *sorted(sched.timesteps.tolist())[:-1]]


def test_the_consistency_output_meets_its_boundary_condition():
    alphas_cumprod = make_scheduler().alphas_cumprod
    torch.manual_seed(0)
    x, eps = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    edges = torch.tensor([259, 499, 759])
    # a phase's lower edge maps to itself, whatever the network says there
    assert torch.allclose(distill.consistency_output(x, eps, edges, edges, alphas_cumprod), x, atol=1e-5)
    # above the edge, the output moves with the network's ε
    t = edges + 20
    assert not torch.allclose(distill.consistency_output(x, eps, t, edges, alphas_cumprod),
                              distill.consistency_output(x, -eps, t, edges, alphas_cumprod))
    # LCD's one phase: x at t = 0 (c_skip = 1), the network's x0 far from it (c_skip ≈ 0)
    zero = torch.zeros(3, dtype=torch.long)
    assert torch.allclose(distill.consistency_output(x, eps, zero, None, alphas_cumprod), x, atol=1e-5)
    far = torch.full((3,), 999)
    a = alphas_cumprod[999]
    assert torch.allclose(distill.consistency_output(x, eps, far, None, alphas_cumprod),
                          (x - (1 - a).sqrt() * eps) / a.sqrt(), atol=1e-4)


def test_a_phased_student_learns_other_targets_than_lcd(run_dir, tmp_path_factory, monkeypatch):
    distill.run(run_dir, None, 2)
    other = tmp_path_factory.mktemp("phased")
    for name in ("tokenizer", "latents.pt", "teacher"):
        (other / name).symlink_to(run_dir / name)
    _with_recipe(monkeypatch, other, distill_phases=4)
    distill.run(other, None, 2)
    a, b = _student(run_dir), _student(other)
    # same draws of latents, timesteps and noise; the targets above t = 259 differ
    assert any(not torch.equal(a[k], b[k]) for k in a)
    _with_recipe(monkeypatch, other, distill_phases=4, distill_adversarial=0.5)
    with pytest.raises(SystemExit, match="phased"):
        distill.run(other, None, 3)
