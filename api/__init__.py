"""Pocket Studio: on-device image generation whose every output is checked, watermarked,
C2PA-signed and audited, and a verifier that says where an image came from.

The public Python API. Names load on first use (PEP 562), so ``import pocketstudio`` costs almost
nothing and verifying never imports torch::

    import pocketstudio as ps

    studio = ps.Studio.open(home)       # home=None: the default data directory
    release = studio.generate(ps.GenerationRequest(prompt="a red circle", requester="my-app"), "out.png")
    verdict = ps.Verifier.open(home).verify("out.png")   # a path or bytes
    assert verdict.status == "trusted"

Errors all derive from ``ps.PocketStudioError``; a policy deny is ``ps.PolicyDenied`` (it carries
the audited decision), a blocked release ``ps.ReleaseBlocked``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "Studio": "pocketstudio.core.app.studio",
    "GenerationRequest": "pocketstudio.core.app.studio",
    "Release": "pocketstudio.core.app.studio",
    "DataHome": "pocketstudio.core.app.home",
    "Verifier": "pocketstudio.provenance.verify",
    "Verdict": "pocketstudio.provenance.verify",
    "Status": "pocketstudio.provenance.verify",
    "Settings": "pocketstudio.core.base.config",
    "PocketStudioError": "pocketstudio.core.base.errors",
    "ConfigError": "pocketstudio.core.base.errors",
    "StoreError": "pocketstudio.core.base.errors",
    "KeyMaterialError": "pocketstudio.core.base.errors",
    "ModelLoadError": "pocketstudio.core.base.errors",
    "GenerationError": "pocketstudio.core.base.errors",
    "InvalidImageError": "pocketstudio.core.base.errors",
    "OutputPathError": "pocketstudio.core.base.errors",
    "PolicyDenied": "pocketstudio.core.base.errors",
    "ReleaseBlocked": "pocketstudio.core.base.errors",
    "AuditError": "pocketstudio.core.base.errors",
    "SigningError": "pocketstudio.core.base.errors",
    "WatermarkError": "pocketstudio.core.base.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pocketstudio")
        except PackageNotFoundError:
            return "0+unknown"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pocketstudio' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # for type checkers and editors; at run time the names load lazily
    from pocketstudio.core.app.home import DataHome  # noqa: F401
    from pocketstudio.core.app.studio import GenerationRequest, Release, Studio  # noqa: F401
    from pocketstudio.core.base.config import Settings  # noqa: F401
    from pocketstudio.core.base.errors import (AuditError, ConfigError, GenerationError, InvalidImageError,  # noqa: F401
                                               KeyMaterialError, ModelLoadError, OutputPathError, PocketStudioError,
                                               PolicyDenied, ReleaseBlocked, SigningError, StoreError, WatermarkError)
    from pocketstudio.provenance.verify import Status, Verdict, Verifier  # noqa: F401
