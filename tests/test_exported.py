"""The embedded model from exported graphs (issue 22): the same pixels as the diffusers pipeline,
without importing diffusers or transformers, and rebuilt rather than run when damaged."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pocketstudio.core.generator.exported import export_folder, load_embedded, load_exported
from pocketstudio.core.generator.hashing import model_sha256
from pocketstudio.core.generator.pipeline import DEFAULT_MODEL_DIR, load_generator

pytestmark = pytest.mark.slow  # the embedded model, traced once (~5 s)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    full = load_embedded(cache)  # diffusers, and the export written for the next load
    fast = load_embedded(cache)
    assert type(fast).__name__ == "ExportedGenerator"
    return {"cache": cache, "full": full, "fast": fast}


@pytest.mark.parametrize("steps", [4, 2])
def test_exported_graph_draws_the_pipelines_pixels(exported, steps):
    prompts = ["a red circle on a blue background", "two green squares and a yellow star " * 4]
    for seed, prompt in enumerate(prompts):
        a = exported["full"].generate(prompt, seed=seed, steps=steps)
        b = exported["fast"].generate(prompt, seed=seed, steps=steps)
        diff = np.abs(np.asarray(a.image, dtype=int) - np.asarray(b.image, dtype=int))
        assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())
        assert (a.model_sha256, a.steps, a.seed, a.prompt_tokens, a.prompt_tokens_kept) == \
               (b.model_sha256, b.steps, b.seed, b.prompt_tokens, b.prompt_tokens_kept)


def test_exported_tokenizer_matches_the_pipelines():
    from tokenizers import Tokenizer

    pipe_tok = load_generator(None)._pipe.tokenizer
    tok = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer" / "tokenizer.json"))
    tok.enable_truncation(pipe_tok.model_max_length)
    tok.enable_padding(length=pipe_tok.model_max_length, pad_id=pipe_tok.pad_token_id)
    for prompt in ["a red circle", "A RED, circle!!  on   blue", "ünïcödé café 東京 " * 5, "x" * 300]:
        expected = pipe_tok(prompt, padding="max_length", max_length=pipe_tok.model_max_length,
                            truncation=True).input_ids
        assert tok.encode(prompt).ids == expected


def test_attack_damaged_export_is_not_run(exported):
    folder = export_folder(exported["cache"], model_sha256(DEFAULT_MODEL_DIR))
    unet = folder / "unet.pt"
    original = unet.read_bytes()
    try:
        unet.write_bytes(original[:-10] + b"\0" * 10)
        assert load_exported(folder, model_sha256(DEFAULT_MODEL_DIR), lambda: None) is None
    finally:
        unet.write_bytes(original)


def test_generation_from_the_export_imports_no_diffusers(exported):
    script = ("import sys, json\nfrom pathlib import Path\n"
              "from pocketstudio.core.generator.exported import load_embedded\n"
              f"g = load_embedded(Path({str(exported['cache'])!r}))\n"
              "g.generate('a red circle', seed=1)\n"
              "print(json.dumps([m for m in ('diffusers', 'transformers') if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
