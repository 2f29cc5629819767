"""Stage ``data``: render the training scenes once and train the caption tokenizer.

Writes ``RUN/data/images.npy`` (uint8, N×S×S×3, S the recipe's native size), ``RUN/data/captions.json`` and
``RUN/tokenizer/`` (vocab.json + merges.txt, loadable by transformers' ``CLIPTokenizer``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import recipe
from .common import DATA_SEED, NUM_TRAIN_IMAGES, log
from .dataset import render_array

SPECIAL_TOKENS = ["<|startoftext|>", "<|endoftext|>"]
MAX_LENGTH = 40  # the longest caption is about 32 tokens; shorter sequences train faster


def train_tokenizer(captions: list[str], out_dir: Path, vocab_size: int = 1024):
    """Byte-level BPE, CLIP-style (lower-case, CLIP split regex, ``</w>`` word suffix)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import CLIPTokenizer

    tok = Tokenizer(BPE(continuing_subword_prefix="", end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(captions, trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    # CLIP's vocabulary holds every byte symbol both bare and as a word end, so any text
    # tokenises without <unk>: add whatever the trainer did not need for the captions.
    for ch in sorted(alphabet):
        for sym in (ch, ch + "</w>"):
            if sym not in vocab:
                vocab[sym] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    write_vocab_merges(tokenizer, out_dir)
    return tokenizer


def write_vocab_merges(tokenizer, out_dir: Path) -> None:
    """Also write the classic ``vocab.json`` + ``merges.txt`` pair (the files CLIP ships)."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    vocab = dict(sorted(model["vocab"].items(), key=lambda kv: kv[1]))
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    lines = ["#version: 0.2"] + [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (out_dir / "merges.txt").write_text("\n".join(lines) + "\n")


def run(run_dir: Path, count: int = NUM_TRAIN_IMAGES) -> None:
    data_dir = run_dir / "data"
    if (data_dir / "captions.json").exists() and (run_dir / "tokenizer" / "vocab.json").exists():
        log(run_dir, "data", note="already done")
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    r = recipe.load(run_dir)
    images, captions = render_array(DATA_SEED, 0, count, r.image_size, r.domain)
    np.save(data_dir / "images.npy", images)
    (data_dir / "captions.json").write_text(json.dumps(captions))
    tokenizer = train_tokenizer(captions, run_dir / "tokenizer")
    ids = tokenizer(captions[0]).input_ids
    log(run_dir, "data", images=count, vocab=len(tokenizer), example=captions[0], example_tokens=len(ids))
