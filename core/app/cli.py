"""The ``pocketstudio`` command line (typer). Every command takes ``--home`` / POCKETSTUDIO_HOME.

Exit codes: 0 success, 1 an error (message on stderr), 2 usage, 3 denied by policy,
4 verification found no trusted provenance.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..base.config import Settings
from ..base.errors import (EXIT_ERROR, EXIT_NOT_TRUSTED, ConfigError, PocketStudioError, PolicyDenied, ReleaseBlocked,
                           UsageError, exit_code_of)

_CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(add_completion=False, no_args_is_help=True, context_settings=_CONTEXT,
                  help="Pocket Studio: generate signed, watermarked, audited images, and verify them.")
audit_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT, help="Read and check the audit log.")
keys_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT, help="Signing keys and certificates.")
consent_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT,
                          help="Register likenesses and manage consent grants.")
subject_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT,
                          help="Learn subjects (a character, an object) from reference images.")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(keys_app, name="keys")
app.add_typer(subject_app, name="subject")
config_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT,
                         help="Settings: config.toml in the data directory, POCKETSTUDIO_<NAME> overrides it, "
                              "a command-line flag overrides both.")
app.add_typer(config_app, name="config")
db_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT, help="The store's database (SQLite or PostgreSQL).")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HomeOpt = typer.Option(None, "--home", envvar="POCKETSTUDIO_HOME", help="Data directory (database, keys).")
DbOpt = typer.Option(None, "--database-url", help="The store's database, e.g. postgresql+psycopg://user@host/db "
                                                  "(default: the setting database_url; unset: SQLite in the data directory).")
WitnessOpt = typer.Option([], "--witness", help="A witness's cosignature key (name+keyid+base64, C2SP "
                                                "tlog-cosignature Ed25519), repeatable: the witness policy.")
QuorumOpt = typer.Option(None, "--quorum", min=0, help="How many of the --witness keys must have cosigned "
                                                       "(default: all of them).")
WitnessPolicyOpt = typer.Option(None, "--witness-policy", help="A witness policy file (Sigsum policy format: witness, "
                                "group, quorum lines) used when no --witness is given (default: the setting "
                                "witness_policy; unset: no cosignature needed).")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"pocketstudio {version('pocketstudio')}")
        except PackageNotFoundError:
            print("pocketstudio (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Pocket Studio: generate signed, watermarked, audited images, and verify them."""


def _settings(home: Optional[Path], **flags) -> Settings:
    """The settings: these command-line ``flags`` (None: not given), then POCKETSTUDIO_<NAME>,
    then config.toml in the data directory, then the defaults (core/base/config.py)."""
    return Settings.load(home, flags=flags)


def _with_trust(settings: Settings, trust: list[Path]) -> Settings:
    """``--trust`` adds anchor files to the trust_anchor_files setting (it never drops one)."""
    if not trust:
        return settings
    extra = tuple(p if p.is_absolute() else Path.cwd() / p for p in trust)
    return settings.with_(trust_anchor_files=settings.trust_anchor_files + extra)


def _denied(exc: PolicyDenied, json_out: bool, done_key: str):
    """A policy denial: the decision as JSON (``{done_key: false, …}``) and in words; exit 3."""
    d = exc.decision
    if json_out:
        print(json.dumps({done_key: False, "decision_id": d.decision_id, "effect": d.effect,
                          "rule_ids": list(d.rule_ids), "reason": d.reason}))
    err.print(f"[bold red]denied:[/] {d.reason} (decision {d.decision_id}, rules: {', '.join(d.rule_ids)})")
    raise typer.Exit(exit_code_of(exc))


def _fail(exc: Exception | str, code: Optional[int] = None, *, json_out: bool = False, message: Optional[str] = None,
          **fields):
    """An error: in words on stderr, and with ``json_out`` also as one JSON object on stdout
    (``{**fields, "error": {"type", "message"}}``), so a --json caller always parses stdout.
    Exit code: ``code``, else the error's own (1; 2 for a malformed argument)."""
    from rich.markup import escape

    text = message or str(exc)
    if json_out:
        kind = type(exc).__name__ if isinstance(exc, BaseException) else "Error"
        print(json.dumps({**fields, "error": {"type": kind, "message": text}}))
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False)
    raise typer.Exit(code if code is not None else exit_code_of(exc) if isinstance(exc, BaseException) else EXIT_ERROR)


@app.command()
def init(home: Optional[Path] = HomeOpt,
         alg: Optional[str] = typer.Option(None, help="Claim-signing algorithm: es256 or ed25519 "
                                                      "(default: the setting signing_alg, es256)."),
         database_url: Optional[str] = DbOpt,
         provider_name: Optional[str] = typer.Option(None, "--provider-name", help="Your name as the provider, "
                                                     "in the EU and California disclosures (setting provider_name)."),
         provider_code: Optional[str] = typer.Option(None, "--provider-code", help="Your code in China's TC260 "
                                                     "label, ContentProducer (setting provider_code).")):
    """Create the data directory, database, root CA, claim-signing certificate and watermark key."""
    from pocketstudio.provenance.keys import KeyStore
    from ..base.config import resolve_home, set_in_config
    from .home import DataHome

    try:
        for key, value in (("provider_name", provider_name), ("provider_code", provider_code)):
            if value is not None:  # written to config.toml, so every later command uses them
                set_in_config(resolve_home(home), key, value)
        settings = _settings(home, signing_alg=alg, database_url=database_url)
        data = DataHome(settings, keys=KeyStore(settings))
        store = data.store  # created, or upgraded in place (Alembic)
        data.keys.ensure(alg=settings.signing_alg)
        data.consent  # consent rows an earlier release wrote join the signed history now
        out.print(f"data directory: {settings.home}\ndatabase: {store.name} (schema revision {store.revision()})\n"
                  f"keys: {settings.keys_dir}")
    except PocketStudioError as exc:
        _fail(exc)


@app.command()
def generate(prompt: str = typer.Argument(..., help="What to draw."),
             output: Path = typer.Option(..., "-o", "--output", help="Where to write the signed image."),
             size: Optional[str] = typer.Option(None, help="Output size: N (N×N), WxH, or 4k (3840x2160); default: the setting default_size (512). Above the model's native size the learned super-resolution stage upscales."),
             steps: Optional[int] = typer.Option(None, help="Sampling steps, 1 to the model family's most (LCM 8, Turbo 4, Hyper-SD CFG LoRAs 12); default: the family's, e.g. LCM 4, Turbo 1, SANA-Sprint 2."),
             seed: Optional[int] = typer.Option(None, help="Seed; random if omitted (and reported)."),
             guidance: Optional[float] = typer.Option(None, help="Guidance scale (default: the model family's; 0 for Turbo, TCD and Hyper-SD)."),
             model: Optional[Path] = typer.Option(None, help="A diffusers-format few-step checkpoint folder: LCM, SD-/SDXL-Turbo, SANA-Sprint or FLUX.2 [klein] (recognised from the folder), or an SD 1.5 / SDXL base with --lora."),
             lora: Optional[Path] = typer.Option(None, "--lora", help="A few-step LoRA .safetensors file, fused into the --model base."),
             lora_family: Optional[str] = typer.Option(None, "--lora-family", help="lcm, tcd or hyper-sd: which sampler the --lora needs (required unless its metadata names it)."),
             device: str = typer.Option("cpu", help="cpu, cuda or mps."),
             dtype: Optional[str] = typer.Option(None, help="fp16, bf16 or fp32 (default: fp32 on cpu, the family's on an accelerator)."),
             offload: Optional[str] = typer.Option(None, help="model or sequential: keep the weights in host memory and move them to the accelerator as they run (for models larger than its memory)."),
             fmt: Optional[str] = typer.Option(None, "--format", help="png or jpeg (default: from the file name, "
                                                                       "which must end in .png, .jpg or .jpeg and agree with it)."),
             force: bool = typer.Option(False, "--force", help="Replace an existing regular file at --output (never a "
                                                                "link, folder, device, FIFO or socket)."),
             requester: Optional[str] = typer.Option(None, help="Who asks (default: the setting default_requester)."),
             purpose: Optional[str] = typer.Option(None, help="What for; consent is per purpose (default: the "
                                                              "setting default_purpose)."),
             reference: list[Path] = typer.Option([], "--reference", help="Reference image (repeatable); the first drives image-to-image (FLUX.2 [klein] attends to all)."),
             strength: Optional[float] = typer.Option(None, help="Image-to-image strength (0-1]: how far from the reference (default 0.6). FLUX.2 [klein] attends to every --reference instead and refuses it."),
             subject: Optional[str] = typer.Option(None, "--subject", help="A learned subject (pocketstudio subject create): where the prompt names it, it is that subject; a prompt that does not name it gets it prepended."),
             policy: Optional[Path] = typer.Option(None, "--policy", help="Cedar policy folder replacing the defaults "
                                                                          "(default: the setting policy_dir)."),
             policy_extends: Optional[bool] = typer.Option(None, "--policy-extends/--policy-replaces",
                                                           help="Add --policy to the defaults instead (default: the "
                                                                "setting policy_extends)."),
             json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress display)."),
             label: Optional[bool] = typer.Option(None, "--label/--no-label", help="Draw a visible AI label into "
                                                  "the pixels, text at least 5 % of the shortest side (default: the "
                                                  "setting label, off)."),
             label_text: Optional[str] = typer.Option(None, "--label-text", help="The label's text (default: the "
                                                      "setting label_text, else 'AI-generated' in --label-lang)."),
             label_lang: Optional[str] = typer.Option(None, "--label-lang", help="The label's language, e.g. en or "
                                                      "zh ('人工智能生成'); default: the setting label_lang, en."),
             no_service: bool = typer.Option(False, "--no-service", help="Generate in this process even when a "
                                                                          "'pocketstudio serve' of the data directory runs."),
             threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for generation "
                                                   "(default: the setting threads, else chosen from the model and the machine)."),
             tsa_url: Optional[str] = typer.Option(None, "--tsa-url", help="RFC 3161 time-stamp authority for "
                                                   "the signature (default: the setting tsa_url)."),
             home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Generate an image and release it only if every gate passes.

    The prompt, numbers, size, format and output path are checked before the model loads: the
    output must be a new file (or, with --force, an existing regular file). A running 'pocketstudio
    serve' of the same data directory generates with its warm model (same gates, same audit
    records) unless --no-service, or an option only this process has (--model, --lora, --reference,
    --policy, --device, --dtype, --offload, --threads, --database-url), is given."""
    from ..base.files import OUTPUT_SUFFIXES

    # No --format: the extension says it; an extension we do not write is refused by the studio.
    fmt = fmt or OUTPUT_SUFFIXES.get(output.suffix.lower(), "png")
    show = _progress(json_out)
    try:
        settings = _settings(home, default_requester=requester, default_purpose=purpose, policy_dir=policy,
                             policy_extends=policy_extends, database_url=database_url, threads=threads,
                             tsa_url=tsa_url, label=label, label_text=label_text, label_lang=label_lang)
        local_only = (model, lora, policy, policy_extends, dtype, offload, threads, database_url, tsa_url,
                      label, label_text, label_lang)
        if not no_service and not reference and device == "cpu" and all(v is None for v in local_only):
            result = _generate_via_service(settings, output, force, show, prompt=prompt, size=size, steps=steps,
                                           seed=seed, guidance=guidance, subject=subject, output_format=fmt)
            if result is not None:
                _print_release(result, json_out)
                return
        from .studio import GenerationRequest, Studio, parse_size  # GenerateExtraMissing on a base install

        def factory():
            if model is None and lora is None and device == "cpu" and dtype is None and offload is None:
                from ..generator.exported import load_embedded

                return load_embedded(settings.home / "cache")  # no diffusers import once exported
            from ..generator import load_generator

            return load_generator(model, device=device, dtype=dtype, lora=lora, lora_family=lora_family,
                                  offload=offload)

        from pocketstudio.safety.registry import load_image

        references = tuple(load_image(p) for p in reference)
        studio = Studio(settings, generator_factory=factory)
        studio.on_step = show.step
        from ..base.errors import ModelLoadError
        from ..generator.pipeline import model_family

        try:  # the request's steps, guidance and strength are checked against the family up front
            studio.model_family = model_family(model, lora, lora_family)
        except ModelLoadError:
            pass  # the same error comes when the model loads, after the output path and the gates' own checks
        request = GenerationRequest(prompt=prompt, requester=settings.default_requester,
                                    purpose=settings.default_purpose, size=parse_size(size), steps=steps,
                                    seed=seed, guidance=guidance, format=fmt, references=references,
                                    strength=strength, subject=subject)
        with show:
            release = studio.generate(request, output, overwrite=force)
    except PolicyDenied as exc:
        _denied(exc, json_out, "released")
    except ReleaseBlocked as exc:
        _fail(exc, json_out=json_out, message=f"{exc} — no file was written (decision {exc.decision_id})",
              released=False, decision_id=exc.decision_id, step=exc.step)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out, released=False)
    result = {"released": True, "path": str(release.path), "asset_id": release.asset_id,
              "decision_id": release.decision.decision_id, "effect": release.decision.effect,
              "rule_ids": list(release.decision.rule_ids), "audit_index": release.audit_index,
              "manifest": release.manifest_label, "watermark": release.watermark_alg,
              "model": release.model_name, "model_sha256": release.model_sha256,
              "seed": str(release.seed),  # 64-bit: a string, which every JSON reader keeps exact
              "steps": release.steps, "size": [release.width, release.height],
              "prompt_truncated": release.prompt_truncated,
              "prompt_tokens": {"given": release.prompt_tokens, "kept": release.prompt_tokens_kept},
              "compliance_warnings": list(release.compliance_warnings), "mime_type": release.mime_type}
    _print_release(result, json_out)


def _print_release(result: dict, json_out: bool) -> None:
    """A release as generate prints it, made in this process or by the service."""
    for gap in result.get("compliance_warnings", ()):
        err.print(f"[bold yellow]warning:[/] {gap}", highlight=False)
    if json_out:
        print(json.dumps(result))
        return
    width, height = result["size"]
    out.print(f"wrote {result['path']} ({width}x{height}, {result['mime_type']})")
    out.print(f"asset id: {result['asset_id']}")
    out.print(f"decision: {result['effect']} ({', '.join(result['rule_ids'])}) id {result['decision_id']}")
    out.print(f"model: {result['model']} sha256 {result['model_sha256'][:16]}… seed {result['seed']}, "
              f"{result['steps']} steps" + (" (warm service)" if result.get("via_service") else ""))
    if result["prompt_truncated"]:
        tokens = result["prompt_tokens"]
        out.print(f"note: the prompt has {tokens['given']} tokens; the text encoder read the first "
                  f"{tokens['kept']}, the rest did not steer the image")


class _Progress:
    """What generate is doing, on stderr while it runs (a terminal only; never with --json)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._status = None
        self._started = 0.0

    def __enter__(self):
        if self.enabled:
            import time

            self._started = time.perf_counter()
            self._status = err.status("checking the request…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc):
        if self._status is not None:
            self._status.__exit__(*exc)
            self._status = None

    _WORDS = {"prompt-check": "checking the prompt", "reference-check": "checking the references",
              "policy-pre": "policy", "generate": "generating", "upscale": "super-resolution",
              "output-check": "checking the output for registered faces", "policy-post": "policy, again",
              "watermark": "watermarking", "fingerprint": "fingerprinting", "sign": "signing the C2PA manifest",
              "store-manifest": "recording (manifest, audit log)", "publish": "writing the file"}

    def step(self, name: str) -> None:
        if self._status is not None:
            import time

            self._status.update(f"{self._WORDS.get(name, name)}… ({time.perf_counter() - self._started:.1f} s)")


def _progress(json_out: bool) -> _Progress:
    return _Progress(not json_out and err.is_terminal)


def _generate_via_service(settings: Settings, output: Path, force: bool, show: _Progress, **fields) -> Optional[dict]:
    """The release made by the data directory's running service, its file written here with the
    checks an in-process release gets; None when no service answers (then generate in-process).
    If the file cannot be written, the service is told, and its log records that (not published)."""
    from ..base.errors import ReleaseBlocked
    from ..base.files import check_output_path, output_format, publish
    from .local_service import ServiceUnavailable, find_service, generate_via, report_publish_failed

    service = find_service(settings)
    if service is None:
        return None
    output_format(output, fields["output_format"])
    check_output_path(output, force)
    body = {k: v for k, v in fields.items() if v is not None}
    body["purpose"] = settings.default_purpose
    try:
        with show:
            show.step("generate")
            remote = generate_via(service, body, settings.default_requester)
    except ServiceUnavailable:
        return None
    info = remote.info
    try:
        from ..base.store import stage_file

        tmp = stage_file(output.parent, output.name, remote.data, shared=True)
        try:
            publish(tmp, output, force)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except Exception as exc:  # noqa: BLE001 — any failure to write is reported to the log
        reason = str(exc) or type(exc).__name__
        try:
            report_publish_failed(service, info["decision_id"], reason)
        except Exception as report:  # noqa: BLE001
            reason += f"; and the service could not record that ({report})"
        raise ReleaseBlocked("publish", reason, info["decision_id"]) from exc
    return {"released": True, "path": str(output), **{k: v for k, v in info.items() if k != "compliance_warnings"},
            "compliance_warnings": info.get("compliance_warnings", []), "via_service": service.url}


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".gif", ".mpo"}
_COLOURS = {"trusted": "green", "recovered-via-watermark": "green", "valid-untrusted-signer": "yellow",
            "watermark-only": "yellow", "metadata-edited": "yellow"}


def _inputs(paths: list[Path]) -> list[Path | dict]:
    """Each input as a file to verify or, when it cannot be, an error row: a folder stands for the
    image files inside it (recursively, sorted); a path that does not exist, cannot be listed or
    read, or a folder without images is one row with status "error" and the reason."""
    from pocketstudio.provenance.batch import error_row
    from ..base.files import os_error_message

    items: list[Path | dict] = []
    for p in paths:
        try:
            is_dir = stat.S_ISDIR(os.stat(p).st_mode)
        except OSError as exc:
            items.append(error_row(p, os_error_message(p, exc)))
            continue
        if not is_dir:
            items.append(p)
            continue
        found: list[Path] = []
        problems: list[OSError] = []
        for root, _dirs, names in os.walk(p, onerror=problems.append):
            for name in names:
                f = Path(root, name)
                try:
                    regular = stat.S_ISREG(os.stat(f).st_mode)
                except OSError as exc:
                    problems.append(exc)
                    continue
                if regular and f.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(f)
        items += sorted(found)
        items += [error_row(e.filename or p, os_error_message(e.filename or p, e)) for e in problems]
        if not found and not problems:
            items.append(error_row(p, f"{p}: no image files in this folder"))
    return items


def _print_verdict(row: dict) -> None:
    colour = _COLOURS.get(row["status"], "red")
    out.print(f"[bold {colour}]{row['status']}[/]: {row['summary']}", highlight=False)
    if row.get("asset_id"):
        out.print(f"asset id: {row['asset_id']}")
    m = row.get("manifest") or {}
    if m:
        model = m.get("model") or {}
        out.print(f"generator: {', '.join(filter(None, m.get('claim_generator') or []))}; model: {model.get('name')} "
                  f"({(model.get('sha256') or '')[:16]}…); signer: {m.get('signer')} / {m.get('issuer')}")
        out.print(f"decision: {m.get('decision_id')}  source type: {m.get('digital_source_type')}  "
                  f"created: {m.get('created')}")
    for c in row.get("checks") or []:
        mark = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[dim]--[/]"}[c["ok"]]
        out.print(f"  {mark} {c['name']}: {c['summary']}", highlight=False)
    for regime, result in (row.get("compliance") or {}).items():
        unmet = [r["id"] for r in result["requirements"] if not r["met"]]
        colour = {"met": "green", "partial": "yellow"}.get(result["status"], "red")
        out.print(f"  [{colour}]{result['status']}[/] {regime}" + (f" (unmet: {', '.join(unmet)})" if unmet else ""),
                  highlight=False)


@app.command()
def verify(images: list[str] = typer.Argument(..., help="Image files, directories and/or http(s) URLs."),
           json_out: bool = typer.Option(False, "--json", help="Print JSON: one object for one file, a list with an "
                                                              "entry per file for several or a folder."),
           jsonl: bool = typer.Option(False, "--jsonl", help="Print one JSON verdict per line, as each file is done."),
           crjson: bool = typer.Option(False, "--crjson", help="Print the C2PA validation as Content Credentials "
                                                             "JSON (crJSON): one document per input, one per line "
                                                             "for several; not with --json/--jsonl."),
           trust: list[Path] = typer.Option([], "--trust", help="Extra PEM trust anchor file (repeatable)."),
           resolver: Optional[str] = typer.Option(None, "--resolver",
                                                  help="Recover stripped manifests from this C2PA Soft Binding "
                                                       "Resolution API (e.g. http://host:8000) instead of the local store."),
           online: bool = typer.Option(False, "--online", help="Allow C2PA network fetches (remote manifests, "
                                                               "OCSP revocation checks); off by default."),
           jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1,
                                              help="Worker processes for many files (default: one per core, "
                                                   "at most one per 4 files)."),
           allow_private_network: bool = typer.Option(False, "--allow-private-network",
                                                      help="Let a URL lead to a loopback, private or link-local "
                                                           "address (refused by default)."),
           home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Say where images came from: C2PA manifest, watermark, and the manifest recovered by it.

    Exit 0 when every image is trusted or recovered, 4 when any is not, 1 when any could not be
    verified. With --json / --jsonl every input gets an entry, also one that could not be read
    (status "error" and a reason); when the data directory itself is unusable (a corrupt database,
    unreadable keys) every input is such an entry, with that reason.
    """
    import functools

    from pocketstudio.provenance.batch import default_jobs, error_row, unexpected

    from .fetch import is_url

    items: list = []
    for raw in images:  # a URL stays text (a Path would fold its '//')
        items += [_UrlInput(raw)] if is_url(raw) else _inputs([Path(raw)])
    files = [i for i in items if isinstance(i, Path)]
    # One object for one input that is not a folder; a list (or lines) otherwise, whatever is found.
    single = len(images) == 1 and (is_url(images[0]) or not _is_dir(Path(images[0])))
    verifier = None
    if files or any(isinstance(i, _UrlInput) for i in items):
        try:
            settings = _with_trust(_settings(home, database_url=database_url), trust)
            verifier = _verifier(settings, resolver=resolver, online=online)
        except PocketStudioError as exc:
            reason = f"cannot verify: {exc}"
        except Exception as exc:  # noqa: BLE001 — an untyped failure still gets an entry per input, no traceback
            reason = f"cannot verify: {unexpected(exc)}"
        if verifier is None:
            items = [error_row(i, reason) if isinstance(i, (Path, _UrlInput)) else i for i in items]
            files = []
    fetcher = None
    if verifier is not None and any(isinstance(i, _UrlInput) for i in items):
        from .fetch import GuardedFetcher

        fetcher = GuardedFetcher(allow_private_network=allow_private_network)
    # URLs are fetched and verified here, in this process; nothing fetched is kept.
    items = [_url_row(verifier, fetcher, i, crjson) if isinstance(i, _UrlInput) else i for i in items]
    if crjson:
        _crjson_rows(verifier, items, single, json_out or jsonl)
        return
    jobs = min(jobs or default_jobs(len(files)), max(1, len(files)))
    # Each worker process builds its own verifier; with one job, the one already built serves.
    make = (lambda: verifier) if jobs == 1 else functools.partial(_verifier, settings, resolver=resolver, online=online)
    _verify_rows(make, jobs, items, files, single, json_out, jsonl)


class _UrlInput(str):
    """A verify input that names an http(s) URL."""


def _url_row(verifier, fetcher, url: str, crjson: bool) -> dict:
    """The verdict row (or crJSON document) of the image at ``url``, fetched by the guarded fetcher."""
    from pocketstudio.provenance.batch import error_row

    try:
        data = fetcher.fetch(url).data
        if crjson:
            return {"path": url, "crjson": verifier.crjson(data)}
        return {"path": url, **verifier.verify_bytes(data).to_json()}
    except PocketStudioError as exc:
        return error_row(url, str(exc))


def _crjson_rows(verifier, items: list, single: bool, exclusive: bool) -> None:
    """``verify --crjson``: each input's crJSON document (an input without one: an error object
    {"path", "error"} in its place, and exit 1)."""
    from ..base.errors import UsageError

    if exclusive:
        _fail(UsageError("--crjson prints crJSON documents; it cannot be combined with --json or --jsonl"))
    failed = False
    for item in items:
        if isinstance(item, dict) and "crjson" in item:
            doc = item["crjson"]
        elif isinstance(item, dict):
            doc = {"path": item["path"], "error": item.get("reason") or item.get("summary")}
        else:
            try:
                doc = verifier.crjson(item)
            except PocketStudioError as exc:
                doc = {"path": str(item), "error": str(exc)}
        failed = failed or "error" in doc and set(doc) == {"path", "error"}
        print(json.dumps(doc, indent=2 if single else None))
    if failed:
        raise typer.Exit(EXIT_ERROR)


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _verify_rows(make_verifier, jobs: int, items: list, files: list[Path], single: bool, json_out: bool,
                 jsonl: bool) -> None:
    """Verify ``files`` and print a row for every one of ``items`` (error rows as they are), in order."""
    import contextlib
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pocketstudio.provenance.batch import BatchVerifier
    from pocketstudio.provenance.verify import Status

    good = {Status.TRUSTED.value, Status.RECOVERED.value}
    results: list[dict] = []
    counts: Counter = Counter()
    with contextlib.ExitStack() as stack:
        # The workers start before the progress bar's thread does (they are forked).
        rows = iter(stack.enter_context(BatchVerifier(make_verifier, jobs)).rows(files)) if files else iter(())
        progress = stack.enter_context(Progress(
            TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.description}"), console=err, transient=True, disable=single))
        task = progress.add_task("", total=len(items))
        for item in items:
            row = item if isinstance(item, dict) else next(rows)
            counts[row["status"]] += 1
            results.append(row)
            if jsonl:
                print(json.dumps(row, default=str), flush=True)
            progress.update(task, advance=1, description=Path(row["path"]).name)
    if single:
        row = results[0]
        if json_out and not jsonl:
            print(json.dumps(row, indent=2, default=str))
        elif not jsonl:
            if row["status"] == "error":
                _fail(row["reason"])
            _print_verdict(row)
    else:
        if json_out and not jsonl:
            print(json.dumps(results, indent=2, default=str))
        elif not jsonl:
            table = Table("file", "verdict", "asset id", "why", title=f"{len(results)} images")
            for row in results:
                colour = _COLOURS.get(row["status"], "red")
                table.add_row(row["path"], f"[{colour}]{row['status']}[/]", row.get("asset_id") or "", row["summary"])
            out.print(table)
        summary = Table("verdict", "images", title="summary")
        for status, n in counts.most_common():
            summary.add_row(status, str(n))
        (err if (json_out or jsonl) else out).print(summary)
    if counts.get("error"):
        raise typer.Exit(EXIT_ERROR)
    if any(s not in good for s in counts):
        raise typer.Exit(EXIT_NOT_TRUSTED)


@app.command()
def serve(host: Optional[str] = typer.Option(None, help="Address to listen on, 0.0.0.0 for every interface "
                                                        "(default: the setting host, 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, help="TCP port (default: the setting port, 8000)."),
          max_bytes: Optional[int] = typer.Option(None, help="Largest upload accepted, in bytes, 413 above "
                                                             "(default: the setting max_bytes, 50 MiB)."),
          max_pixels: Optional[int] = typer.Option(None, help="Largest image accepted, in pixels, 422 above "
                                                              "(default: the setting max_pixels, 40 000 000)."),
          trust: list[Path] = typer.Option([], "--trust", help="Extra PEM trust anchor file (repeatable), e.g. the "
                                                               "C2PA trust list; added to the setting trust_anchor_files."),
          workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                                help="Worker processes: uploads verified at once (verification is "
                                                     "CPU-bound; one per core; default: the setting workers, 1)."),
          operator_token_file: Optional[Path] = typer.Option(
              None, "--operator-token-file", help="A file holding the operator's bearer token, which unlocks every "
                                                  "audit proof (else POCKETSTUDIO_OPERATOR_TOKEN, else the setting "
                                                  "operator_token_file; without any, only released images' proofs "
                                                  "are served)."),
          allowed_host: list[str] = typer.Option(
              [], "--allowed-host", help="Another name clients reach the service by, NAME or NAME:PORT (repeatable; "
                                         "replaces the setting allowed_hosts); requests naming any other host are "
                                         "refused (DNS rebinding). 127.0.0.1, localhost, [::1] and the --host "
                                         "address are always allowed."),
          fetch_urls: Optional[bool] = typer.Option(None, "--fetch-urls/--no-fetch-urls",
                                                    help="Verify images by URL too (the page's URL field, 'url' in "
                                                         "the API), through the guarded fetcher; default: the setting "
                                                         "verify_fetch_urls, off."),
          threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for generation "
                                                "(default: the setting threads, else chosen from the model and the machine)."),
          home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Serve the verifier (web page at /, POST /v1/verify, the C2PA Soft Binding Resolution API, audit proofs)
    and generation with a warm model (the OpenAI Images API: POST /v1/images/generations with a token
    from 'pocketstudio token create'; 'pocketstudio generate' uses it too)."""
    from .exposure import HostCheck
    from .server import Limits, run as run_server

    try:
        settings = _with_trust(_settings(home, host=host, port=port, max_bytes=max_bytes, max_pixels=max_pixels,
                                         workers=workers, allowed_hosts=allowed_host or None,
                                         operator_token_file=operator_token_file, threads=threads, database_url=database_url,
                                         verify_fetch_urls=fetch_urls), trust)
        # A malformed allowed host is an error before anything starts.
        HostCheck.serving(settings.host, settings.port, settings.allowed_hosts)
        from pocketstudio.provenance.keys import KeyStore

        KeyStore(settings).trust_anchors_pem()  # an unreadable anchor file is an error now, not per request
        token = _operator_token(settings)
        err.print(f"pocketstudio on http://{settings.host}:{settings.port}/: verifier, generation at /v1 "
                  f"(OpenAI Images API), API docs at /docs; "
                  f"data directory {settings.home}"
                  + (f"; {settings.workers} worker processes" if settings.workers > 1 else ""))
        run_server(settings, settings.host, settings.port,
                   Limits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels), settings.workers, token,
                   allowed_hosts=settings.allowed_hosts)
    except PocketStudioError as exc:
        _fail(exc)


def _operator_token(settings: Settings) -> Optional[str]:
    """The operator's token, by the one rule: --operator-token-file, then POCKETSTUDIO_OPERATOR_TOKEN
    (None here: the server reads it), then the operator_token_file setting (environment or file)."""
    from .server import OPERATOR_TOKEN_ENV

    path = settings.operator_token_file
    if path is None or settings.source("operator_token_file") != "flag" and os.environ.get(OPERATOR_TOKEN_ENV):
        return None
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the operator token file {path}: {exc}") from None
    if len(token) < 16:
        raise ConfigError(f"the operator token in {path} is shorter than 16 characters")
    return token


@audit_app.command("list")
def audit_list(effect: Optional[str] = typer.Option(None, help="allow or deny"),
               since: Optional[str] = typer.Option(None, help="ISO time, inclusive"),
               until: Optional[str] = typer.Option(None, help="ISO time, exclusive"),
               rule: Optional[str] = typer.Option(None, help="Only records a rule with this @id decided"),
               json_out: bool = typer.Option(False, "--json"), home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """List audit records, oldest first."""
    try:
        # A filter that cannot match is a mistake to report (exit 2), not an empty table.
        if effect is not None and effect not in ("allow", "deny"):
            raise UsageError(f"--effect must be allow or deny, not {effect!r}")
        since = _iso_filter("--since", since)
        until = _iso_filter("--until", until)
        records = _audit_log(home, database_url).records(effect=effect, since=since, until=until, rule=rule)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    if json_out:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return
    table = Table("index", "time", "kind", "id", "effect", "outcome / event", "rules", "asset")
    for r in records:
        table.add_row(str(r.index), r.created_at[:19], r.kind, r.entry_id[:14], r.effect or "",
                      r.outcome or r.record.get("event", ""), ",".join(r.record.get("rule_ids", [])), r.asset_id or "")
    out.print(table)


@audit_app.command("show")
def audit_show(ref: str = typer.Argument(..., help="Decision or entry id (or the start of one, as 'audit list' shows it), or an asset id."),
               json_out: bool = typer.Option(False, "--json"), home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Show one audit record (and whether its commitments can still be opened)."""
    try:
        log = _audit_log(home, database_url)
        record = log.get(ref)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    shown = record.to_json()
    try:
        details = log.details(record)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    shown["openable"] = details is not None and bool(record.record.get("commitments"))
    if details is not None:  # the operator's view: the clear text behind the commitments
        shown["opened"] = {k: v for k, v in details.items() if k not in record.record}
    if record.kind == "decision":
        shown["amendments"] = [a.to_json() for a in log.amendments(record.decision_id)]
    print(json.dumps(shown, indent=2))


@audit_app.command("verify")
def audit_verify(checkpoint: list[Path] = typer.Option([], "--checkpoint", help="A checkpoint of this log saved "
                                                     "earlier (a signed note, e.g. from 'audit checkpoint' or "
                                                     "/v1/audit/checkpoint): the log must still contain it (repeatable)."),
                 home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Recompute the tree, check every record signature, checkpoint and their consistency, the
    checkpoint kept beside the keys (truncation), and the manifests and consent rows against their leaves."""
    try:
        notes = [p.read_text() for p in checkpoint]
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the checkpoint file: {exc}")
    try:
        result = _audit_log(home, database_url).verify(notes)
    except PocketStudioError as exc:
        _fail(f"audit log does NOT verify: {exc}")
    kept = result["kept_checkpoint"]
    out.print(f"audit log intact: {result['records']} records, {result['checkpoints']} checkpoints, root {result['root']}; "
              + (f"contains the checkpoint kept beside the keys (size {kept})" if kept is not None
                 else "no checkpoint is kept beside the keys yet (truncation of the tail cannot be ruled out)")
              + (f"; consistent with {len(notes)} given checkpoint(s)" if notes else ""))


@audit_app.command("checkpoint")
def audit_checkpoint(home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Sign a checkpoint of the log as it is now and print it (a C2SP signed note)."""
    try:
        _, note = _audit_log(home, database_url).checkpoint(dt.datetime.now(dt.timezone.utc))
    except PocketStudioError as exc:
        _fail(exc)
    sys.stdout.write(note)


@audit_app.command("prove")
def audit_prove(ref: str = typer.Argument(..., help="Asset id, decision id, sequence number or an image file."),
                output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the bundle here."),
                tlog_proof: bool = typer.Option(False, "--tlog-proof", help="Write a c2sp.org/tlog-proof@v1 text "
                                                "proof (the record in its extra line) instead of the JSON bundle."),
                home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Write an offline proof bundle: the record, its inclusion proof and a signed checkpoint."""
    try:
        log = _audit_log(home, database_url)
        if Path(ref).is_file():
            ref = _asset_of_image(Path(ref), home)
        if tlog_proof:
            from pocketstudio.policy.tiles import tlog_proof as make_tlog_proof

            text = make_tlog_proof(log, ref)
            if output:
                output.write_text(text)
                out.print(f"wrote {output} (c2sp.org/tlog-proof@v1); log key: {log.verifier.to_text()}")
            else:
                sys.stdout.write(text)
            return
        bundle = log.prove(ref, dt.datetime.now(dt.timezone.utc))
    except PocketStudioError as exc:
        _fail(exc)
    text = json.dumps(bundle, indent=2)
    if output:
        output.write_text(text)
        out.print(f"wrote {output} (leaf {bundle['leaf_index']} of {bundle['tree_size']}); log key: {bundle['log_key']}")
    else:
        print(text)


def _witness_policy(home: Optional[Path], witness: list[str], quorum: Optional[int], policy_file: Optional[Path]):
    """The witness policy a command checks cosignatures against: the --witness keys (one group of
    --quorum of them), else the policy file (--witness-policy, then the setting witness_policy),
    else none. Two sources at once would leave one silently unused, so that is a usage error."""
    from pocketstudio.policy.cosignature import WitnessPolicy

    if witness:
        if policy_file is not None:
            raise UsageError("give --witness keys or --witness-policy FILE, not both")
        return WitnessPolicy.from_keys(witness, quorum)
    if quorum is not None:
        raise UsageError("--quorum counts --witness keys; a policy file says its quorum itself")
    path = _settings(home, witness_policy=policy_file).witness_policy
    return WitnessPolicy() if path is None else WitnessPolicy.load(path)


@audit_app.command("verify-proof")
def audit_verify_proof(bundle: Path = typer.Argument(..., help="A bundle from 'audit prove' (JSON, or a "
                                                             "c2sp.org/tlog-proof@v1 text proof)."),
                       key: Path = typer.Option(..., "--key", help="The log's public key (keys/audit-log.pub)."),
                       witness: list[str] = WitnessOpt, quorum: Optional[int] = QuorumOpt,
                       witness_policy: Optional[Path] = WitnessPolicyOpt,
                       json_out: bool = typer.Option(False, "--json", help="Print the result (or the error) as JSON."),
                       home: Optional[Path] = HomeOpt):
    """Check a proof bundle offline with nothing but the log's public key (and a witness policy)."""
    from pocketstudio.policy.audit import verify_proof_bundle
    from pocketstudio.policy.checkpoint import CheckpointError, NoteVerifier
    from pocketstudio.policy.tiles import PROOF_HEADER, verify_tlog_proof

    try:
        policy = _witness_policy(home, witness, quorum, witness_policy)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out, verified=False)
    try:
        verifier = NoteVerifier.from_text(key.read_text())
        text = bundle.read_text()
        if text.startswith(PROOF_HEADER):
            proven = verify_tlog_proof(text, verifier, policy)
            index, size, record, witnesses = proven["index"], proven["tree_size"], proven["record"], proven["witnesses"]
        else:
            bundle_doc = json.loads(text)
            record = verify_proof_bundle(bundle_doc, verifier)
            witnesses = policy.check(bundle_doc["checkpoint"], verifier)
            index, size = bundle_doc["leaf_index"], bundle_doc.get("tree_size")
    except (OSError, ValueError, KeyError, TypeError, CheckpointError, PocketStudioError) as exc:
        _fail(exc, json_out=json_out, message=f"proof does NOT verify: {exc}", verified=False)
    if json_out:
        print(json.dumps({"verified": True, "log_origin": record["log_origin"], "leaf_index": index, "tree_size": size,
                          "witnesses": witnesses, "record": record}, indent=2))
        return
    out.print(f"proof verifies: {record.get('kind', 'decision')} {record.get('decision_id') or record.get('entry_id')} "
              f"({record.get('effect') or record.get('event')}, {record.get('outcome') or record.get('amends') or ''}) "
              f"is leaf {index} of log {record['log_origin']}"
              + (f"; cosigned by {', '.join(witnesses)}" if witnesses else ""))


@audit_app.command("add-cosignatures")
def audit_add_cosignatures(notes: list[Path] = typer.Argument(..., help="Checkpoints of this log as witnesses "
                                                                       "returned them, cosigned (C2SP signed notes)."),
                           json_out: bool = typer.Option(False, "--json", help="Print the result (or the error) as JSON."),
                           home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Keep witnesses' cosignatures on the stored checkpoints (after checking each note is this log's
    own checkpoint of its own history), so proofs, replicas and verifiers with a witness policy use them."""
    from ..base.files import read_input

    kept = []
    try:
        log = _audit_log(home, database_url)
        for note in notes:
            cp, added = log.add_cosignatures(read_input(note, 1 << 20).decode("utf-8"))  # a note is small
            kept.append({"file": str(note), "size": cp.size, "new_signature_lines": added})
    except UnicodeDecodeError as exc:
        _fail(f"{note} is not a signed note (UTF-8 text): {exc}", json_out=json_out, kept=kept)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out, kept=kept)
    if json_out:
        print(json.dumps({"kept": kept}, indent=2))
        return
    for k in kept:
        out.print(f"{k['file']}: checkpoint of {k['size']} leaves, {k['new_signature_lines']} new signature line(s) kept")


@audit_app.command("publish")
def audit_publish(directory: Path = typer.Argument(..., help="Folder to write (or bring up to date) the static "
                                                             "files in; serve it with any web server."),
                  home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Publish the log as C2SP tlog-tiles: a signed checkpoint, hash tiles and entry bundles holding
    exactly the public leaf records; full tiles are written once, so a later run adds only what is new."""
    from pocketstudio.policy.tiles import publish

    try:
        log = _audit_log(home, database_url)
        done = publish(log, directory, dt.datetime.now(dt.timezone.utc))
    except OSError as exc:
        _fail(f"cannot write to {directory}: {exc.strerror or exc}")
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"published {done.size} leaves to {directory}: {done.tiles_written} tile(s) and {done.bundles_written} "
              f"entry bundle(s) written; log key: {log.verifier.to_text()}", highlight=False)


@audit_app.command("monitor")
def audit_monitor(checkpoint: Path = typer.Option(..., "--checkpoint", help="The checkpoint this monitor saved last "
                                                  "time (missing: the first look, trusted as found); replaced by the new one."),
                  tiles: str = typer.Option(..., "--tiles", help="Where the log is published: a folder or an http(s) URL."),
                  key: Path = typer.Option(..., "--key", help="The log's public key (keys/audit-log.pub)."),
                  witness: list[str] = WitnessOpt, quorum: Optional[int] = QuorumOpt,
                  witness_policy: Optional[Path] = WitnessPolicyOpt,
                  json_out: bool = typer.Option(False, "--json", help="Print the result (or the error) as JSON."),
                  home: Optional[Path] = HomeOpt):
    """Check that a published log only grew since the saved checkpoint (a consistency proof built from
    its tiles; a truncated or rewritten log fails), that its new entries are the log's own, and save
    the new checkpoint."""
    from pocketstudio.core.base.keys import write_public
    from pocketstudio.policy.checkpoint import CheckpointError, NoteVerifier
    from pocketstudio.policy.tiles import TileSource, monitor

    try:
        policy = _witness_policy(home, witness, quorum, witness_policy)
        verifier = NoteVerifier.from_text(key.read_text())
        saved = checkpoint.read_text() if checkpoint.exists() else None
    except (OSError, UnicodeDecodeError, CheckpointError, PocketStudioError) as exc:
        _fail(exc, json_out=json_out, message=f"cannot start the monitor: {exc}", passed=False)
    try:
        result = monitor(saved, TileSource(tiles), verifier, policy)
        write_public(checkpoint, result.note.encode())
    except OSError as exc:
        _fail(exc, json_out=json_out, message=f"cannot save the checkpoint in {checkpoint}: {exc.strerror or exc}",
              passed=False)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out, message=f"the published log does NOT pass: {exc}", passed=False)
    if json_out:
        print(json.dumps({"passed": True, "origin": result.checkpoint.origin, "old_size": result.old_size,
                          "size": result.checkpoint.size, "new_entries": result.new_entries,
                          "witnesses": list(result.witnesses), "saved": str(checkpoint)}, indent=2))
        return
    out.print(f"log {result.checkpoint.origin} grew append-only from {result.old_size} to {result.checkpoint.size} leaves "
              f"({result.new_entries} new entries checked)"
              + (f"; cosigned by {', '.join(result.witnesses)}" if result.witnesses else "")
              + f"; saved the new checkpoint in {checkpoint}", highlight=False)


@audit_app.command("forget")
def audit_forget(ref: str = typer.Argument(..., help="Decision id, asset id or sequence number."),
                 home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Delete the salts and clear text behind a record; the log and its proofs stay valid."""
    try:
        record = _audit_log(home, database_url).forget(ref)
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"forgot the openings of decision {record.decision_id}; its commitments can no longer be opened")


def _audit_log(home, database_url: Optional[str] = None):
    from .home import DataHome

    settings = _settings(home, database_url=database_url)
    if not settings.database_url and not settings.db_path.exists():
        raise ConfigError(f"no database at {settings.db_path}; run 'pocketstudio init' first")
    return DataHome(settings).audit


def _asset_of_image(path: Path, home) -> str:
    verdict = _verifier(_settings(home)).verify_bytes(path.read_bytes())
    if not verdict.asset_id:
        raise PocketStudioError(f"{path} carries no manifest or watermark that names an asset")
    return verdict.asset_id


def _verifier(settings, resolver: Optional[str] = None, online: bool = False):
    # Read-only: a writer holding the database never blocks verification, which creates nothing.
    from pocketstudio.provenance.verify import Verifier

    return Verifier.open(settings, resolver=resolver, online=online)


@app.command()
def timestamp(pending: bool = typer.Option(..., "--pending", help="Time-stamp the stored manifests released "
                                           "without one (required: the only mode)."),
              tsa_url: Optional[str] = typer.Option(None, "--tsa-url", help="RFC 3161 time-stamp authority "
                                                    "(default: the setting tsa_url)."),
              json_out: bool = typer.Option(False, "--json", help="Print one JSON object per manifest."),
              home: Optional[Path] = HomeOpt, database_url: Optional[str] = DbOpt):
    """Add the RFC 3161 time-stamp to manifests released while the TSA was unreachable, while their
    signing certificate is still valid: the stored manifest (what a stripped copy recovers) gets
    an update manifest carrying it, and the audit log a 'time-stamped' leaf with its new hash."""
    from pocketstudio.provenance.resolution import ManifestRepository
    from pocketstudio.provenance.timestamping import PendingArchives, stamp_pending
    from pocketstudio.provenance.verify import trust_context

    from .home import DataHome

    try:
        settings = _settings(home, tsa_url=tsa_url, database_url=database_url)
        if not settings.tsa_url:
            raise ConfigError("no time-stamp authority: give --tsa-url or set tsa_url")
        if not settings.database_url and not settings.db_path.exists():
            raise ConfigError(f"no database at {settings.db_path}; run 'pocketstudio init' first")
        data = DataHome(settings)
        outcomes = stamp_pending(ManifestRepository(data.store), data.audit, PendingArchives(settings.home),
                                 data.keys.claim_signer(), settings.tsa_url, trust_context(data.keys))
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    for o in outcomes:
        if json_out:
            print(json.dumps({"asset_id": o.asset_id, "decision_id": o.decision_id, "status": o.status,
                              "detail": o.detail, "manifest_sha256": o.manifest_sha256, "audit_index": o.audit_index}))
        else:
            out.print(f"{o.asset_id}  {o.status}: {o.detail}" + (f" (audit leaf {o.audit_index})" if o.audit_index is not None else ""),
                      highlight=False)
    if not outcomes and not json_out:
        out.print("no manifest is waiting for a time-stamp")
    if any(o.status == "unreachable" for o in outcomes):
        raise typer.Exit(EXIT_ERROR)


@keys_app.command("import")
def keys_import(chain: Path = typer.Option(..., help="PEM chain, leaf first."),
                key: Path = typer.Option(..., help="PEM private key of the leaf."),
                key_password: Optional[str] = typer.Option(None, envvar="POCKETSTUDIO_IMPORT_KEY_PASSWORD",
                                                           help="Password of the key file, if encrypted."),
                home: Optional[Path] = HomeOpt):
    """Sign with your own claim-signing certificate chain and key; its root becomes trusted.

    A chain that would not validate is refused; one that validates but falls short of the C2PA
    conformance certificate profile is imported with a warning per shortfall."""
    from pocketstudio.provenance.keys import KeyStore, chain_warnings

    try:
        keys = KeyStore(_settings(home))
        leaf = keys.import_chain(chain.read_bytes(), key.read_bytes(), key_password.encode() if key_password else None)
        warnings = chain_warnings(keys.chain())
    except (OSError, PocketStudioError) as exc:
        _fail(exc)
    out.print(f"imported claim signer: {leaf.subject.rfc4514_string()} (valid until {leaf.not_valid_after_utc:%Y-%m-%d})")
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if not warnings:
        out.print("the chain follows the C2PA conformance certificate profile (claim signing EKU, c2pa-cpl-record, "
                  "assurance level, OCSP responder, leaf valid for at most 366 days)")


@keys_app.command("use-pkcs11")
def keys_use_pkcs11(module: Path = typer.Option(..., help="The token's PKCS#11 module (.so), e.g. "
                                                       "/usr/lib/softhsm/libsofthsm2.so."),
                    token: str = typer.Option(..., help="The token's label."),
                    label: str = typer.Option(..., help="The label of the EC P-256 key pair on the token."),
                    chain: Optional[Path] = typer.Option(None, help="PEM chain of the token's key, leaf first "
                                                         "(default: a leaf the local root issues)."),
                    home: Optional[Path] = HomeOpt):
    """Sign with an ECDSA P-256 key that stays on a PKCS#11 token (HSM, smart card, SoftHSM2).

    The user PIN comes from POCKETSTUDIO_PKCS11_PIN, here and at each release; it is never stored.
    The token signs once now, so a wrong module, token, PIN or key is refused before any release."""
    from pocketstudio.provenance.keys import KeyStore, chain_warnings
    from pocketstudio.provenance.pkcs11 import Pkcs11Config

    try:
        keys = KeyStore(_settings(home))
        config = Pkcs11Config(module=str(module.absolute()), token=token, label=label)
        leaf = keys.use_pkcs11(config, chain.read_bytes() if chain else None)
        warnings = chain_warnings(keys.chain()) if chain else []
    except OSError as exc:
        _fail(f"cannot read {chain}: {exc.strerror or exc}")
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"claim signing now uses {config.describe()}: {leaf.subject.rfc4514_string()} "
              f"(valid until {leaf.not_valid_after_utc:%Y-%m-%d}); 'pocketstudio keys use-local' switches back",
              highlight=False)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)


@keys_app.command("use-local")
def keys_use_local(home: Optional[Path] = HomeOpt):
    """Sign with the local key file again (after 'keys use-pkcs11')."""
    from pocketstudio.provenance.keys import KeyStore

    try:
        keys = KeyStore(_settings(home))
        keys.use_local()
        leaf = keys.chain()[0]
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"claim signing uses the local key file again: {leaf.subject.rfc4514_string()}", highlight=False)


@keys_app.command("show")
def keys_show(home: Optional[Path] = HomeOpt):
    """Show the claim-signing chain in use and where its key lives."""
    from pocketstudio.provenance.keys import CLAIM_KEY, KeyStore

    try:
        keys = KeyStore(_settings(home))
        chain = keys.chain()
        config = keys.pkcs11_config()
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"key: in a PKCS#11 token, {config.describe()}" if config else
              f"key: local key file {keys.dir / CLAIM_KEY} (encrypted at rest)", highlight=False)
    for cert in chain:
        out.print(f"{cert.subject.rfc4514_string()}  issuer={cert.issuer.rfc4514_string()}  "
                  f"valid {cert.not_valid_before_utc:%Y-%m-%d}..{cert.not_valid_after_utc:%Y-%m-%d}")


FleetPassphrase = typer.Option(..., "--passphrase", envvar="POCKETSTUDIO_FLEET_PASSPHRASE", prompt="Fleet passphrase",
                               hide_input=True, help="Seals the fleet key file (at least 12 characters; asked when "
                                                     "not given)")


@keys_app.command("export-fleet")
def keys_export_fleet(file: Path = typer.Argument(..., help="Where to write the sealed fleet key file (new file)."),
                      passphrase: str = FleetPassphrase, home: Optional[Path] = HomeOpt):
    """Write this data directory's audit-log, watermark and registry keys (and the trust anchors of
    the fleet's devices), sealed with a passphrase, for 'keys import-fleet' on the other devices."""
    from pocketstudio.provenance.fleet import export_fleet
    from pocketstudio.provenance.keys import KeyStore

    try:
        blob = export_fleet(KeyStore(_settings(home)), passphrase)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
    except FileExistsError:
        _fail(f"{file} exists; refusing to overwrite it")
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror or exc}")
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"wrote the fleet key file {file}: give it, and the passphrase by another way, to each device; "
              "they run 'pocketstudio keys import-fleet' before 'init --database-url'")


@keys_app.command("import-fleet")
def keys_import_fleet(file: Path = typer.Argument(..., help="A file from 'keys export-fleet'."),
                      passphrase: str = FleetPassphrase, home: Optional[Path] = HomeOpt):
    """Join a fleet: its audit-log key and log origin, watermark and registry keys; its devices'
    roots become trust anchors. This device keeps (or makes) its own claim-signing chain."""
    from pocketstudio.provenance.fleet import import_fleet
    from pocketstudio.provenance.keys import KeyStore

    try:
        blob = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        summary = import_fleet(KeyStore(_settings(home)), blob, passphrase)
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"joined the fleet of audit log {summary['audit_origin']}; {summary['trust_anchors_added']} "
              "trust anchor(s) added")


def _consent_parts(home):
    from .home import DataHome

    data = DataHome.open(home)
    return data.registry, data.consent


def _iso_filter(option: str, value: Optional[str]) -> Optional[str]:
    """A --since / --until value as the log's UTC ISO time; a malformed one is a UsageError."""
    if value is None:
        return None
    try:
        return _when(value, dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat()
    except PocketStudioError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _when(value: Optional[str], default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise PocketStudioError(f"{value!r} is not an ISO date or time (e.g. 2027-01-31 or 2027-01-31T12:00+00:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@consent_app.command("enroll")
def consent_enroll(name: str = typer.Option(..., "--name", help="Full name as it would appear in prompts."),
                   alias: list[str] = typer.Option([], "--alias", help="Another name or nickname (repeatable)."),
                   photo: list[Path] = typer.Option([], "--photo", help="Enrolment photo with exactly one face (repeatable)."),
                   key_out: Optional[Path] = typer.Option(None, "--key-out", help="Create the person's signing key here (they keep it)."),
                   public_key: Optional[str] = typer.Option(None, "--public-key", help="The person's own Ed25519 public key (base64)."),
                   form: list[str] = typer.Option([], "--form", help="A short form the person is also found by: "
                                                  "initial-surname, surname or nickname:TEXT (repeatable; 'none': no "
                                                  "short form; default: initial-surname for a distinctive surname)."),
                   home: Optional[Path] = HomeOpt):
    """Register a likeness: names for prompt checks, face templates (photos are not kept), the person's key."""
    from cryptography.hazmat.primitives import serialization

    from pocketstudio.safety.registry import load_image, new_person_key, parse_forms

    try:
        forms = parse_forms(form) if form else None
        registry, _ = _consent_parts(home)
        images = [load_image(p) for p in photo]
        private = None
        if key_out is not None:
            if key_out.exists():
                raise PocketStudioError(f"{key_out} exists; refusing to overwrite a key")
            private, public_key = new_person_key()
        person = registry.register(name, alias, public_key=public_key, photos=images, photo_names=[str(p) for p in photo],
                                   forms=forms)
        if private is not None:
            fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"registered {person.person_id}: {len(photo)} face template(s), {len(person.aliases)} alias(es)"
              + (f"; signing key written to {key_out} (give it to the person; it is not kept here)" if key_out else ""))


@consent_app.command("update")
def consent_update(person_id: str = typer.Argument(...),
                   form: list[str] = typer.Option([], "--form", help="The person's short forms, replacing the "
                                                  "current ones: initial-surname, surname, nickname:TEXT (repeatable) or none."),
                   alias: Optional[list[str]] = typer.Option(None, "--alias", help="The person's aliases, replacing the current ones (repeatable)."),
                   home: Optional[Path] = HomeOpt):
    """Change a registered person's short forms or aliases (a re-enrolment event goes into the log)."""
    from pocketstudio.safety.registry import parse_forms

    try:
        if not form and alias is None:
            raise UsageError("nothing to change: give --form and/or --alias")
        registry, _ = _consent_parts(home)
        person = registry.update(person_id, aliases=alias, forms=parse_forms(form) if form else None)
    except PocketStudioError as exc:
        _fail(exc)
    forms = "defaults" if person.forms is None else ", ".join(f.spec() for f in person.forms) or "none"
    out.print(f"updated {person.person_id}: {len(person.aliases)} alias(es), short forms: {forms}")


@consent_app.command("grant")
def consent_grant(person_id: str = typer.Argument(...),
                  key: Path = typer.Option(..., "--key", help="The person's signing key (PEM)."),
                  grantee: str = typer.Option(..., "--grantee", help="Requester id allowed, or '*' for anyone."),
                  purpose: list[str] = typer.Option(..., "--purpose", help="Purpose allowed (repeatable)."),
                  not_before: Optional[str] = typer.Option(None, "--from", help="ISO start (default now)."),
                  not_after: str = typer.Option(..., "--until", help="ISO end (exclusive)."),
                  home: Optional[Path] = HomeOpt):
    """Record a consent grant signed with the person's key."""
    from cryptography.hazmat.primitives import serialization

    try:
        _, book = _consent_parts(home)
        try:
            private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise PocketStudioError(f"cannot read the person's key {key}: {exc}") from exc
        now = dt.datetime.now(dt.timezone.utc)
        grant = book.grant(person_id, private, grantee=grantee, purposes=purpose,
                           not_before=_when(not_before, now), not_after=_when(not_after, now), now=now)
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"granted {grant.grant_id}: {grant.grantee} may depict {person_id} for {', '.join(grant.purposes)} "
              f"from {grant.not_before.isoformat()} until {grant.not_after.isoformat()}")


@consent_app.command("revoke")
def consent_revoke(grant_id: str = typer.Argument(...), home: Optional[Path] = HomeOpt):
    """Revoke a grant; the next request is decided without it."""
    try:
        _, book = _consent_parts(home)
        grant = book.revoke(grant_id, dt.datetime.now(dt.timezone.utc))
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"revoked {grant.grant_id} at {grant.revoked_at.isoformat()}")


@consent_app.command("list")
def consent_list(person: Optional[str] = typer.Option(None, "--person"), json_out: bool = typer.Option(False, "--json"),
                 home: Optional[Path] = HomeOpt):
    """List registered people (ids, template counts) and their grants."""
    try:
        registry, book = _consent_parts(home)
        now = dt.datetime.now(dt.timezone.utc)
        people = [p for p in registry.all() if person in (None, p.person_id)]
        rows = [{"person_id": p.person_id, "grants": [
            {"grant_id": g.grant_id, "grantee": g.grantee, "purposes": list(g.purposes), "status": g.status(now),
             "not_after": g.not_after.isoformat()} for g in book.list(p.person_id)]} for p in people]
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table("person", "grant", "grantee", "purposes", "status", "until")
    for row in rows:
        for g in row["grants"] or [{}]:
            table.add_row(row["person_id"], g.get("grant_id", "-"), g.get("grantee", ""), ",".join(g.get("purposes", [])),
                          g.get("status", ""), g.get("not_after", "")[:19])
    out.print(table)


@consent_app.command("show")
def consent_show(ref: str = typer.Argument(..., help="A person id or a grant id."), home: Optional[Path] = HomeOpt):
    """Show a registered person (names, aliases, template count, grants) or one grant."""
    from pocketstudio.safety.consent import ConsentError

    registry, book = _consent_parts(home)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        if ref.startswith("grant_"):
            g = book.get(ref)
            print(json.dumps({"grant_id": g.grant_id, "person_id": g.person_id, "grantee": g.grantee,
                              "purposes": list(g.purposes), "not_before": g.not_before.isoformat(),
                              "not_after": g.not_after.isoformat(), "status": g.status(now),
                              "signature_valid": g in book.verified(g.person_id)}, indent=2))
            return
        p = registry.get(ref)
    except (ConsentError, PocketStudioError) as exc:
        _fail(exc)
    print(json.dumps({"person_id": p.person_id, "display_name": p.display_name, "aliases": list(p.aliases),
                      "forms": None if p.forms is None else [f.spec() for f in p.forms],
                      "has_key": p.public_key is not None,
                      "grants": [g.grant_id for g in book.list(p.person_id)]}, indent=2))


def _subject_book(home):
    from .home import DataHome

    return DataHome.open(home).subjects


@subject_app.command("create")
def subject_create(name: str = typer.Argument(..., help="The subject's name, as prompts will say it (a-z, 0-9, _ or -)."),
                   image: list[Path] = typer.Option(..., "--image", help="Reference image (repeatable, 1-8); each is face-checked first."),
                   steps: int = typer.Option(300, help="Optimisation steps (the default takes about a minute on 2 CPU cores)."),
                   vectors: int = typer.Option(8, help="Embedding vectors of the subject's token."),
                   seed: int = typer.Option(0, help="Seed of the augmentations and the optimisation."),
                   model: Optional[Path] = typer.Option(None, help="Learn on this diffusers LCM folder instead of the embedded model."),
                   device: str = typer.Option("cpu", help="cpu or cuda."),
                   threads: int = typer.Option(1, help="CPU threads while learning (1: fastest on a machine shared with other work). "
                                            "The same references, seed and thread count learn the same vectors."),
                   requester: Optional[str] = typer.Option(None, help="Who asks (default: settings)."),
                   purpose: Optional[str] = typer.Option(None, help="What for (consent is per purpose)."),
                   json_out: bool = typer.Option(False, "--json", help="Print the subject as JSON."),
                   home: Optional[Path] = HomeOpt):
    """Learn a subject (textual inversion of a new token) from reference images; the references
    pass the likeness and consent checks first, and nothing is stored unless they do."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pocketstudio.safety.registry import load_image
    from ..generator.subject import LearnSettings
    from .studio import Studio, SubjectRequest

    try:
        settings = _settings(home, default_requester=requester, default_purpose=purpose)

        def factory():
            from ..generator import load_generator

            return load_generator(model, device=device)

        images = tuple(load_image(p) for p in image)
        studio = Studio(settings, generator_factory=factory)
        request = SubjectRequest(name=name, images=images, requester=settings.default_requester,
                                 purpose=settings.default_purpose,
                                 learn=LearnSettings(steps=steps, vectors=vectors, seed=seed))
        with Progress(TextColumn("learning"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.description}"),
                      TimeRemainingColumn(), console=err, transient=True, disable=json_out) as bar:
            task = bar.add_task("", total=steps)

            def progress(done, total, loss):
                bar.update(task, completed=done, description=f"{loss:.4f}")

            record = studio.create_subject(request, progress=progress, threads=threads)
    except PolicyDenied as exc:
        _denied(exc, json_out, "created")
    except ReleaseBlocked as exc:
        _fail(exc, json_out=json_out, message=f"{exc} — no subject was stored (decision {exc.decision_id})",
              created=False, decision_id=exc.decision_id, step=exc.step)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out, created=False)
    if json_out:
        print(json.dumps({"created": True, **record.to_json()}))
        return
    out.print(f"learned subject {record.name!r} ({record.subject_id}): {record.vectors} vectors, "
              f"{record.training['seconds']:.0f} s, final loss {record.training['final_loss']:.4f}")
    out.print(f"embedding sha256 {record.embedding_sha256}; model {record.model_name} ({record.model_sha256[:16]}…)")
    out.print(f"use it: pocketstudio generate --subject {record.name} \"{record.name} on the left, on a blue background\" -o out.png")


@subject_app.command("list")
def subject_list(json_out: bool = typer.Option(False, "--json"), home: Optional[Path] = HomeOpt):
    """List learned subjects."""
    try:
        records = _subject_book(home).list()
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    if json_out:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return
    table = Table("name", "id", "vectors", "references", "model", "created")
    for r in records:
        table.add_row(r.name, r.subject_id, str(r.vectors), str(len(r.reference_sha256s)),
                      f"{r.model_name} {r.model_sha256[:12]}…", r.created_at[:19])
    out.print(table)


@subject_app.command("show")
def subject_show(name: str = typer.Argument(...), home: Optional[Path] = HomeOpt):
    """Show one subject: id, embedding sha256 (checked against its file), model, references, training."""
    try:
        book = _subject_book(home)
        record, _ = book.load(name)
    except PocketStudioError as exc:
        _fail(exc)
    print(json.dumps({**record.to_json(), "embedding_verified": True}, indent=2))


@subject_app.command("delete")
def subject_delete(name: str = typer.Argument(...), home: Optional[Path] = HomeOpt):
    """Delete a subject: its row and its embedding file."""
    try:
        record = _subject_book(home).delete(name)
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"deleted subject {record.name!r} ({record.subject_id}) and {record.embedding_file}")


def _shown_value(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


@config_app.command("show")
def config_show(json_out: bool = typer.Option(False, "--json", help="Print JSON: the file's path and, per setting, "
                                                                   "value, source, environment variable."),
                home: Optional[Path] = HomeOpt):
    """Show every setting, its value and where it came from (env, file or default)."""
    from ..base.config import SCHEMA

    try:
        settings = _settings(home)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    rows = {s.name: {"value": s.to_json(getattr(settings, s.name)), "source": settings.source(s.name), "env": s.env,
                     "doc": s.doc} for s in SCHEMA}
    if json_out:
        print(json.dumps({"config_file": str(settings.config_file), "settings": rows}, indent=2))
        return
    table = Table("setting", "value", "source", title=str(settings.config_file),
                  caption="each setting NAME is overridden by the environment variable POCKETSTUDIO_<NAME>")
    for name, row in rows.items():
        colour = {"default": "dim", "file": "cyan", "env": "yellow", "flag": "green"}[row["source"]]
        table.add_row(name, _shown_value(getattr(settings, name)), f"[{colour}]{row['source']}[/]")
    out.print(table)


@config_app.command("set")
def config_set(key: str = typer.Argument(..., help="A setting's name (see 'config show')."),
               value: str = typer.Argument(..., help="Its value, written as in the environment variable: true/false, "
                                                     "a number, a path; lists comma-separated (paths: "
                                                     f"{os.pathsep!r}-separated)."),
               home: Optional[Path] = HomeOpt):
    """Validate a value and write it to config.toml (other keys and comments are kept; 0600)."""
    from ..base.config import SETTINGS_BY_NAME, resolve_home, set_in_config

    try:
        path = resolve_home(home)
        typed = set_in_config(path, key, value)
    except PocketStudioError as exc:
        _fail(exc)
    out.print(f"{key} = {_shown_value(typed)} in {path / 'config.toml'}", highlight=False)
    env = SETTINGS_BY_NAME[key].env
    if os.environ.get(env, "").strip():
        err.print(f"note: {env} is set in this environment and overrides the file")


@config_app.command("unset")
def config_unset(key: str = typer.Argument(..., help="A setting's name (or any key of config.toml, to remove it)."),
                 home: Optional[Path] = HomeOpt):
    """Remove a key from config.toml, so the environment or the default decides that setting."""
    from ..base.config import SETTINGS_BY_NAME, resolve_home, unset_in_config

    try:
        path = resolve_home(home)
        removed = unset_in_config(path, key)
    except PocketStudioError as exc:
        _fail(exc)
    where = path / "config.toml"
    if not removed:
        out.print(f"{key} is not set in {where}", highlight=False)
    else:
        spec = SETTINGS_BY_NAME.get(key)
        out.print(f"removed {key} from {where}" + (f"; default: {_shown_value(spec.default)}" if spec else ""),
                  highlight=False)


@config_app.command("path")
def config_path(home: Optional[Path] = HomeOpt):
    """Print where the settings file is (config.toml in the data directory; it may not exist yet)."""
    from ..base.config import resolve_home

    try:
        print(resolve_home(home) / "config.toml")
    except PocketStudioError as exc:
        _fail(exc)


token_app = typer.Typer(no_args_is_help=True, context_settings=_CONTEXT,
                        help="Bearer tokens of the generation API (serve), each bound to one requester.")
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(requester: str = typer.Option(..., "--requester", help="The requester id every generation made "
                                                                          "with this token is audited and decided for."),
                 json_out: bool = typer.Option(False, "--json", help="Print JSON."), home: Optional[Path] = HomeOpt):
    """Make a new token and print it once; the data directory keeps only its hash."""
    from .tokens import TokenBook

    try:
        settings = _settings(home)
        settings.ensure_home()
        token, entry = TokenBook(settings).create(requester)
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    if json_out:
        print(json.dumps({"token": token, "token_id": entry.token_id, "requester": entry.requester}))
        return
    print(token)
    err.print(f"token {entry.token_id} for requester {entry.requester!r}: shown once, stored hashed "
              f"(Authorization: Bearer TOKEN)", highlight=False)


@token_app.command("list")
def token_list(json_out: bool = typer.Option(False, "--json", help="Print JSON."), home: Optional[Path] = HomeOpt):
    """The tokens' ids, requesters and creation times (never the tokens)."""
    from .tokens import TokenBook

    try:
        entries = TokenBook(_settings(home)).entries()
    except PocketStudioError as exc:
        _fail(exc, json_out=json_out)
    rows = [{"token_id": e.token_id, "requester": e.requester, "created": e.created} for e in entries]
    if json_out:
        print(json.dumps(rows))
        return
    for row in rows:
        print(f"{row['token_id']}  {row['requester']}  {row['created']}")


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The id 'token list' shows."),
                 home: Optional[Path] = HomeOpt):
    """Revoke a token: a running service refuses it from its next request on."""
    from .tokens import TokenBook

    try:
        if not TokenBook(_settings(home)).revoke(token_id):
            _fail(UsageError(f"no token with id {token_id}; 'pocketstudio token list' shows them"))
    except PocketStudioError as exc:
        _fail(exc)
    print(f"revoked {token_id}")


@db_app.command("migrate")
def db_migrate(to: str = typer.Option(..., "--to", help="The PostgreSQL database to fill, e.g. "
                                                        "postgresql+psycopg://user@host/db (empty; created tables are "
                                                        "brought to the current schema first)."),
               home: Optional[Path] = HomeOpt):
    """Copy this data directory's SQLite database into PostgreSQL, then verify the audit log on both
    sides (same records, same root). The SQLite file is left as it was."""
    from ..base.store import Store, copy_store
    from .home import DataHome

    try:
        settings = _settings(home).with_(database_url=None)
        if not settings.db_path.exists():
            raise ConfigError(f"no database at {settings.db_path}; nothing to migrate")
        source = DataHome(settings)
        before = source.audit.verify()
        target_store = Store.open(to)
        counts = copy_store(source.store, target_store)
        target = DataHome(settings.with_(database_url=to), store=target_store)
        after = target.audit.verify()
    except PocketStudioError as exc:
        _fail(exc)
    if (after["records"], after["root"]) != (before["records"], before["root"]):
        _fail(f"the copy's audit log differs: {after['records']} records, root {after['root']} against "
              f"{before['records']}, {before['root']}")
    out.print(f"copied {sum(counts.values())} rows ({', '.join(f'{k} {v}' for k, v in counts.items() if v)}) into "
              f"{target_store.name}; audit log verifies on both sides: {after['records']} records, root {after['root']}")
    out.print(f"use it: pocketstudio config set database_url '{to}' (or POCKETSTUDIO_DATABASE_URL)", highlight=False)


def main() -> None:
    # transformers warns at exit that torchvision is absent (it is not needed: no image processors
    # are used); keep the terminal for our own messages.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        app()
    except PocketStudioError as exc:  # anything a command did not turn into a message itself
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
