"""Thread choice for generation (issue 22): 1 thread for a small model, one per core for a large
one, the setting over both, applied to the generation that runs."""

from __future__ import annotations

import torch

from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.generator.threads import SMALL_MODEL_PARAMETERS, choose_threads


def test_small_model_runs_on_one_thread_large_on_every_core():
    assert choose_threads(None, 10_000_000, cores=8) == 1
    assert choose_threads(None, SMALL_MODEL_PARAMETERS * 9, cores=8) == 8
    assert choose_threads(3, 10_000_000, cores=8) == 3  # the setting wins


def test_studio_applies_the_thread_setting_to_its_generation(settings, tiny_generator):
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        studio = Studio(settings, generator=tiny_generator)
        studio.generate(GenerationRequest("a red circle", "alice", size=128, seed=1))
        assert studio.threads == 1 and torch.get_num_threads() == 1  # the tiny model is small
        forced = Studio(settings.with_(threads=2), generator=tiny_generator)
        forced.generate(GenerationRequest("a red circle", "alice", size=128, seed=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
