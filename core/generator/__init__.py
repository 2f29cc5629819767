"""Few-step (latent consistency) image generation from local diffusers checkpoints.

Needs the ``generate`` extra (torch, diffusers, transformers); without it, importing this package
is a typed error that says how to install it, never a bare ModuleNotFoundError. The check looks
the packages up without importing them: importing diffusers and transformers costs seconds, and
the embedded model runs without them (exported.py).
"""

from importlib.util import find_spec

from pocketstudio.core.base.errors import GenerateExtraMissing

for _name in ("torch", "diffusers", "transformers"):
    if find_spec(_name) is None:
        raise GenerateExtraMissing(f"generating images needs the generate extra ({_name} is not installed): "
                                   "pip install 'pocketstudio[generate]'")

from .hashing import model_sha256  # noqa: E402
from .pipeline import DEFAULT_MODEL_DIR, GeneratedImage, Generator, load_generator  # noqa: E402

__all__ = ["DEFAULT_MODEL_DIR", "GeneratedImage", "Generator", "load_generator", "model_sha256"]
