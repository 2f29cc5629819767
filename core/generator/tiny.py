"""Tiny random LCM checkpoints for fast tests (the way diffusers' own pipeline tests do it).

``build_tiny_random_model(path)`` builds every component from a config (no hub, no download),
assembles a ``LatentConsistencyModelPipeline`` and ``save_pretrained``s it, so that tests
exercise the real ``from_pretrained`` path through :func:`load_generator`. Native size 64 px,
VAE factor 8, a few thousand parameters; build + load takes well under a second on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def tiny_clip_tokenizer(save_dir: Path | None = None):
    """A CLIP tokenizer over the 256 byte symbols (bare and word-final) and no merges."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        for sym in (ch, ch + "</w>"):
            vocab[sym] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        (save_dir / "merges.txt").write_text("#version: 0.2\n")
    return tok


def build_tiny_random_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-random-lcm") -> Path:
    """Write a tiny, randomly initialised LCM pipeline folder at ``path`` and return it.

    ``name`` goes into ``pocketstudio.json``; ``None`` writes no such file (the folder name is
    then the model name).
    """
    import torch
    from diffusers import AutoencoderKL, LatentConsistencyModelPipeline, LCMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .pipeline import quiet_libraries

    path = Path(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
        time_cond_proj_dim=8,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[4, 4, 8, 8],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
        mid_block_add_attention=False,
    )
    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            projection_dim=16,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = LCMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", original_inference_steps=50, clip_sample=False
    )
    pipe = LatentConsistencyModelPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    with quiet_libraries():
        pipe.save_pretrained(path, safe_serialization=True)
    tiny_clip_tokenizer(path / "tokenizer")
    if name is not None:
        (path / "pocketstudio.json").write_text(json.dumps({"name": name, "version": "0", "default_guidance": 4.0}, indent=2) + "\n")
    return path
