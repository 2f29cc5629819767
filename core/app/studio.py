"""The release flow: prompt → checks → LCD generation → watermark → C2PA → audit → release.

Fail-closed: every step either succeeds or the request ends with no bytes handed back and no
file written. A policy deny is a value (``PolicyDenied`` carries the audited ``Decision``); a
failed step raises ``ReleaseBlocked`` after recording the failure in the audit log.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from PIL import Image

from pocketstudio.policy.audit import (FAILED_AFTER_DECISION, NOT_PUBLISHED, AuditLog, AuditRecord, NotWitnessed,
                                       PendingEntry)
from pocketstudio.policy.engine import Decision, DepictedPerson, PolicyEngine, new_decision_id
from pocketstudio.provenance.compliance import missing_settings, pixels_sha256
from pocketstudio.provenance.fingerprint import ALG as FINGERPRINT_ALG
from pocketstudio.provenance.fingerprint import Fingerprint
from pocketstudio.provenance import iscc
from pocketstudio.provenance.keys import ClaimSigner, KeyStore
from pocketstudio.provenance.manifest import ManifestFacts, build_manifest
from pocketstudio.provenance.resolution import ManifestRepository, StoredManifest
from pocketstudio.provenance.sign import MIME_TYPES, TIME_STAMP_PENDING, sign_image
from pocketstudio.provenance.timestamping import PendingArchives, parent_archive
from pocketstudio.provenance.watermark import Watermarker, WatermarkPayload, make_watermarker, new_asset_id
from pocketstudio.provenance.xmp import embed_xmp, label_key, producer_label
from pocketstudio.safety.likeness import Finding, LikenessChecker
from ..base.config import Settings
from ..base.errors import (ComplianceError, GenerationError, PolicyDenied, ReleaseBlocked, SubjectError,
                     SubjectExists, WatermarkError)
from ..base.files import check_output_path, output_format, publish
from ..generator.subject import MAX_REFERENCES, LearnSettings, check_reference, reference_sha256
from ..generator.upscale import fit_to_size
from ..base.store import Store, stage_file
from ..generator.subjects import SubjectRecord, check_name, new_subject_id

MAX_OUTPUT_SIDE = 4096
MIN_OUTPUT_SIDE = 64
SIZE_NAMES = {"4k": (3840, 2160), "uhd": (3840, 2160)}
_SIZE_RE = re.compile(r"(\d{1,6})(?:\s*x\s*(\d{1,6}))?", re.ASCII)  # N or WxH, ASCII digits only


def parse_size(text: str | int | None) -> int | tuple[int, int] | None:
    """A size as the command line takes it: ``N`` (N×N), ``WxH``, or ``4k`` (3840×2160)."""
    if text is None or isinstance(text, int) and not isinstance(text, bool):
        return text
    raw = str(text).strip().lower()
    if raw in SIZE_NAMES:
        return SIZE_NAMES[raw]
    match = _SIZE_RE.fullmatch(raw)
    if match is None:
        raise GenerationError(f"size {text!r} is not N, WxH (whole numbers of pixels) or one of {', '.join(SIZE_NAMES)}")
    w, h = match.groups()
    return int(w) if h is None else (int(w), int(h))


def check_generation_numbers(request: "GenerationRequest", family=None) -> None:
    """Steps, seed, guidance and strength in the generator's ranges, checked before the model
    loads (the generator checks them again, with its own default guidance): the ``family``'s
    (families.py) when it is known from the folder, else the bounds over every family."""
    from ..generator.pipeline import MAX_GUIDANCE, MAX_STEPS, MIN_GUIDANCE, MIN_STEPS, SEED_BITS

    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    max_steps, (low, high) = (MAX_STEPS, (MIN_GUIDANCE, MAX_GUIDANCE)) if family is None else (
        family.max_steps, family.guidance_range)
    whose = "" if family is None else f" for {family.label}"
    if request.steps is not None and (not integer(request.steps) or not MIN_STEPS <= request.steps <= max_steps):
        raise GenerationError(f"steps must be an integer from {MIN_STEPS} to {max_steps}{whose}, got {request.steps!r}")
    if request.seed is not None and (not integer(request.seed) or not 0 <= request.seed < 2**SEED_BITS):
        raise GenerationError(f"seed must be an integer from 0 to 2**{SEED_BITS} - 1, got {request.seed!r}")
    guidance = request.guidance
    if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                 or not low <= guidance <= high):
        raise GenerationError(f"guidance must be a number from {low} to {high}{whose}, got {guidance!r}")
    strength = request.strength
    if strength is not None and family is not None and family.references == "conditioning":
        raise GenerationError(f"{family.label} attends to its reference images (editing) instead of starting from "
                              "one, so it has no image-to-image strength: leave --strength out")
    if request.references and strength is not None and (isinstance(strength, bool) or not isinstance(
            strength, (int, float)) or not 0.0 < strength <= 1.0):
        raise GenerationError(f"strength must be in (0, 1], got {strength!r}")


def output_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a request's size, checked against the output limits."""
    if isinstance(size, tuple) and len(size) == 2:
        width, height = size
    else:
        width = height = size
    for side in (width, height):
        if isinstance(side, bool) or not isinstance(side, int) or not MIN_OUTPUT_SIDE <= side <= MAX_OUTPUT_SIDE:
            raise GenerationError(f"size {size!r} is outside {MIN_OUTPUT_SIDE}..{MAX_OUTPUT_SIDE} per side")
    return width, height


JPEG_QUALITY = 95
FAST_PNG_PIXELS = 4_000_000
# The released file must read back its watermark id with its presence statistic at least this
# many times the detector's threshold, so that a re-compression downstream still finds it. An
# image below it is marked again at the engine's next strength (small, flat pictures need it).
READBACK_MARGIN = 1.25


def encode_image(image: Image.Image, fmt: str) -> bytes:
    """The release's unsigned file bytes: PNG, or JPEG at ``JPEG_QUALITY``."""
    raw = io.BytesIO()
    if fmt == "png":
        # zlib level 1 above FAST_PNG_PIXELS: a 4K PNG encodes in 0.26 s instead of 0.9 s (level 6)
        # for a file ~40 % larger; smaller images keep the default, where the time is small.
        image.save(raw, "PNG", compress_level=1 if image.width * image.height > FAST_PNG_PIXELS else 6)
    else:
        image.save(raw, "JPEG", quality=JPEG_QUALITY)
    return raw.getvalue()


class Marked(NamedTuple):
    """A watermarked image: its pixels, its encoded file, the strength used, and the file's pixels
    as decoded (read once: the read-back detects on them and the pixel hash is taken from them)."""

    image: Image.Image
    encoded: bytes
    strength: float
    decoded: Image.Image


def embed_readable(watermarker: Watermarker, image: Image.Image, payload: WatermarkPayload, fmt: str) -> Marked:
    """Watermark at the engine's weakest strength whose encoded file reads back the id with
    ``READBACK_MARGIN``. If none reaches the margin, the strongest that reads back at all; if none
    reads back, nothing is released (fail closed)."""
    readable = None
    for strength in watermarker.strengths:
        marked = watermarker.embed(image, payload, strength=strength)
        encoded = encode_image(marked, fmt)
        decoded = Image.open(io.BytesIO(encoded))
        decoded.load()
        found = watermarker.detect(decoded)
        if found.asset_id == payload.asset_id:
            readable = Marked(marked, encoded, strength, decoded)
            if found.statistic is None or found.statistic >= READBACK_MARGIN * found.threshold:
                return readable
    if readable is None:
        raise WatermarkError(f"the encoded image does not read back its own watermark id at any strength "
                             f"({', '.join(map(str, watermarker.strengths))})")
    return readable


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    requester: str
    purpose: str = "general"
    # Output size: N (square) or (width, height); None = settings' default. Larger than the
    # model's native size goes through the learned super-resolution stage.
    size: int | tuple[int, int] | None = None
    steps: int | None = None  # None: the model family's default (families.py)
    seed: int | None = None
    guidance: float | None = None
    format: str = "png"
    # Images that enter generation as input (image-to-image); each is checked like the output.
    references: tuple[Image.Image, ...] = ()
    # None: the generator's default (0.6); a family that attends to references (FLUX.2 [klein])
    # refuses any strength.
    strength: float | None = None
    # A learned subject's name (``pocketstudio subject create``): the prompt's mentions of it carry
    # its learned vectors, or it is prepended (core/generator/subject.py).
    subject: str | None = None
    # What an API client says about its end user (OpenAI's ``user``): audited as a commitment only;
    # it chooses nothing (the requester is the token's).
    client_user: str | None = None
    # The visible label (provenance/label.py): None = the settings label, label_text, label_lang.
    label: bool | None = None
    label_text: str | None = None
    label_lang: str | None = None

    @property
    def client(self) -> dict | None:
        return None if self.client_user is None else {"user": self.client_user}


@dataclass(frozen=True)
class SubjectRequest:
    """Learn a subject from reference images (each checked for registered faces first)."""

    name: str
    images: tuple[Image.Image, ...]
    requester: str
    purpose: str = "general"
    learn: LearnSettings = LearnSettings()

    @property
    def prompt(self) -> str:
        """What the audit record commits to as this request's text (the name is the only text)."""
        return f"subject create {self.name}"


@dataclass(frozen=True)
class Release:
    """What leaves the studio: the signed bytes and everything needed to trace them."""

    data: bytes
    path: Path | None
    mime_type: str
    asset_id: str
    decision: Decision
    audit_index: int  # the decision's leaf index in the audit log
    manifest_label: str
    manifest_sha256: str
    watermark_alg: str
    model_name: str
    model_sha256: str
    seed: int
    steps: int
    width: int
    height: int
    # The prompt's text-encoder tokens: given, and kept within the encoder's limit (None: unknown).
    prompt_tokens: int | None = None
    prompt_tokens_kept: int | None = None
    # What the compliance profile needs and the settings lack (provider name or code): the
    # release went out, and the verifier reports the regime as partial.
    compliance_warnings: tuple[str, ...] = ()

    @property
    def prompt_truncated(self) -> bool:
        """The prompt was longer than the text encoder reads: its end did not steer the image."""
        return self.prompt_tokens is not None and self.prompt_tokens_kept is not None \
            and self.prompt_tokens_kept < self.prompt_tokens


class Studio:
    """One data directory's release flow. Components are injectable (tests force failures); the
    rest come from the data directory's builder (core/app/home.py)."""

    # Called with each step's name as it starts (generate's progress display); None: nobody asks.
    on_step: Callable[[str], None] | None = None
    threads: int | None = None  # torch's intra-op threads, chosen at the first generation
    # The model's few-step family when the caller knows it before the model loads (the CLI reads
    # --model's folder): the request's numbers are checked against it up front.
    model_family = None

    def __init__(self, settings: Settings, *, store: Store | None = None, keys: KeyStore | None = None,
                 generator=None, generator_factory: Callable[[], object] | None = None,
                 upscaler=None, upscaler_factory: Callable[[], object] | None = None,
                 watermarker: Watermarker | None = None, claim_signer: ClaimSigner | None = None,
                 policy: PolicyEngine | None = None, likeness: LikenessChecker | None = None,
                 manifests: ManifestRepository | None = None, audit: AuditLog | None = None,
                 now: Callable[[], dt.datetime] | None = None, home=None):
        from .home import DataHome

        home = home or DataHome(settings, store=store, keys=keys, audit=audit)
        self.settings = settings
        self.home = home
        self.store = home.store
        self.keys = home.keys
        self._generator = generator
        self._generator_factory = generator_factory
        self._upscaler = upscaler
        self._upscaler_factory = upscaler_factory
        self.watermarker = watermarker or make_watermarker(settings.watermark_engine, self.keys.watermark_key())
        self._claim_signer = claim_signer
        self.policy = policy or PolicyEngine(settings.policy_dir, extend_defaults=settings.policy_extends)
        self.audit = home.audit
        self.likeness = likeness or LikenessChecker(home.registry)
        self.subjects = home.subjects
        self.manifests = manifests or ManifestRepository(self.store)
        started = (now or (lambda: dt.datetime.now(dt.timezone.utc)))()
        # On every start: failures that could not reach the database last time are appended,
        # consent rows of an earlier release are adopted into the signed history (home.consent),
        # and openings (salts + clear text) past their retention are deleted.
        self.audit.replay_spool()
        self.consent = home.consent
        self.audit.purge_expired(started)

    @classmethod
    def open(cls, home: str | Path | None = None, **components) -> "Studio":
        """The studio of a data directory (None: ``POCKETSTUDIO_HOME`` or the platform default),
        created with its keys if it does not exist yet; the embedded model loads on first use."""
        return cls(Settings.load(home), **components)

    @property
    def generator(self):
        if self._generator is None:
            if self._generator_factory is None:
                from ..generator.exported import load_embedded

                # the embedded model from its exported graphs (no diffusers import), made once
                self._generator = load_embedded(self.settings.home / "cache")
            else:
                self._generator = self._generator_factory()
        return self._generator

    @property
    def upscaler(self):
        """The super-resolution stage (loaded on first use: only sizes above native need it)."""
        if self._upscaler is None:
            if self._upscaler_factory is None:
                from ..generator.upscale import load_upscaler

                self._upscaler = load_upscaler()
            else:
                self._upscaler = self._upscaler_factory()
        return self._upscaler

    def _with_threads(self, generator):
        """``generator``, with torch's threads set for it (the setting, else from its size: threads.py);
        the super-resolution stage that follows runs on the same count."""
        from ..generator.threads import apply_threads, choose_threads

        if self.threads is None:
            self.threads = choose_threads(self.settings.threads, getattr(generator, "parameter_count", None))
        apply_threads(self.threads)
        return generator

    def _persons(self, findings: list[Finding]) -> list[DepictedPerson]:
        ids = list(dict.fromkeys(f.person_id for f in findings))
        # "unmatchable" only when nothing but a face with hidden eyes stands for them (issue 21).
        unmatchable = {f.person_id for f in findings if f.band == "unmatchable"} - {
            f.person_id for f in findings if f.band != "unmatchable"}
        return [DepictedPerson(pid, self.consent.facts_for(pid), "unmatchable" if pid in unmatchable else "match")
                for pid in ids]

    def generate(self, request: GenerationRequest, out_path: str | Path | None = None,
                 now: dt.datetime | None = None, overwrite: bool = False) -> Release:
        """Run the release flow; with ``out_path`` publish the file there. An existing regular file
        is replaced only with ``overwrite``; anything else there (device, FIFO, socket, folder,
        symbolic link) never is (core/files.py)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        decision_id = new_decision_id()
        ctx = _Attempt(self, request, now, decision_id)

        # 1. Validate the request before anything is spent on it: text, numbers, the size the
        #    watermark must be able to carry, and where the file will go.
        fmt = request.format.lower()
        if fmt == "jpg":
            fmt = "jpeg"
        if fmt not in MIME_TYPES:
            raise GenerationError(f"unknown output format {request.format!r}; use png or jpeg")
        if not isinstance(request.prompt, str) or not request.prompt.strip():
            raise GenerationError("the prompt is empty")
        check_generation_numbers(request, self.model_family)
        gaps = tuple(missing_settings(self.settings.compliance_profile, self.settings.provider_name,
                                      self.settings.provider_code))
        if gaps and self.settings.compliance_strict:
            raise ComplianceError("compliance_strict: " + "; ".join(gaps))
        width, height = output_size(self.settings.default_size if request.size is None else request.size)
        check_size = getattr(self.watermarker, "check_size", None)  # an engine without it finds out at step 6
        if check_size is not None:
            check_size(width, height)
        out_path = Path(out_path) if out_path is not None else None
        if out_path is not None:
            output_format(out_path, fmt)
            check_output_path(out_path, overwrite)
        subject = subject_record = None
        if request.subject is not None:
            # unknown, damaged or learned on another model: a typed error before anything is spent
            subject_record, subject = self.subjects.load(request.subject)
            _check_subject_model(self.generator, subject_record)
            ctx.subject = {"subject_id": subject_record.subject_id, "embedding_sha256": subject_record.embedding_sha256}

        # 2. Pre-checks: registered names in the prompt, registered faces in every reference image.
        pre_findings = ctx.step("prompt-check", lambda: self.likeness.check_prompt(request.prompt))
        for i, reference in enumerate(request.references, start=1):
            checked = ctx.step("reference-check", lambda: self.likeness.check_image(reference, stage="pre",
                                                                                 source=f"reference-{i}"))
            pre_findings += list(checked.findings)
            ctx.image_checks.append({"source": f"reference-{i}", "faces": checked.faces, "too_small": checked.too_small})
        if subject_record is not None:
            # A subject learned from a registered person's face depicts them: their consent is
            # decided now, for this requester and purpose, as for a reference image.
            pre_findings += [Finding("subject", pid, "pre", source="subject") for pid in subject_record.person_ids]
        ctx.findings = list(pre_findings)

        # 3. Policy before any pixel exists; a deny is audited and ends here.
        pre = ctx.step("policy-pre", lambda: self.policy.evaluate(
            requester=request.requester, purpose=request.purpose, persons=self._persons(pre_findings),
            now=now, stage="pre", decision_id=decision_id))
        ctx.evaluations.append(pre)
        if not pre.allowed:
            ctx.deny(pre)

        # 4. Generate at the model's native size, then bring it to the requested size.
        # FLUX.2 [klein] attends to every reference; image-to-image starts from the first.
        refs = request.references
        init = {"init_image": refs[0] if len(refs) == 1 else refs, "strength": request.strength} if refs else {}
        if subject is not None:
            init["subject"] = subject
        generated = ctx.step("generate", lambda: self._with_threads(self.generator).generate(
            request.prompt, steps=request.steps, seed=request.seed, guidance=request.guidance, **init))
        ctx.model_sha256 = generated.model_sha256
        if getattr(generated, "prompt_tokens", None) is not None:
            ctx.prompt_report = {"tokens": generated.prompt_tokens, "kept": generated.prompt_tokens_kept}
        # Centre-crop to the requested aspect, then the learned ×2 super-resolution (tiled) as many
        # times as needed and a Lanczos reduction to the exact size; or just the reduction when
        # the native image is already large enough. Every later gate sees the final pixels.
        native = generated.image.convert("RGB")
        image = ctx.step("upscale", lambda: fit_to_size(native, width, height, lambda: self.upscaler))
        upscaled = image.width > native.width or image.height > native.height

        # 5. Output check, then the policy again with what the image shows.
        post_check = ctx.step("output-check", lambda: self.likeness.check_image(image, stage="post", source="output"))
        ctx.findings += list(post_check.findings)
        ctx.image_checks.append({"source": "output", "faces": post_check.faces, "too_small": post_check.too_small})
        post = ctx.step("policy-post", lambda: self.policy.evaluate(
            requester=request.requester, purpose=request.purpose,
            persons=self._persons(pre_findings + list(post_check.findings)), now=now, stage="post",
            decision_id=decision_id))
        ctx.evaluations.append(post)
        if not post.allowed:
            ctx.deny(post)

        # 5b. The visible label, when asked for, drawn before the watermark (so every binding
        #     describes the labelled pixels).
        drawn = None
        if (self.settings.label if request.label is None else request.label):
            from pocketstudio.provenance.label import default_text, draw_label

            lang = request.label_lang or self.settings.label_lang
            text = request.label_text or self.settings.label_text or default_text(lang)
            image, drawn = ctx.step("label", lambda: draw_label(image, text, lang))

        # 6. Watermark a fresh asset id.
        asset_id = new_asset_id()
        ctx.asset_id = asset_id
        payload = WatermarkPayload(asset_id, self.watermarker.alg)
        marked, encoded, strength, decoded = ctx.step("watermark", lambda: embed_readable(self.watermarker, image,
                                                                                          payload, fmt))
        # The second soft binding: a perceptual fingerprint of the watermarked pixels, so that a
        # watermark copied onto another picture does not recover this manifest unnoticed.
        fingerprint = ctx.step("fingerprint", lambda: Fingerprint.of(marked).to_value())
        # The registered fingerprint beside ours (ISCC image code), for resolvers that know only it.
        iscc_value = ctx.step("fingerprint", lambda: iscc.to_value(iscc.image_code(marked)))
        # The references the image was made from, as ingredients named by their hash.
        references = tuple((f"reference-{i}", reference_sha256(r)) for i, r in enumerate(request.references, 1))
        if subject_record is not None:
            references += tuple((f"subject {subject_record.subject_id} reference {i}", h)
                                for i, h in enumerate(subject_record.reference_sha256s, 1))

        # 7. The XMP packet (IPTC digital source type, TC260 label) goes into the file before
        #    signing, so the hard binding covers it; then the C2PA manifest is signed, and the
        #    signed bytes must carry the same watermark id.
        aigc = producer_label(label_key(self.keys.watermark_key()), self.settings.provider_code or "", asset_id)
        encoded = ctx.step("xmp", lambda: embed_xmp(encoded, aigc))
        mime = MIME_TYPES[fmt]
        title = out_path.name if out_path else f"{asset_id}.{'png' if fmt == 'png' else 'jpg'}"
        facts = ManifestFacts(
            title=title, mime_type=mime, asset_id=asset_id, watermark_alg=self.watermarker.alg,
            model_name=generated.model_name, model_sha256=generated.model_sha256, steps=generated.steps,
            guidance=float(generated.guidance), seed=int(generated.seed), width=marked.width, height=marked.height,
            fingerprint_alg=FINGERPRINT_ALG, fingerprint=fingerprint, created=ManifestRepository.stamp(now),
            decision_id=decision_id, policy_set_hash=post.policy_set_hash, audit_origin=self.audit.origin,
            consent_grant_ids=post.consent_grant_ids, model_components=_model_components(generated),
            model_family=getattr(generated, "family", None), sampler=getattr(generated, "sampler", None),
            native_size=native.size, provider_name=self.settings.provider_name,
            pixels_sha256=pixels_sha256(decoded),  # the XMP packet adds no pixel: the file's pixels as read back
            visible_label=(drawn.text, drawn.lang, drawn.height) if drawn else None,
            provider_code=self.settings.provider_code, iscc_alg=iscc.ALG, iscc=iscc_value,
            ai_training_policy=self.settings.ai_training_policy, references=references,
            upscaler=(self.upscaler.info.name, self.upscaler.info.sha256) if upscaled else None)

        def sign():
            signer = self._claim_signer or self.keys.claim_signer(now)
            signed = sign_image(encoded, mime, build_manifest(facts), signer, tsa_url=self.settings.tsa_url,
                                tsa_required=self.settings.tsa_required, ocsp_staple=self.settings.ocsp_staple,
                                ocsp_required=self.settings.ocsp_required)
            readback = self.watermarker.detect(Image.open(io.BytesIO(signed.data)))
            if readback.asset_id != asset_id:
                raise WatermarkError("the signed image does not read back its own watermark id")
            return signed

        signed = ctx.step("sign", sign)
        ctx.manifest_sha256 = signed.manifest_sha256
        if signed.time_stamp == "pending":  # kept, without pixels, for 'pocketstudio timestamp --pending'
            ctx.step("keep-for-time-stamp", lambda: PendingArchives(self.settings.home).keep(
                asset_id, parent_archive(signed.data, mime, title)))
        watermark = {"alg": self.watermarker.alg, "id": asset_id, "strength": strength}

        # 8. Stage the file, then commit manifest + audit record together, then publish the file.
        tmp = (ctx.step("write", lambda: stage_file(out_path.parent, out_path.name, signed.data, shared=True))
               if out_path else None)
        try:
            def store_manifest(conn):  # runs in the group commit's transaction (maybe another thread's)
                ctx.current = "store-manifest"
                self.manifests.put(conn, StoredManifest(
                    asset_id=asset_id, watermark_alg=self.watermarker.alg, manifest=signed.manifest,
                    manifest_sha256=signed.manifest_sha256, manifest_label=signed.manifest_label,
                    mime_type=mime, decision_id=decision_id, model_sha256=generated.model_sha256,
                    created_at=ManifestRepository.stamp(now), fingerprint=fingerprint, iscc=iscc_value,
                    time_stamp=signed.time_stamp))
                ctx.current = "audit"

            def commit():
                # Through the group commit: concurrent releases of this process (the service)
                # share one transaction, one hold of the log's lock and one witnessed
                # checkpoint; this returns once the manifest row and the leaves have committed
                # and the kept checkpoint covers them.
                entry = PendingEntry(
                    post, "released", now, request.prompt, request.requester, request.purpose,
                    tuple(ctx.evaluations or (post,)), asset_id, signed.manifest_sha256, signed.manifest_label,
                    watermark, generated.model_sha256, None, tuple(ctx.findings), tuple(ctx.image_checks),
                    ctx.subject, ctx.prompt_report, request.client)
                # Released without trusted time: the log says so, in the same transaction;
                # 'pocketstudio timestamp --pending' follows it up.
                pending = ([(decision_id, TIME_STAMP_PENDING, signed.time_stamp_error or "", now)]
                           if signed.time_stamp == "pending" else [])
                ctx.current = "audit"
                try:
                    return self.audit.submit([entry], work=store_manifest, amendments=pending)[0]
                except NotWitnessed:
                    ctx.decided, ctx.current = True, "witness"  # committed: a failure now amends it
                    raise

            record: AuditRecord = ctx.step("store-manifest", commit)
            ctx.decided = True  # from here on a failure amends this decision's leaf
            if tmp is not None:
                ctx.step("publish", lambda: publish(tmp, out_path, overwrite))
                tmp = None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

        return Release(
            data=signed.data, path=out_path, mime_type=mime, asset_id=asset_id, decision=post,
            audit_index=record.index, manifest_label=signed.manifest_label, manifest_sha256=signed.manifest_sha256,
            watermark_alg=self.watermarker.alg, model_name=generated.model_name,
            model_sha256=generated.model_sha256, seed=int(generated.seed), steps=generated.steps,
            width=marked.width, height=marked.height, prompt_tokens=getattr(generated, "prompt_tokens", None),
            prompt_tokens_kept=getattr(generated, "prompt_tokens_kept", None),
            compliance_warnings=gaps + ((f"released without an OCSP response: {signed.revocation_error}",)
                                        if signed.revocation == "unavailable" else ()))


    def create_subject(self, request: SubjectRequest, now: dt.datetime | None = None,
                       progress: Callable[[int, int, float], None] | None = None, threads: int | None = 1) -> SubjectRecord:
        """Learn a subject from reference images, fail-closed like a release: the name and every
        reference pass the likeness checks and the policy first (a registered face without
        consent is a ``PolicyDenied``, audited; an image the checker cannot read blocks it), then
        the vectors are learned on the current model, and the embedding file, its row and the
        audit record are committed together."""
        now = now or dt.datetime.now(dt.timezone.utc)
        decision_id = new_decision_id()
        ctx = _Attempt(self, request, now, decision_id, action="subject creation")

        # 1. Validate the request before anything is spent on it.
        name = check_name(request.name)
        if self.subjects.find(name) is not None:
            raise SubjectExists(f"a subject named {name!r} exists already; delete it first or pick another name")
        if not 1 <= len(request.images) <= MAX_REFERENCES:
            raise SubjectError(f"a subject needs 1 to {MAX_REFERENCES} reference images, got {len(request.images)}")
        references = [check_reference(im, f"reference {i}") for i, im in enumerate(request.images, start=1)]
        request.learn.check()
        generator = self.generator
        _check_name_is_new_word(generator, name)

        # 2. Pre-checks: the name against registered names, every reference's faces.
        findings = ctx.step("prompt-check", lambda: self.likeness.check_prompt(name))
        for i, reference in enumerate(references, start=1):
            checked = ctx.step("reference-check", lambda: self.likeness.check_image(reference, stage="pre",
                                                                                 source=f"reference-{i}"))
            findings += list(checked.findings)
            ctx.image_checks.append({"source": f"reference-{i}", "faces": checked.faces, "too_small": checked.too_small})
        ctx.findings = list(findings)

        # 3. Policy: may this requester depict whoever the references show, for this purpose?
        decision = ctx.step("policy-subject", lambda: self.policy.evaluate(
            requester=request.requester, purpose=request.purpose, persons=self._persons(findings), now=now,
            stage="subject", decision_id=decision_id))
        ctx.evaluations.append(decision)
        if not decision.allowed:
            ctx.deny(decision)

        # 4. Learn the vectors on the frozen model.
        from ..generator.subject import learn_subject

        learned = ctx.step("learn-subject", lambda: learn_subject(generator, references, request.learn, progress, threads))
        checkpoint = generator.model_sha256  # the loaded model's identity: checkpoint and any LoRA
        ctx.model_sha256 = checkpoint

        # 5. Stage the file, publish it under its unique name, then commit row + audit record
        #    together (a failed commit removes the file again).
        subject_id = new_subject_id()
        token = f"<{subject_id}>"
        staged = ctx.step("write", lambda: self.subjects.stage(subject_id, token, learned.vectors, {
            "subject_id": subject_id, "model_sha256": checkpoint, "created": now.isoformat()}))
        tmp, file_name, sha256 = staged
        final = self.subjects.folder / file_name
        ctx.subject = {"subject_id": subject_id, "embedding_sha256": sha256}
        record = SubjectRecord(
            subject_id=subject_id, name=name, token=token, vectors=int(learned.vectors.shape[0]),
            dim=int(learned.vectors.shape[1]), embedding_file=file_name, embedding_sha256=sha256,
            model_name=str(generator.model_name), model_sha256=checkpoint,
            reference_sha256s=tuple(reference_sha256(r) for r in references),
            person_ids=tuple(dict.fromkeys(f.person_id for f in findings)), consent_grant_ids=decision.consent_grant_ids,
            decision_id=decision_id, requester=request.requester,
            training={**_learn_json(request.learn), "seconds": round(learned.seconds, 2),
                      "final_loss": round(learned.final_loss, 6)},
            created_at=now.astimezone(dt.timezone.utc).isoformat())
        try:
            ctx.step("publish", lambda: os.replace(tmp, final))

            def commit():
                with self.store.begin() as conn:
                    ctx.current = "store-subject"
                    self.subjects.insert(conn, record)
                    ctx.current = "audit"
                    self.audit.append(decision, outcome="subject-created", now=now, prompt=request.prompt,
                                      requester=request.requester, purpose=request.purpose,
                                      evaluations=ctx.evaluations, model_sha256=checkpoint, findings=ctx.findings,
                                      image_checks=ctx.image_checks, subject=ctx.subject, conn=conn)

            ctx.step("store-subject", commit)
        except BaseException:
            for path in (tmp, final):
                if os.path.exists(path):
                    os.unlink(path)
            raise
        ctx.decided = True
        ctx.step("witness", self.audit.witness)
        return record


def _check_subject_model(generator, record: SubjectRecord) -> None:
    """A subject's vectors mean something only to the model they were learned on (its checkpoint
    and any LoRA: the loaded model's whole identity)."""
    if record.model_sha256 != generator.model_sha256:
        raise SubjectError(f"subject {record.name!r} was learned on {record.model_name} ({record.model_sha256[:16]}…), "
                           f"not on the model in use ({generator.model_sha256[:16]}…): learn it again on this model")


def _check_name_is_new_word(generator, name: str) -> None:
    """A subject's name must not be a word the model already knows: prompts could not say that
    word any more without meaning the subject."""
    with generator.locked_pipe() as pipe:
        tokens = pipe.tokenizer.tokenize(name)
    if len(tokens) == 1 and tokens[0].replace("</w>", "") == name:
        raise SubjectError(f"subject name {name!r} is a word the model knows; pick a name that is not")


def _learn_json(learn: LearnSettings) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(learn).items() if v is not None}


def _model_components(generated) -> tuple[tuple[str, str, str], ...]:
    """(role, name, sha256) of each part of a combined model identity (checkpoint + LoRA files)."""
    parts = tuple(getattr(generated, "model_components", ()))
    return tuple((c.role, c.name, c.sha256) for c in parts) if len(parts) > 1 else ()


class _Attempt:
    """Bookkeeping of one request: runs steps, and audits a deny or a failure before raising."""

    def __init__(self, studio: Studio, request: GenerationRequest, now: dt.datetime, decision_id: str,
                 action: str = "release"):
        self.studio, self.request, self.now, self.decision_id = studio, request, now, decision_id
        self.action = action  # named in errors and failure records: "release" or "subject creation"
        self.subject: dict | None = None  # the learned subject made or used, for the audit record
        self.evaluations: list[Decision] = []
        self.asset_id: str | None = None
        self.manifest_sha256: str | None = None
        self.model_sha256: str | None = None
        self.findings: list[Finding] = []
        self.image_checks: list[dict] = []
        self.prompt_report: dict | None = None  # what the text encoder kept of the prompt
        self.current = ""
        # Set once the decision's leaf is committed: a later failure (the file could not be
        # published) is an amendment leaf naming the decision, never a second decision leaf.
        self.decided = False

    def step(self, name: str, fn):
        self.current = name
        if self.studio.on_step is not None:
            self.studio.on_step(name)
        try:
            return fn()
        except PolicyDenied:
            raise
        except Exception as exc:  # noqa: BLE001 — every failure of a step blocks the release
            step = self.current or name
            reason = str(exc) or type(exc).__name__
            self._record_failure(step, reason)
            raise ReleaseBlocked(step, reason, self.decision_id, self.action) from exc

    def _record_failure(self, step: str, reason: str) -> None:
        """One truthful trace of the failure: the decision's leaf (outcome ``failed:<step>``), or,
        once that leaf is committed, an amendment naming it; if the database cannot take either,
        the same leaf spooled to a signed file that the next start appends."""
        audit = self.studio.audit
        entry = amendment = None
        if self.decided:
            amendment = (self.decision_id, NOT_PUBLISHED if step in ("publish", "witness") else FAILED_AFTER_DECISION,
                         f"{self.action} failed at step '{step}' after it was recorded: {reason}")
        else:
            base = self.evaluations[-1] if self.evaluations else None
            failed = Decision(
                decision_id=self.decision_id, effect="deny", rule_ids=base.rule_ids if base else (),
                reason=f"{self.action} failed at step '{step}': {reason}",
                policy_set_hash=base.policy_set_hash if base else self.studio.policy.policy_set_hash,
                stage=step, decided_at=self.now.astimezone(dt.timezone.utc).isoformat())
            entry = PendingEntry(failed, f"failed:{step}", self.now, self.request.prompt, self.request.requester,
                                 self.request.purpose, tuple(self.evaluations or [failed]), self.asset_id,
                                 self.manifest_sha256, None, None, self.model_sha256, reason, tuple(self.findings),
                                 tuple(self.image_checks), self.subject, self.prompt_report,
                                 getattr(self.request, "client", None))
        try:
            if amendment is not None:
                audit.amend(*amendment, now=self.now)
            else:
                audit.append_many([entry])
            return
        except NotWitnessed:  # in the log; only the checkpoint kept outside it lags (verify still passes)
            return
        except Exception as exc:  # noqa: BLE001 — any failure to log goes to the spool
            first = exc
        try:
            spooled = audit.spool_failure(entry, amendment, self.now)
        except Exception as exc:  # noqa: BLE001
            raise ReleaseBlocked(step, f"{reason}; and the failure could not be audited ({first}) nor spooled "
                                 f"({exc})", self.decision_id, self.action) from exc
        raise ReleaseBlocked(step, f"{reason}; the audit log could not take the failure record ({first}): "
                             f"it waits in {spooled} and is appended on the next start", self.decision_id,
                             self.action) from first

    def deny(self, decision: Decision) -> None:
        self.current = "audit-deny"
        try:
            self.studio.audit.append(
                decision, outcome="denied", now=self.now, prompt=self.request.prompt,
                requester=self.request.requester, purpose=self.request.purpose, evaluations=self.evaluations,
                model_sha256=self.model_sha256, findings=self.findings, image_checks=self.image_checks,
                subject=self.subject, client=getattr(self.request, "client", None))
        except NotWitnessed:  # the deny is in the log; only the checkpoint kept outside it lags
            pass
        except Exception as exc:  # noqa: BLE001
            raise ReleaseBlocked("audit", f"denied, and the deny could not be audited: {exc}", self.decision_id,
                                 self.action) from exc
        raise PolicyDenied(decision)
