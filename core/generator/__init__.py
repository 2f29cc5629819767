"""Few-step (latent consistency) image generation from local diffusers checkpoints.

Needs the ``generate`` extra (torch, diffusers, transformers); without it, importing this package
is a typed error that says how to install it, never a bare ModuleNotFoundError.
"""

from pocketstudio.core.base.errors import GenerateExtraMissing

try:
    import diffusers  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
except ImportError as exc:
    raise GenerateExtraMissing(f"generating images needs the generate extra ({exc.name or exc} is not installed): "
                               "pip install 'pocketstudio[generate]'") from None

from .hashing import model_sha256
from .pipeline import DEFAULT_MODEL_DIR, GeneratedImage, Generator, load_generator

__all__ = ["DEFAULT_MODEL_DIR", "GeneratedImage", "Generator", "load_generator", "model_sha256"]
