"""Tiny random LCM checkpoints for fast tests (the way diffusers' own pipeline tests do it).

``build_tiny_random_model(path)`` builds every component from a config (no hub, no download),
assembles a ``LatentConsistencyModelPipeline`` and ``save_pretrained``s it, so that tests
exercise the real ``from_pretrained`` path through :func:`load_generator`. Native size 64 px,
VAE factor 8, a few thousand parameters; build + load takes well under a second on a CPU.

The same for the other layouts real checkpoints come in: ``build_tiny_random_sdxl_model``
(two text encoders, the SDXL UNet's text-time conditioning; LCM-distilled or a base), an SD 1.5
style base (``build_tiny_random_model(..., lcm=False)``, no guidance embedding, DDIM scheduler),
``build_tiny_lora`` (a random-initialised peft LoRA on a base's UNet, saved with diffusers'
``save_lora_weights`` as one ``.safetensors`` file, its family in the metadata when asked), and
the other few-step families: SD-/SDXL-Turbo (``turbo=True``: a base UNet under Euler with
trailing timesteps), ``build_tiny_sana_sprint_model`` (SANA transformer, DC-AE, Gemma 2 encoder)
and ``build_tiny_flux2_klein_model`` (FLUX.2 transformer and VAE, Qwen3 encoder), sized as
diffusers' own pipeline tests size them. Their tokenizers are trained here with the
``tokenizers`` library (a byte-level BPE for Qwen with Qwen3's chat template, a metaspace BPE
with byte fallback for Gemma); nothing is fetched.
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


def _scheduler(lcm: bool, turbo: bool = False):
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler

    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    if turbo:  # as stabilityai/sd-turbo and sdxl-turbo ship it
        return EulerDiscreteScheduler(timestep_spacing="trailing", steps_offset=1, **common)
    if lcm:
        return LCMScheduler(original_inference_steps=50, clip_sample=False, **common)
    return DDIMScheduler(set_alpha_to_one=False, steps_offset=1, clip_sample=False, **common)


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
                            lcm: bool = True, turbo: bool = False) -> Path:
    """Write a tiny, randomly initialised SD 1.5-layout pipeline folder at ``path`` and return it.

    ``lcm`` True: an LCM (``LatentConsistencyModelPipeline``, guidance-embedded UNet,
    ``LCMScheduler``); False: a base (``StableDiffusionPipeline``, plain UNet, DDIM) that needs
    a few-step LoRA; ``turbo`` (with ``lcm`` False): an SD-Turbo layout, the base UNet under
    ``EulerDiscreteScheduler`` with trailing timesteps. ``name`` goes into ``pocketstudio.json``;
    ``None`` writes no such file (the folder name is then the model name).
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
    pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=_scheduler(lcm, turbo),
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    info = None if name is None else {"name": name, "version": "0", **({"default_guidance": 4.0} if lcm else {})}
    return _save(pipe, path, ("tokenizer",), info)


def build_tiny_random_sdxl_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-random-sdxl",
                                 lcm: bool = True, turbo: bool = False) -> Path:
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
                                     scheduler=_scheduler(lcm, turbo), add_watermarker=False)
    info = None if name is None else {"name": name, "version": "0", **({"default_guidance": 4.0} if lcm else {})}
    return _save(pipe, path, ("tokenizer", "tokenizer_2"), info)


def build_tiny_lora(base_dir: str | Path, out_file: str | Path, seed: int = 0, rank: int = 4,
                    family: str | None = None) -> Path:
    """A LoRA for the UNet of the tiny pipeline at ``base_dir``, written to ``out_file``.

    peft's ``LoraConfig`` on the attention projections with ``init_lora_weights=False`` (both
    factors random, so the LoRA visibly changes the output), exported with
    ``StableDiffusion[XL]Pipeline.save_lora_weights`` in diffusers' LoRA layout. ``family``
    (lcm, tcd, hyper-sd) is written into the file's safetensors metadata, where the loader reads it.
    """
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from pocketstudio.core.generator.pipeline import quiet_libraries

    base_dir, out_file = Path(base_dir), Path(out_file)
    pipeline_class = json.loads((base_dir / "model_index.json").read_text())["_class_name"]
    with quiet_libraries():
        unet = UNet2DConditionModel.from_pretrained(base_dir / "unet", local_files_only=True)
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    saver = StableDiffusionXLPipeline if "XL" in pipeline_class else StableDiffusionPipeline
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        saver.save_lora_weights(out_file.parent, unet_lora_layers=layers, weight_name=out_file.name,
                                safe_serialization=True)
    if family is not None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        from pocketstudio.core.generator.families import LORA_FAMILY_METADATA_KEY

        with safe_open(str(out_file), "pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        save_file(tensors, str(out_file), metadata={**meta, LORA_FAMILY_METADATA_KEY: family})
    return out_file


# Text the tiny BPE tokenizers learn their merges from: the tests' prompts and a few more.
TOKENIZER_CORPUS = (
    "a red circle on the left, on a blue background", "a blue square", "a green triangle on the right",
    "a cat holding a sign that says hello world", "a small cactus with a happy face in the Sahara desert",
    "a yellow star above a white house at night", "a photo of a robot with a red hat",
)
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{%- endif %}"
    "{%- endif %}"
)


def _train_bpe(pre_tokenizer, alphabet, specials, vocab_size: int = 400):
    """(vocab, merges) of a BPE trained on ``TOKENIZER_CORPUS`` with the ``tokenizers`` library."""
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=list(alphabet), special_tokens=list(specials),
                                  show_progress=False)
    tok.train_from_iterator(list(TOKENIZER_CORPUS) * 4, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def tiny_qwen_tokenizer():
    """A Qwen2-style byte-level BPE with Qwen's chat markers and Qwen3's chat template (thinking off)."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    markers = ["<|im_start|>", "<|im_end|>"]
    vocab, merges = _train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False), pre_tokenizers.ByteLevel.alphabet(),
                               ["<|endoftext|>", *markers])
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, model_max_length=512)
    tok.add_special_tokens({"additional_special_tokens": markers})
    tok.chat_template = QWEN3_CHAT_TEMPLATE
    return tok


def tiny_gemma_tokenizer():
    """A Gemma-style BPE: metaspace words, byte fallback (``<0xNN>``), Gemma's special tokens."""
    from tokenizers import pre_tokenizers
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *(f"<0x{i:02X}>" for i in range(256))]
    vocab, merges = _train_bpe(pre_tokenizers.Metaspace(), (), specials)
    return GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=8192)


def build_tiny_sana_sprint_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-sana-sprint") -> Path:
    """A tiny random ``SanaSprintPipeline`` folder (SCMScheduler, guidance-embedded SANA
    transformer, DC-AE with a ×2 factor, one-layer Gemma 2): native size 32 × 2 = 64 px."""
    import torch
    from diffusers import AutoencoderDC, SanaSprintPipeline, SanaTransformer2DModel, SCMScheduler
    from transformers import Gemma2Config, Gemma2Model

    from pocketstudio.core.generator.pipeline import quiet_libraries

    path = Path(path)
    torch.manual_seed(seed)
    transformer = SanaTransformer2DModel(
        patch_size=1, in_channels=4, out_channels=4, num_layers=1, num_attention_heads=2, attention_head_dim=4,
        num_cross_attention_heads=2, cross_attention_head_dim=4, cross_attention_dim=8, caption_channels=8,
        sample_size=32, qk_norm="rms_norm_across_heads", guidance_embeds=True)
    torch.manual_seed(seed)
    vae = AutoencoderDC(
        in_channels=3, latent_channels=4, attention_head_dim=2, encoder_block_types=("ResBlock", "EfficientViTBlock"),
        decoder_block_types=("ResBlock", "EfficientViTBlock"), encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8), encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
        encoder_layers_per_block=(1, 1), decoder_layers_per_block=[1, 1], downsample_block_type="conv",
        upsample_block_type="interpolate", decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407)
    tokenizer = tiny_gemma_tokenizer()
    torch.manual_seed(seed)
    text_encoder = Gemma2Model(Gemma2Config(
        head_dim=16, hidden_size=8, intermediate_size=64, max_position_embeddings=8192, num_attention_heads=2,
        num_hidden_layers=1, num_key_value_heads=2, vocab_size=len(tokenizer), attn_implementation="eager"))
    pipe = SanaSprintPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                              scheduler=SCMScheduler())
    with quiet_libraries():
        pipe.save_pretrained(path, safe_serialization=True)
    if name is not None:
        (path / "pocketstudio.json").write_text(json.dumps({"name": name, "version": "0"}, indent=2) + "\n")
    return path


def build_tiny_flux2_klein_model(path: str | Path, seed: int = 0, *, name: str | None = "tiny-flux2-klein",
                                 distilled: bool = True) -> Path:
    """A tiny random ``Flux2KleinPipeline`` folder: one double and one single FLUX.2 block, a
    two-level FLUX.2 VAE (×2), and a 28-layer, 16-wide Qwen3 so that the pipeline's default
    hidden-state layers (9, 18, 27) exist. ``distilled`` sets ``is_distilled`` (the few-step
    klein); the pipeline's native 1024 px is declared down to 64 px in ``pocketstudio.json``."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from pocketstudio.core.generator.pipeline import quiet_libraries

    path = Path(path)
    hidden, layers = 16, (9, 18, 27)
    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=hidden * len(layers), timestep_guidance_channels=256, axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False)
    tokenizer = tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        intermediate_size=16, hidden_size=hidden, num_hidden_layers=max(layers) + 1, num_attention_heads=2,
        num_key_value_heads=2, head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=512))
    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(
        sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(4, 8), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False)
    pipe = Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                              tokenizer=tokenizer, transformer=transformer, is_distilled=distilled)
    with quiet_libraries():
        pipe.save_pretrained(path, safe_serialization=True)
    if name is not None:
        info = {"name": name, "version": "0", "native_size": 64}
        (path / "pocketstudio.json").write_text(json.dumps(info, indent=2) + "\n")
    return path
