"""The ``distill`` stage (LCD) on a tiny v0.1 run folder: the student starts as the teacher, trains
in resumable chunks, and a recipe's discriminator neither changes what the student draws before
it starts nor stops an older checkpoint from being continued."""

import dataclasses

import pytest
import torch

from training import distill, recipe as recipes
from training.common import save_state
from training.data import train_tokenizer
from training.dataset import render_scene
from training.teacher import load_tokenizer, loss_weights, make_scheduler, make_text_encoder, make_unet

V01 = recipes.RECIPES["v0.1"]

pytestmark = pytest.mark.slow  # each test trains a tiny model for a few seconds


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
    from training.export import make_lcm_scheduler

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


def test_zero_snr_schedule_ends_in_pure_noise_and_weights_every_timestep():
    eps_sched, v_sched = make_scheduler(), make_scheduler(zero_snr=True)
    assert eps_sched.config.prediction_type == "epsilon" and v_sched.config.prediction_type == "v_prediction"
    assert eps_sched.alphas_cumprod[-1].sqrt() == pytest.approx(0.068, abs=0.001)  # SD's leak
    assert v_sched.alphas_cumprod[-1] == 0 and v_sched.alphas_cumprod[:-1].min() > 0
    w_eps, w_v = loss_weights(eps_sched), loss_weights(v_sched)
    assert torch.isfinite(w_v).all() and w_v[-1] == 1.0  # pure noise: the v error is the x0 error, weight 1
    assert w_v[0] == pytest.approx(5.0 / (v_sched.alphas_cumprod[0] / (1 - v_sched.alphas_cumprod[0]) + 1))
    assert w_eps[-1] == 1.0 and w_eps[0] < 0.01  # min-SNR-5 for ε, as before


def test_split_prediction_recovers_x0_and_noise_for_both_parametrisations():
    torch.manual_seed(0)
    x0, noise = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = torch.tensor([0, 500, 999])
    for sched in (make_scheduler(), make_scheduler(zero_snr=True)):
        ac = sched.alphas_cumprod
        xt = sched.add_noise(x0, noise, t)
        pred = noise if sched.config.prediction_type == "epsilon" else sched.get_velocity(x0, noise, t)
        x0_hat, eps_hat = distill.split_prediction(xt, pred, t, ac, sched.config.prediction_type)
        if sched.config.prediction_type == "epsilon":
            x0_hat, eps_hat, x0_, noise_ = x0_hat[:2], eps_hat[:2], x0[:2], noise[:2]  # ε at t = 999: 15× error
        else:
            x0_, noise_ = x0, noise  # v: exact even where x_t is pure noise
        assert torch.allclose(x0_hat, x0_, atol=1e-4) and torch.allclose(eps_hat, noise_, atol=1e-4)
    with pytest.raises(ValueError, match="prediction type"):
        distill.split_prediction(xt, pred, t, ac, "sample")


def test_a_v_prediction_consistency_output_meets_the_boundary_condition_at_zero_snr():
    ac = make_scheduler(zero_snr=True).alphas_cumprod
    torch.manual_seed(0)
    x, v = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    edges = torch.tensor([259, 499, 759])
    assert torch.allclose(distill.consistency_output(x, v, edges, edges, ac, "v_prediction"), x, atol=1e-5)
    far = torch.full((3,), 999)  # pure noise: LCD's output is the network's x0 = -v, finite
    assert torch.allclose(distill.consistency_output(x, v, far, None, ac, "v_prediction"), -v, atol=1e-3)


def test_a_teacher_turns_zero_snr_at_its_step_and_its_student_distils(run_dir, tmp_path_factory, monkeypatch):
    from training import teacher

    (run_dir / "teacher" / "state.pt").unlink()  # both teachers train from the same fresh start
    plain = tmp_path_factory.mktemp("eps")
    for name in ("tokenizer", "latents.pt"):
        (plain / name).symlink_to(run_dir / name)
    _with_recipe(monkeypatch, plain, zero_snr_lr=1e-4, zero_snr_steps=10)
    teacher.run(plain, None, 2)
    _with_recipe(monkeypatch, run_dir, zero_snr_from=1, zero_snr_lr=1e-4, zero_snr_steps=10, zero_snr_high_t_share=0.5)
    drawn = []
    real_randint = torch.randint
    monkeypatch.setattr(torch, "randint", lambda *a, **k: drawn.append(a) or real_randint(*a, **k))
    teacher.run(run_dir, None, 2)  # step 0 as ε, step 1 the first v step
    monkeypatch.setattr(torch, "randint", real_randint)
    # uniform timesteps at both steps; at the v step half the batch again from the noisiest fifth
    assert [a for a in drawn if a[0] == teacher.HIGH_T] == [(teacher.HIGH_T, 1000, (teacher.BATCH // 2,))]
    a = torch.load(plain / "teacher" / "state.pt", weights_only=False)
    b = torch.load(run_dir / "teacher" / "state.pt", weights_only=False)
    assert a["step"] == b["step"] == 2
    assert any(not torch.equal(a["unet"][k], b["unet"][k]) for k in a["unet"])  # same draws, other target
    logged = [line for line in (run_dir / "log.jsonl").read_text().splitlines() if '"teacher"' in line][-1]
    assert "NaN" not in logged and "Infinity" not in logged
    distill.run(run_dir, None, 2)
    assert all(torch.isfinite(v).all() for v in _student(run_dir).values())


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
