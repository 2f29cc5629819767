"""The ``light-decoder`` training stage: pairs each training latent with its scene (or mirror),
trains resumably in chunks, and ``export`` ships the result where ``load_generator`` finds it."""

import json

import numpy as np
import pytest
import torch

from pocketstudio.core.generator.light_decoder import LightDecoder
from training import light_decoder as stage
from training.common import save_state
from training.dataset import render_scene


@pytest.fixture()
def run_dir(tmp_path):
    # a v0.1 run folder (no recipe.json): 128 px scenes, 16x16x4 latents; latents = scenes + mirrors
    images = np.stack([np.asarray(render_scene(1, i).image) for i in range(3)])
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "images.npy", images)
    torch.manual_seed(0)
    save_state(tmp_path / "latents.pt", {"latents": torch.randn(6, 4, 16, 16).half(), "captions": [""] * 6, "scaling_factor": 1.0})
    return tmp_path


def test_a_latent_is_paired_with_its_scene_or_its_mirror(run_dir):
    images = np.load(run_dir / "data" / "images.npy")
    latents = torch.arange(6).float().view(6, 1, 1, 1).expand(6, 4, 16, 16)
    z, x = stage._batch(images, latents, np.array([1, 4]))
    assert z[:, 0, 0, 0].tolist() == [1.0, 4.0]
    pix = x.add(1).mul(127.5).round().permute(0, 2, 3, 1).numpy()
    assert np.array_equal(pix[0], images[1])
    assert np.array_equal(pix[1], images[1][:, ::-1])  # latent 3 + 1 encodes scene 1 mirrored


def test_the_stage_trains_in_chunks_and_resumes(run_dir):
    stage.run(run_dir, None, 2)
    first = torch.load(run_dir / "light_decoder" / "state.pt", weights_only=False)
    assert first["step"] == 2
    stage.run(run_dir, None, 3)  # a second invocation continues from step 2
    assert torch.load(run_dir / "light_decoder" / "state.pt", weights_only=False)["step"] == 3
    logged = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if r["stage"] == "light_decoder"] == [2, 3]
    model = stage.load_trained(run_dir)
    assert isinstance(model, LightDecoder)
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 4, 16, 16)).shape) == (1, 3, 128, 128)  # v0.1: 8x up, 4 channels


def test_without_latents_or_with_a_mismatch_the_stage_refuses(run_dir, tmp_path_factory):
    assert stage.load_trained(run_dir) is None
    with pytest.raises(SystemExit, match="no latents"):
        stage.run(tmp_path_factory.mktemp("empty"), None, 1)
    save_state(run_dir / "latents.pt", {"latents": torch.zeros(4, 4, 16, 16).half(), "captions": [""] * 4, "scaling_factor": 1.0})
    with pytest.raises(SystemExit, match="4 latents for 3 scenes"):
        stage.run(run_dir, None, 1)
