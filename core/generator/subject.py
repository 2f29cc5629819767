"""Subjects: textual inversion of a new token in the model's CLIP text encoder.

A subject is ``k`` new input-embedding vectors (one "token" of ``k`` sub-vectors, the
multi-vector textual inversion of Gal et al. 2022, arXiv 2208.01618) learned from a few
reference images while every weight of the model stays frozen. Nothing in the loaded model is
changed, neither to learn nor to generate: the vectors enter through a forward hook on the text
encoder's token-embedding layer that overwrites the outputs at the subject's positions, so one
loaded model serves any number of subjects (and prompts without one are encoded exactly as the
pipeline encodes them).

Prompt syntax: the subject is named in the prompt by its name (whole word, any case), and every
mention is replaced by the subject's vectors: ``"rusty on the left, on a green background"``.
A prompt that does not name the subject gets it prepended: ``"on a green background"`` is read
as ``"<rusty> on a green background"``.

Learning (:func:`learn_subject`): the references are augmented so that the vectors learn what
the subject is, not where or on what it was photographed: a reference whose background is plain
(its border one colour) is cut out and composited, flipped and rescaled, onto the procedural
domain's backgrounds at the domain's places, sometimes with a companion shape, under a caption in
the domain's grammar (``"{S} on the left and a blue square on the right, on a yellow
background"``); other references get random crops and flips under the caption ``"{S}"``. The
views are encoded once with the model's VAE; then only the vectors are optimised (Adam), through
the frozen text encoder and UNet. The loss is the one the few-step sampler makes matter: at each
of the timesteps the 4-step sampler visits (``Generator.timesteps_for``: the model's declared ones,
999, 879, 759, 379 for the embedded v0.11, else LCM's own 999, 759, 499, 259), the guided student's x0
prediction (its consistency output) against the view, in latent space (the DDPM-style ε loss on
the student's 50-step grid is kept as ``objective="epsilon"``; see ``LearnSettings``). Seeds are fixed: the same references and settings give the same vectors
on the same machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..base.errors import GenerationError, InvalidImageError, SubjectError

if TYPE_CHECKING:
    import torch

EMBEDDING_FORMAT = "pocketstudio-subject/1"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
MIN_REFERENCE_SIDE = 32
MAX_REFERENCES = 8


# -- prompt syntax ---------------------------------------------------------------------------------
def mention_re(name: str) -> re.Pattern:
    """Where a prompt names the subject: the name as a whole word, any case."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)


def split_prompt(prompt: str, name: str) -> tuple[list[str], bool]:
    """The prompt's text around the subject's mentions (one slot between consecutive pieces), and
    whether the prompt named it; a prompt that does not gets the subject prepended."""
    pieces = mention_re(name).split(prompt)
    if len(pieces) == 1:
        return ["", " " + prompt], False
    return pieces, True


def subject_token_ids(tokenizer, pieces: Sequence[str], k: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Token ids of ``pieces`` joined by ``k``-vector subject slots, laid out as the pipeline's
    tokenizer call lays out a prompt (BOS, tokens, EOS, padding to ``model_max_length``), and the
    slot index (0..k-1) at each slot position, -1 elsewhere. Slot positions hold the BOS id as a
    placeholder: their embeddings are replaced before the transformer sees them."""
    import torch

    ids: list[int] = [tokenizer.bos_token_id]
    slots: list[int] = [-1]
    for i, piece in enumerate(pieces):
        if i:
            ids += [tokenizer.bos_token_id] * k
            slots += list(range(k))
        if piece.strip():
            toks = tokenizer(piece.strip(), add_special_tokens=False).input_ids
            ids += toks
            slots += [-1] * len(toks)
    limit = int(tokenizer.model_max_length)
    if len(ids) + 1 > limit:
        if max((i for i, s in enumerate(slots) if s >= 0), default=0) + 1 >= limit:
            raise GenerationError(f"the prompt is too long: the subject would fall beyond the model's {limit} tokens")
        ids, slots = ids[: limit - 1], slots[: limit - 1]
    ids.append(tokenizer.eos_token_id)
    slots.append(-1)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids += [pad] * (limit - len(ids))
    slots += [-1] * (limit - len(slots))
    return torch.tensor([ids]), torch.tensor([slots])


@contextlib.contextmanager
def injected(text_encoder, slots: "torch.Tensor", vectors: "torch.Tensor"):
    """Within the block, the text encoder's token embeddings at ``slots >= 0`` are ``vectors[slot]``
    (differentiable with respect to ``vectors``); the model itself is not modified."""
    layer = text_encoder.get_input_embeddings()
    where = slots >= 0

    def hook(_module, _inputs, output):
        if output.shape[:2] != slots.shape:
            raise GenerationError("subject slots do not match the encoded batch")
        output = output.clone()
        output[where] = vectors[slots[where]].to(output.dtype)
        return output

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def encode(text_encoder, ids: "torch.Tensor", slots: "torch.Tensor", vectors: "torch.Tensor") -> "torch.Tensor":
    """Prompt embeddings (the text encoder's last hidden state, as the pipeline uses it)."""
    with injected(text_encoder, slots, vectors):
        return text_encoder(ids.to(text_encoder.device))[0]


# -- the embedding file ------------------------------------------------------------------------------
def embedding_bytes(token: str, vectors, metadata: dict[str, str]) -> bytes:
    """The subject as a safetensors file: ``{token: (k, dim) float32}`` (the layout diffusers'
    ``load_textual_inversion`` reads) with our metadata in the header."""
    import torch
    from safetensors.torch import save

    meta = {"format": EMBEDDING_FORMAT, **{k: str(v) for k, v in metadata.items()}}
    return save({token: vectors.detach().to(torch.float32).contiguous().cpu()}, metadata=meta)


def read_embedding(data: bytes, token: str, expected_sha256: str | None = None):
    """The (k, dim) vectors of ``token`` from a subject file's bytes; a file whose sha256 differs
    from the recorded one, or that does not hold exactly that token, is a SubjectError."""
    from safetensors.torch import load

    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise SubjectError(f"the subject's embedding file has sha256 {digest[:16]}…, not the recorded "
                           f"{expected_sha256[:16]}…: it was changed or damaged")
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise SubjectError(f"the subject's embedding file does not read: {type(exc).__name__}: {exc}") from exc
    if list(tensors) != [token] or tensors[token].ndim != 2:
        raise SubjectError(f"the subject's embedding file does not hold one (k, dim) tensor named {token}")
    return tensors[token].float()


@dataclass(frozen=True)
class SubjectEmbedding:
    """A learned subject ready for generation: its opaque id, prompt name, vectors and identity."""

    subject_id: str
    name: str
    vectors: object  # torch.Tensor (k, dim)
    sha256: str  # of the embedding file: what the manifest's model identity names
    model_sha256: str  # the checkpoint it was learned on (and only works with)

    @property
    def token(self) -> str:
        return f"<{self.subject_id}>"


# -- reference images ------------------------------------------------------------------------------
def check_reference(image: Image.Image, label: str) -> Image.Image:
    """An RGB copy of a usable reference image, else InvalidImageError."""
    if image.width < MIN_REFERENCE_SIDE or image.height < MIN_REFERENCE_SIDE:
        raise InvalidImageError(f"{label}: {image.width}x{image.height} is too small for a subject reference "
                                f"(at least {MIN_REFERENCE_SIDE} px a side)")
    try:
        return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InvalidImageError(f"{label}: cannot be read as RGB ({exc})") from exc


def reference_sha256(image: Image.Image) -> str:
    """sha256 of a reference's pixels (``"WxH\n"`` then the RGB bytes): what a subject records
    about the images it was learned from, which are not kept."""
    rgb = image.convert("RGB")
    return hashlib.sha256(f"{rgb.width}x{rgb.height}\n".encode() + rgb.tobytes()).hexdigest()


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


PLAIN_BORDER_DELTA_E = 12.0  # border pixels within this of their median: a plain background
FG_DELTA_E = 20.0


@dataclass
class Cutout:
    """A reference's subject on a transparent background (when its own background is plain)."""

    rgba: Image.Image  # the subject's bounding box, alpha = its mask
    centre: tuple[float, float]  # where it was, as fractions of the side
    scale: float  # its bounding box's larger side, as a fraction of the image side
    colours: frozenset[str] = frozenset()  # palette colours covering ≥ 3 % of it (no background in these)


def cut_out(image: Image.Image, side: int) -> Cutout | None:
    """The subject cut from a plain background (the border's colour), or None when the border is
    not one colour or the foreground is not one plausible subject (3–70 % of the image)."""
    import cv2

    im = image.resize((side, side), Image.Resampling.LANCZOS)
    rgb = np.asarray(im)
    lab = _lab(rgb)
    w = max(2, side // 40)
    border = np.concatenate([lab[:w].reshape(-1, 3), lab[-w:].reshape(-1, 3), lab[:, :w].reshape(-1, 3),
                             lab[:, -w:].reshape(-1, 3)])
    bg = np.median(border, 0)
    if np.quantile(np.linalg.norm(border - bg, axis=1), 0.9) > PLAIN_BORDER_DELTA_E:
        return None
    fg = (np.linalg.norm(lab - bg, axis=-1) > FG_DELTA_E).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n < 2:
        return None
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    # one pixel in from the edge: the anti-aliased rim is half background colour, which the
    # subject would otherwise carry into every scene
    mask = cv2.erode((labels == keep).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    frac = mask.mean()
    if not 0.03 <= frac <= 0.7:
        return None
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    alpha = Image.fromarray((mask * 255).astype(np.uint8)).crop((x0, y0, x1, y1))
    rgba = im.crop((x0, y0, x1, y1)).convert("RGBA")
    rgba.putalpha(alpha)
    return Cutout(rgba, ((x0 + x1) / 2 / side, (y0 + y1) / 2 / side), max(x1 - x0, y1 - y0) / side,
                  _palette_colours(lab[mask]))


def _palette_colours(lab_pixels: np.ndarray, share: float = 0.03, delta_e: float = 20.0) -> frozenset[str]:
    """The domain's palette colours that at least ``share`` of the pixels are within ``delta_e`` of."""
    from .scene import PALETTE

    names = list(PALETTE)
    refs = _lab(np.array([[PALETTE[n] for n in names]], dtype=np.uint8))[0]
    near = np.linalg.norm(lab_pixels[:, None, :] - refs[None], axis=-1) <= delta_e
    return frozenset(n for n, frac in zip(names, near.mean(0)) if frac >= share)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# Places and their caption phrases, as the domain's captions say them (dataset.POSITION_PHRASE;
# a subject in the centre gets no phrase, like Pip).
PLACES = {"left": (0.25, " on the left"), "right": (0.75, " on the right"), "center": (0.5, "")}


def augment(references: Sequence[Image.Image], count: int, side: int, seed: int
            ) -> tuple[list[Image.Image], list[str], list[np.ndarray]]:
    """``count`` training views of the references and their captions, ``{S}`` marking the subject.

    Plain-background references: the cut-out subject (flipped half of the time, scaled 0.9–1.1)
    on one of the domain's backgrounds (solid, gradient, stripes, dots in its palette colours),
    at the left, right or centre, captioned like the domain: ``"{S} on the left, on a blue
    background"``. Others: a random crop (75–100 % of the side, flipped half of the time),
    captioned ``"{S}"``. The third list holds each view's subject mask (side × side, float 0..1;
    all ones where the subject could not be separated from its background)."""
    from .scene import PALETTE, SHAPES, draw_background, draw_shape

    rng = np.random.default_rng([seed, 7])
    cuts = [cut_out(r, side) for r in references]
    views, captions, masks = [], [], []
    for i in range(count):
        j = i % len(references)
        ref, cut = references[j], cuts[j]
        flip = rng.random() < 0.5
        if cut is None:
            s = int(round(side * rng.uniform(0.75, 1.0)))
            big = ref.resize((side, side), Image.Resampling.LANCZOS)
            x, y = rng.integers(0, side - s + 1, size=2)
            view = big.crop((int(x), int(y), int(x) + s, int(y) + s)).resize((side, side), Image.Resampling.LANCZOS)
            if flip:
                view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            views.append(view)
            captions.append("{S}")
            masks.append(np.ones((side, side), np.float32))
            continue
        for _ in range(20):  # a background that does not hide part of the subject
            canvas = Image.new("RGB", (2 * side, 2 * side))
            bg_colours, bg_phrase = draw_background(ImageDraw.Draw(canvas), 2 * side, rng)
            if not bg_colours & cut.colours:
                break
        place = list(PLACES)[int(rng.integers(len(PLACES)))]
        px, phrase = PLACES[place]
        if place != "center" and rng.random() < 0.5:
            # a companion on the other side, as the domain's scenes have them
            other = "right" if place == "left" else "left"
            colour = [c for c in PALETTE if c not in bg_colours | cut.colours][int(rng.integers(9 - len(bg_colours | cut.colours)))]
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            draw_shape(ImageDraw.Draw(canvas), shape, PLACES[other][0] * 2 * side, side, 2 * side * rng.uniform(0.15, 0.2),
                       colour, rng.uniform(-0.3, 0.3))
            phrase += f" and {_article(colour)} {colour} {shape}{PLACES[other][1]}"
        canvas = canvas.resize((side, side), Image.Resampling.LANCZOS)
        sprite = cut.rgba.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else cut.rgba
        f = rng.uniform(0.9, 1.1)
        sprite = sprite.resize((max(1, round(sprite.width * f)), max(1, round(sprite.height * f))), Image.Resampling.LANCZOS)
        cx = px * side + rng.uniform(-0.03, 0.03) * side
        cy = cut.centre[1] * side + rng.uniform(-0.03, 0.03) * side
        at = (int(round(cx - sprite.width / 2)), int(round(cy - sprite.height / 2)))
        canvas.paste(sprite, at, sprite)
        mask = Image.new("L", (side, side))
        mask.paste(sprite.getchannel("A"), at)
        views.append(canvas)
        captions.append("{S}" + phrase + ", " + bg_phrase)
        masks.append(np.asarray(mask, np.float32) / 255.0)
    return views, captions, masks


# -- learning --------------------------------------------------------------------------------------
OBJECTIVES = ("sampler", "epsilon")


@dataclass(frozen=True)
class LearnSettings:
    """How a subject is learned. The defaults take about a minute on a 2-core CPU.

    ``objective``: ``"sampler"`` (default) fits what the few-step sampler uses: the model's x0
    prediction at the sampler's own ``sampler_steps`` timesteps, mean squared error in latent
    space. The model is the guided student (its consistency output, c_skip ≈ 0 there), or the
    teacher when the model folder ships one (``Generator.subject_unet``). ``"epsilon"`` is the
    textual-inversion loss of a DDPM model: the student's ε at timesteps of its 50-step grid,
    min-SNR-5 weighted: it fitted that loss as well as the subject's description in words does,
    but sampled the subject worse in
    ``bench/fidelity.py --subject-objectives sampler,epsilon`` (README).
    """

    steps: int = 300
    vectors: int = 8  # sub-vectors of the subject's token
    batch: int = 8
    lr: float = 2e-3
    views: int = 96  # augmented training views, encoded once
    seed: int = 0
    objective: str = "sampler"
    sampler_steps: int = 4
    guidance: float | None = None  # guidance embedded while learning (default: the model's default)
    init_text: str | None = None  # words whose embeddings start the vectors (default: random vocabulary rows)

    def check(self) -> None:
        for name, lo, hi in (("steps", 1, 20000), ("vectors", 1, 16), ("batch", 1, 64), ("views", 1, 4096),
                             ("sampler_steps", 1, 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise SubjectError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr <= 1:
            raise SubjectError(f"lr must be in (0, 1], got {self.lr!r}")
        if self.objective not in OBJECTIVES:
            raise SubjectError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")


@dataclass(frozen=True)
class Learned:
    vectors: object  # torch.Tensor (k, dim), float32
    settings: LearnSettings
    losses: tuple[float, ...] = field(repr=False)
    seconds: float
    view_captions: tuple[str, ...] = field(repr=False, default=())

    @property
    def final_loss(self) -> float:
        tail = self.losses[-50:]
        return float(sum(tail) / max(len(tail), 1))


def _initial_vectors(table, tokenizer, settings: LearnSettings, gen):
    import torch

    k = settings.vectors
    if settings.init_text:
        ids = tokenizer(settings.init_text, add_special_tokens=False).input_ids
        if not ids:
            raise SubjectError(f"init text {settings.init_text!r} has no tokens")
        return table[torch.tensor([ids[i * len(ids) // k] for i in range(k)])].clone()
    # k distinct vocabulary rows: identical starts would get identical gradients and stay one
    # vector repeated k times
    return table[torch.randperm(table.shape[0], generator=gen)[:k]].clone()


def learn_subject(generator, references: Sequence[Image.Image], settings: LearnSettings = LearnSettings(),
                  progress: Callable[[int, int, float], None] | None = None, threads: int | None = 1) -> Learned:
    """Learn a subject's vectors from reference images with the generator's frozen model.

    ``threads``: torch's CPU threads while learning (restored after; None leaves them). One by
    default: on a 2-core machine shared with other work, 2 threads ran 10× slower than 1 here
    (OpenMP threads spinning against the other load)."""
    import torch

    settings.check()
    if not references:
        raise SubjectError("a subject needs at least one reference image")
    start = time.perf_counter()
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _learn(generator, references, settings, progress, start)
    finally:
        torch.set_num_threads(saved_threads)


def _learn(generator, references, settings: LearnSettings, progress, start: float) -> Learned:
    import torch

    with generator.locked_pipe() as pipe:
        tokenizer, text_encoder, vae, sched = pipe.tokenizer, pipe.text_encoder, pipe.vae, pipe.scheduler
        unet = generator.subject_unet(pipe)
        device, dtype = unet.device, unet.dtype
        gen = torch.Generator().manual_seed(settings.seed)
        # 1. Views and their captions, encoded once (VAE posterior mean, scaled like the pipeline's latents).
        views, captions, _ = augment(references, settings.views, generator.native_size, settings.seed)
        with torch.no_grad():
            x = torch.from_numpy(np.stack([np.asarray(v) for v in views])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            latents = torch.cat([vae.encode(x[i:i + 32].to(device, vae.dtype)).latent_dist.mean
                                 for i in range(0, len(x), 32)]).float() * float(vae.config.scaling_factor)
        encoded = [subject_token_ids(tokenizer, c.split("{S}"), settings.vectors) for c in captions]
        ids = torch.cat([e[0] for e in encoded]).to(device)
        slots = torch.cat([e[1] for e in encoded]).to(device)
        # 2. The vectors: the only parameters.
        table = text_encoder.get_input_embeddings().weight.detach().float().cpu()
        vectors = _initial_vectors(table, tokenizer, settings, gen).to(device).requires_grad_(True)
        opt = torch.optim.Adam([vectors], lr=settings.lr)
        # 3. Timesteps and loss weights. ε-MSE × (1 − ᾱ)/ᾱ is the x0 MSE; for a v-prediction model
        # (zero terminal SNR, where ᾱ reaches 0) the x0 error is σ times the v error.
        ac = sched.alphas_cumprod.to(torch.float32)
        alpha, sigma = ac.sqrt(), (1 - ac).sqrt()
        v_pred = sched.config.get("prediction_type") == "v_prediction"
        if settings.objective == "sampler":
            timesteps = torch.tensor(generator.timesteps_for(settings.sampler_steps), dtype=torch.long)
            weight = (1 - ac) if v_pred else (1 - ac) / ac
        else:
            n = int(sched.config.num_train_timesteps)
            timesteps = torch.arange(1, 51) * (n // 50) - 1
            weight = loss_weights(sched).to(torch.float32)  # min-SNR-5, as the teacher trained
        cond_dim = unet.config.time_cond_proj_dim
        extra = {}
        if cond_dim:
            w = torch.tensor([(settings.guidance or generator.default_guidance) - 1.0])
            w_emb = pipe.get_guidance_scale_embedding(w, embedding_dim=cond_dim).to(device, dtype)
            extra = {"timestep_cond": w_emb.expand(settings.batch, -1)}
        losses: list[float] = []
        for step in range(settings.steps):
            # cosine decay to a tenth
            for g in opt.param_groups:
                g["lr"] = settings.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / settings.steps)))
            idx = torch.randint(0, len(latents), (settings.batch,), generator=gen)
            t = timesteps[torch.randint(0, len(timesteps), (settings.batch,), generator=gen)]
            x0 = latents[idx]
            noise = torch.randn(x0.shape, generator=gen).to(device)
            xt = alpha[t].view(-1, 1, 1, 1).to(device) * x0 + sigma[t].view(-1, 1, 1, 1).to(device) * noise
            cond = encode(text_encoder, ids[idx], slots[idx], vectors)
            out = unet(xt.to(dtype), t.to(device), encoder_hidden_states=cond.to(dtype), **extra).sample.float()
            target = sched.get_velocity(x0, noise, t.to(device)) if v_pred else noise
            loss = ((out - target) ** 2).mean(dim=(1, 2, 3)).mul(weight[t].to(device)).mean()
            (grad,) = torch.autograd.grad(loss, [vectors])  # the model's weights get no gradient
            vectors.grad = grad
            opt.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step + 1, settings.steps, losses[-1])
    return Learned(vectors.detach().float().cpu(), settings, tuple(losses), time.perf_counter() - start, tuple(captions))


MIN_SNR_GAMMA = 5.0


def loss_weights(sched):
    """Per-timestep weights of the MSE on the scheduler's prediction: min-SNR-γ (Hang et al. 2023).

    ε: min(SNR, γ)/SNR. v: min(SNR + 1, γ)/(SNR + 1), which is min-SNR's ε weighting where the
    SNR is high and weight 1 on the v error (≈ the x0 error) where it is low; the paper's v form,
    min(SNR, γ)/(SNR + 1), would give the pure-noise end, where the layout is decided, no weight.
    Subject learning's ε objective weighs its loss as the teacher trained (``training/teacher.py``)."""
    import torch

    ac = sched.alphas_cumprod
    snr = ac / (1 - ac)
    if sched.config.prediction_type == "v_prediction":
        return torch.clamp(snr + 1, max=MIN_SNR_GAMMA) / (snr + 1)
    return torch.clamp(snr, max=MIN_SNR_GAMMA) / snr
