"""Model recipes: what differs between versions of the embedded model, fixed per run folder.

The ``data`` stage writes ``RUN/recipe.json``; every later stage reads it, so a run folder is
trained to one recipe from start to end. A folder without the file is a v0.1 run (the shipped
128 px model, ``runs/default``), so its reproduction is unchanged.

v0.3 is v0.2 whose teacher, from step 12 000 on, trains with offset noise (Guttenberg 2023: each
image's noise gets a random per-channel constant, ``teacher_offset_noise`` × N(0, 1)). The
scaled-linear schedule leaves signal at t = 999 (√ᾱ = 0.068); over a 16×16×16 latent the starting
noise's per-channel mean is then evidence enough that v0.2's teacher read the background colour
from it and not from the caption (with zero-mean starting noise every background came out the same
grey-green). With the offset the noise's mean says nothing, so the caption must. At v0.2's final
learning rate (5e-5) 1 250 offset steps changed nothing visible, so the offset phase restarts the
cosine at 2e-4 over 3 000 steps.

v0.4 is v0.3 with an offset of 0.25. How much the starting noise tells about the colour: at
t = 999 the per-channel mean of x_T carries √ᾱ·(the latent's channel mean) against noise of
variance 1/256 + offset², so the summed SNR over channels of the means is Σ_c ᾱ·Var(mean_c) /
(1/256 + s²). Measured on the training latents: v0.1 (4 channels) 1.77, v0.2 (16 channels) 8.56;
with offset 0.1 2.40 (still above v0.1's, which does follow the caption), 0.2 0.76, 0.25 0.50.

v0.5 (shipped before v0.6) is v0.4 whose student also distils with offset noise (``distill_offset_noise``): v0.4's
teacher paints the caption's background, but its student, distilled on plain noise, went back to
reading the colour from the noise's mean (blue came out purple, black green).

v0.6 (shipped before v0.9) is v0.5 whose teacher trains with the offset noise from step 0, on v0.2's
learning-rate schedule, instead of fine-tuning it in after 12 000 plain steps.

v0.7 and v0.8 are v0.5 and v0.6 whose students, after their 2 500 LCD steps, distil on with a
caption-conditioned latent discriminator's hinge loss added (``distill_adversarial``, from
``distill_adversarial_from``; ``distill.LatentDiscriminator``): the LCD student's few-step images
are the blurred means of what the teacher would draw.

v0.9 (shipped before v0.10) is v0.6 whose student distils in eight phases (``distill_phases``; Wang
et al. 2024, phased consistency models): the DDIM grid is cut at the timesteps the 8-step LCM
sampler visits (879, 759, …, 139) and the student's prediction at t is its DDIM jump to its
phase's lower edge instead of x0, so each phase is a short stretch of the teacher's ODE trajectory
that a small network can follow. It still samples with LCMScheduler (x0, fresh noise), which
measured better than jumping deterministically from edge to edge (4 phases: 0.531 against 0.397).
Its model folder also carries the teacher's UNet, which subject learning fits against
(``Generator.subject_unet``).

v0.11 (the shipped model) is v0.10 with the same teacher and the same first 5 000 distillation
steps, then 3 000 more in which the student's learning rate falls along a cosine to zero
(``distill_decay_from``, ``distill_decay_steps``) and half of each batch sits at the timesteps its
4-step sampler visits, with the default guidance (``distill_decay_focus``). Those timesteps are
999, 879, 759, 379 (``sampler_timesteps``, written into ``pocketstudio.json``), not
LCMScheduler's own 999, 759, 499, 259. On held-out captions that are neither the bench's nor the
training's, five of six other schedules scored 0.02-0.04 higher than LCMScheduler's own (the
sixth, which also visits 499 and 259, the same). The 8-step sampler, which visits every phase
down to t = 139, scored lower than 4 steps, so the student's low-noise phases cost more than they
add (``training/README.md``).

v0.10 (shipped before v0.11) is v0.9 whose teacher (v0.6's, trained on to 15 000 steps at the schedule's floor) then
fine-tunes for 4 000 steps with its betas rescaled to zero terminal SNR and v-prediction (Lin et
al. 2023, "Common diffusion noise schedules and sample steps are flawed"). With SD's scaled-linear
betas x_999 still holds √ᾱ = 0.068 of the latent; over the few latent pixels a shape covers that
is enough to tell where it is (the same leak that offset noise closed for the background's mean,
v0.3), so every earlier teacher read the object's place from the starting noise and ignored the
caption's "on the left" / "at the top": one seed drew the shape at one place whatever the caption
said, and the bench's position score sat at chance. At zero terminal SNR x_999 is pure noise and
the place must come from the text. ε-prediction is undefined there (x_T = ε says nothing about
x0), hence v. Half of each fine-tuning batch draws t from the noisiest fifth (t >= 800): the
layout is decided there, and 1 300 uniform-t steps had left the x0 the teacher predicts from pure
noise as noise-driven as before (its variance across starting noises 0.08, across the five
position phrases 0.00002). The student distils the new teacher in eight phases as v0.9's, and the exported
LCMScheduler carries ``rescale_betas_zero_snr`` and ``prediction_type="v_prediction"``. Its
student samples best at guidance 3 (``default_guidance``). Position, at chance before, scores 0.77
at 4 steps (``training/README.md``).

v0.2 is native 256² at the same UNet cost as v0.1, on scenes with a second recurring character
(``dataset``'s domain 2): the VAE downsamples 16× into 16 channels
(a 16×16×16 latent: the same 48× compression as v0.1's 16×16×4 at 128²) and trains on 128 px
crops (whole 256² images cost 13× more per step on this CPU: measured 10.5 s vs 0.76 s, batch 16;
the VAE is fully convolutional, so crops teach it everything but the image's edges), with random
crops of the scikit-image photos mixed in so that image-to-image works on real pictures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "recipe.json"


@dataclass(frozen=True)
class Recipe:
    name: str
    image_size: int                # native image side (px)
    vae_blocks: tuple[int, ...]    # VAE block channels; the VAE downsamples 2^(len - 1)×
    latent_channels: int
    vae_crop: int | None           # VAE training crop side (px); None: whole images
    vae_photo_share: float         # share of VAE training crops taken from photos
    vae_sample_steps: int          # VAE steps that decode posterior samples before the mean (v0.1's history)
    teacher_nominal_steps: int     # the teacher's cosine learning-rate horizon
    domain: int                    # dataset.render_scene's domain (2 adds Dot, a second character)
    teacher_offset_noise: float = 0.0  # per-image, per-channel constant added to the teacher's noise ...
    teacher_offset_from: int = 0       # ... from this teacher step on (v0.3 fine-tunes v0.2's teacher),
    teacher_offset_lr: float = 0.0     # with a new warm-up and cosine to this peak learning rate
    teacher_offset_steps: int = 0      # over this many steps
    distill_offset_noise: float = 0.0  # the same per-channel constant in the student's distillation noise
    distill_adversarial: float = 0.0   # weight of a latent discriminator's loss in distillation ...
    distill_adversarial_from: int = 0  # ... from this distillation step on (0 with weight 0: none)
    distill_phases: int = 1            # consistency phases (1: LCD's single phase, the student maps to x0)
    zero_snr_from: int | None = None   # from this teacher step on: zero-terminal-SNR betas and v-prediction ...
    zero_snr_lr: float = 0.0           # ... with a new warm-up and cosine to this peak learning rate
    zero_snr_steps: int = 0            # over this many steps; the student and the sampler then use both too
    zero_snr_high_t_share: float = 0.0  # share of each zero-SNR teacher batch drawn from t >= 800, where the layout is decided
    default_guidance: float = 4.0      # the exported model's guidance scale when a request names none
    distill_decay_from: int | None = None  # from this distillation step on, the learning rate falls ...
    distill_decay_steps: int = 0           # ... along a cosine to zero over this many steps
    distill_decay_focus: float = 0.0       # share of each batch during the decay at the 4-step sampler's timesteps and default guidance
    sampler_timesteps: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (steps, timesteps) the exported sampler visits instead of LCMScheduler's own

    @property
    def zero_snr(self) -> bool:
        """The finished teacher (and so the student and the exported scheduler) is zero-terminal-SNR, v-prediction."""
        return self.zero_snr_from is not None

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.vae_blocks) - 1)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.downsample


RECIPES = {
    "v0.1": Recipe("v0.1", 128, (16, 32, 64, 64), 4, None, 0.0, 687, 3500, 1),
    "v0.2": Recipe("v0.2", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2),
    # v0.2 until teacher step 12 000, then offset noise: v0.2's teacher (and so its student) took
    # the background colour from the starting noise's mean, not from the caption
    "v0.3": Recipe("v0.3", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.1, 12000, 2e-4, 3000),
    # v0.3 with the offset that makes the starting noise's mean less telling than v0.1's was
    "v0.4": Recipe("v0.4", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 12000, 2e-4, 3000),
    # v0.4's teacher; its student distils with the same offset noise, so that it too cannot read
    # the background from the starting noise's mean (v0.4's student, on plain noise, learned to again)
    "v0.5": Recipe("v0.5", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 12000, 2e-4, 3000, 0.25),
    # v0.5 whose teacher has the offset noise from its first step, on v0.2's learning-rate schedule:
    # fine-tuned in late, v0.5's teacher reaches only about half of a background's latent offset
    "v0.6": Recipe("v0.6", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 0, 5e-4, 12000, 0.25),
    # v0.5's student, distilled on from step 2 500 with a latent discriminator's loss added
    "v0.7": Recipe("v0.7", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 12000, 2e-4, 3000, 0.25, 0.5, 2500),
    # v0.6's student, distilled on from step 2 500 with the same discriminator
    "v0.8": Recipe("v0.8", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 0, 5e-4, 12000, 0.25, 0.5, 2500),
    # v0.6's teacher; the student distils in eight phases, each mapped to its lower edge
    "v0.9": Recipe("v0.9", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 0, 5e-4, 12000, 0.25, 0.0, 0, 8),
    # v0.9 whose teacher, trained on as v0.6's to 15 000 steps, then fine-tunes with zero terminal
    # SNR and v-prediction: until then the object's place was read from the starting noise
    "v0.10": Recipe("v0.10", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 0, 5e-4, 12000, 0.25, 0.0, 0, 8,
                    zero_snr_from=15000, zero_snr_lr=3e-4, zero_snr_steps=4000, zero_snr_high_t_share=0.5,
                    default_guidance=3.0),
    # v0.10 whose student, after its 5 000 distillation steps at a constant learning rate, anneals
    # it to zero over 3 000 more: v0.10's checkpoints swung by ±0.03 overall from one to the next
    "v0.11": Recipe("v0.11", 256, (16, 32, 64, 64, 128), 16, 128, 0.25, 0, 12000, 2, 0.25, 0, 5e-4, 12000, 0.25, 0.0, 0, 8,
                    zero_snr_from=15000, zero_snr_lr=3e-4, zero_snr_steps=4000, zero_snr_high_t_share=0.5,
                    default_guidance=3.0, distill_decay_from=5000, distill_decay_steps=3000, distill_decay_focus=0.5,
                    sampler_timesteps=((4, (999, 879, 759, 379)),)),
}
DEFAULT = "v0.1"


def load(run_dir: Path) -> Recipe:
    """The run folder's recipe (v0.1 when the folder predates recipes)."""
    path = run_dir / FILE
    if not path.exists():
        return RECIPES[DEFAULT]
    name = json.loads(path.read_text())["name"]
    if name not in RECIPES:
        raise SystemExit(f"{path}: unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name]


def of_model(model_dir: Path) -> Recipe:
    """The recipe an exported model folder was trained with (its ``pocketstudio.json``; v0.1 if unrecorded)."""
    path = Path(model_dir) / "pocketstudio.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    name = info.get("training", {}).get("recipe", DEFAULT)
    if name not in RECIPES:
        raise ValueError(f"{path}: unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name]


def choose(run_dir: Path, name: str | None) -> Recipe:
    """Fix the folder's recipe at its first stage; a later different choice is an error."""
    path = run_dir / FILE
    if path.exists() or name is None:
        recipe = load(run_dir)
        if name is not None and name != recipe.name:
            raise SystemExit(f"{run_dir} was started with recipe {recipe.name}, not {name}: use another --run-dir")
        return recipe
    if name not in RECIPES:
        raise SystemExit(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    recipe = RECIPES[name]
    path.write_text(json.dumps(asdict(recipe), indent=1))
    return recipe
