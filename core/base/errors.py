"""The one error hierarchy of Pocket Studio.

Expected outcomes are values (a deny is a ``Decision``, a forged image is a ``Verdict``);
broken invariants and failed steps raise a subclass of :class:`PocketStudioError`, each with
a message a user can act on.
"""

from __future__ import annotations

# The command line's exit codes, one table (README "Exit codes"): every error carries its own
# (``exit_code``); a verdict that is not trusted or recovered is a value, not an error, and exits
# ``EXIT_NOT_TRUSTED``.
EXIT_OK = 0
EXIT_ERROR = 1  # an error: bad input, a blocked release, an unusable data directory…
EXIT_USAGE = 2  # a malformed command line (click's own code too)
EXIT_DENIED = 3  # the policy denied the request (audited)
EXIT_NOT_TRUSTED = 4  # verification found no trusted provenance


class PocketStudioError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = EXIT_ERROR


def exit_code_of(exc: BaseException) -> int:
    """The exit code of an error: its own for ours, ``EXIT_ERROR`` for anything else."""
    return exc.exit_code if isinstance(exc, PocketStudioError) else EXIT_ERROR


class UsageError(PocketStudioError):
    """A command-line value is malformed (a date, a choice): exit 2, like click's own usage errors."""

    exit_code = EXIT_USAGE


class ConfigError(PocketStudioError):
    """Settings, data directory or database are unusable."""


class SettingError(ConfigError):
    """One setting is unusable (unknown, wrong type, out of range) or config.toml does not parse;
    ``key`` names the setting (None when the file as a whole does not parse), ``origin`` where the
    value came from (the file, an environment variable, the command line)."""

    def __init__(self, message: str, key: str | None = None, origin: str | None = None):
        super().__init__(message)
        self.key, self.origin = key, origin


class StoreError(PocketStudioError):
    """The database could not be opened, migrated or written."""


class KeyMaterialError(PocketStudioError):
    """Keys or certificates are missing, unreadable, expired or do not match."""


class InputFileError(PocketStudioError):
    """A file named as input cannot be read: missing, not a regular file, unreadable, its name too
    long, or larger than the limit (checked before it is read)."""


class OutputPathError(PocketStudioError):
    """An output path is not one Pocket Studio may write: not a regular file (a device, FIFO, socket,
    folder or symbolic link), an existing file without ``--force``, a missing folder, a wrong extension."""


class ModelLoadError(PocketStudioError):
    """A generator checkpoint folder is missing, incomplete or not a diffusers LCM model."""


class GenerateExtraMissing(ModelLoadError, ImportError):
    """Generating needs torch, diffusers and transformers, which the base install (verify, sign,
    audit) leaves out: they come with ``pip install 'pocketstudio[generate]'``. Also an
    ImportError, so code that probes for the generator with ``except ImportError`` still works."""


class GenerationError(PocketStudioError):
    """The generator failed or was asked for something it cannot do (bad size, steps, device)."""


class ComplianceError(GenerationError):
    """A setting the marking rules need is missing and compliance_strict makes that an error."""


class InvalidImageError(PocketStudioError):
    """An input image is corrupt, empty, of an unsupported format or too large."""


class SubjectError(PocketStudioError):
    """A learned subject cannot be made, found or used (bad name, damaged embedding, other model)."""


class UnknownSubject(SubjectError):
    """No learned subject has that name."""


class SubjectExists(SubjectError):
    """A learned subject with that name exists already (delete it first)."""


class WatermarkError(PocketStudioError):
    """Embedding the watermark failed or did not read back."""


class SigningError(PocketStudioError):
    """The C2PA manifest could not be built, signed or embedded."""


class TimeStampUnavailable(SigningError):
    """The RFC 3161 time-stamp authority could not time-stamp a signature and ``tsa_required`` is set."""


class CertificateRevoked(SigningError):
    """The claim-signing certificate's OCSP responder says it is revoked: nothing may be signed with it."""


class RevocationUnavailable(SigningError):
    """No OCSP response could be stapled to the signature and ``ocsp_required`` is set."""


class PolicyError(PocketStudioError):
    """The policy set is malformed or fails schema validation."""


class AuditError(PocketStudioError):
    """The audit log could not be written, or its chain does not verify."""


class ReleaseBlocked(PocketStudioError):
    """A release step failed: no image was written (fail-closed)."""

    def __init__(self, step: str, reason: str, decision_id: str | None = None, action: str = "release"):
        self.step = step
        self.reason = reason
        self.decision_id = decision_id
        self.action = action  # what was blocked: "release", or "subject creation"
        super().__init__(f"{action} blocked at step '{step}': {reason}")


class PolicyDenied(PocketStudioError):
    """The policy engine denied the request; carries the audited ``Decision``."""

    exit_code = EXIT_DENIED

    def __init__(self, decision):
        self.decision = decision
        super().__init__(f"denied by policy ({', '.join(decision.rule_ids) or 'default deny'}): {decision.reason}")
