"""Tiny random LCM checkpoints for fast tests (the way diffusers' own pipeline tests do it).

``build_tiny_random_model(path)`` builds every component from a config (no hub, no download),
assembles a ``LatentConsistencyModelPipeline`` and ``save_pretrained``s it, so that tests
exercise the real ``from_pretrained`` path through :func:`load_generator`. Native size 64 px,
VAE factor 8, a few thousand parameters; build + load takes well under a second on a CPU.

The same for the other layouts real checkpoints come in: ``build_tiny_random_sdxl_model``
(two text encoders, the SDXL UNet's text-time conditioning; LCM-distilled or a base), an SD 1.5
style base (``build_tiny_random_model(..., lcm=False)``, no guidance embedding, DDIM scheduler),
and ``build_tiny_lora`` (a random-initialised peft LoRA on a base's UNet, saved with
diffusers' ``save_lora_weights`` as one ``.safetensors`` file).
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


def _tiny_vae(seed: int):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
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


def _tiny_text_config(tokenizer, hidden: int = 16):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=hidden,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _scheduler(lcm: bool):
    from diffusers import DDIMScheduler, LCMScheduler

    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False)
    if lcm:
        return LCMScheduler(original_inference_steps=50, **common)
    return DDIMScheduler(set_alpha_to_one=False, steps_offset=1, **common)


def _save(pipe, path: Path, tokenizer_dirs: tuple[str, ...], info: dict | None) -> Path:
    from pocketstudio.core.generator.pipeline import quiet_libraries

    with quiet_libraries():
        pipe.save_pretrained(path, safe_serialization=True)
    for sub in tokenizer_dirs:
        tiny_clip_tokenizer(path / sub)
    if info is not None:
        (path / "pocketstudio.json").write_text(json.dumps(info, indent=2) + "\n")
    return path


def build_tiny_random_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-random-lcm",
                            lcm: bool = True) -> Path:
    """Write a tiny, randomly initialised SD 1.5-layout pipeline folder at ``path`` and return it.

    ``lcm`` True: an LCM (``LatentConsistencyModelPipeline``, guidance-embedded UNet,
    ``LCMScheduler``); False: a base (``StableDiffusionPipeline``, plain UNet, DDIM) that needs
    an LCM-LoRA. ``name`` goes into ``pocketstudio.json``; ``None`` writes no such file (the
    folder name is then the model name).
    """
    import torch
    from diffusers import LatentConsistencyModelPipeline, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

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
        time_cond_proj_dim=8 if lcm else None,
    )
    vae = _tiny_vae(seed)
    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_text_config(tokenizer))
    cls = LatentConsistencyModelPipeline if lcm else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=_scheduler(lcm),
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    info = None if name is None else {"name": name, "version": "0", **({"default_guidance": 4.0} if lcm else {})}
    return _save(pipe, path, ("tokenizer",), info)


def build_tiny_random_sdxl_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-random-sdxl",
                                 lcm: bool = True) -> Path:
    """A tiny random ``StableDiffusionXLPipeline`` folder: two CLIP text encoders (the second
    with projection, whose pooled output and the six size/crop numbers feed the UNet's
    ``text_time`` embedding), ``LCMScheduler`` + guidance-embedded UNet when ``lcm``, else a
    base with DDIM. Native size 64 px like the SD 1.5 one."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    path = Path(path)
    hidden, time_dim = 16, 4
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2 * hidden,  # both encoders' hidden states, concatenated
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + hidden,
        transformer_layers_per_block=(1, 1),
        norm_num_groups=4,
        time_cond_proj_dim=8 if lcm else None,
    )
    vae = _tiny_vae(seed)
    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(seed + 1)
    text_encoder = CLIPTextModel(_tiny_text_config(tokenizer, hidden))
    torch.manual_seed(seed + 2)
    text_encoder_2 = CLIPTextModelWithProjection(_tiny_text_config(tokenizer, hidden))
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tiny_clip_tokenizer(), unet=unet,
                                     scheduler=_scheduler(lcm), add_watermarker=False)
    info = None if name is None else {"name": name, "version": "0", **({"default_guidance": 4.0} if lcm else {})}
    return _save(pipe, path, ("tokenizer", "tokenizer_2"), info)


def build_tiny_lora(base_dir: str | Path, out_file: str | Path, seed: int = 0, rank: int = 4) -> Path:
    """A LoRA for the UNet of the tiny pipeline at ``base_dir``, written to ``out_file``.

    peft's ``LoraConfig`` on the attention projections with ``init_lora_weights=False`` (both
    factors random, so the LoRA visibly changes the output), exported with
    ``StableDiffusion[XL]Pipeline.save_lora_weights`` in diffusers' LoRA layout.
    """
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from pocketstudio.core.generator.pipeline import quiet_libraries

    base_dir, out_file = Path(base_dir), Path(out_file)
    family = json.loads((base_dir / "model_index.json").read_text())["_class_name"]
    with quiet_libraries():
        unet = UNet2DConditionModel.from_pretrained(base_dir / "unet", local_files_only=True)
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    saver = StableDiffusionXLPipeline if "XL" in family else StableDiffusionPipeline
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        saver.save_lora_weights(out_file.parent, unet_lora_layers=layers, weight_name=out_file.name,
                                safe_serialization=True)
    return out_file
