"""Few-step (latent consistency) image generation from local diffusers checkpoints."""

from .hashing import model_sha256
from .pipeline import DEFAULT_MODEL_DIR, GeneratedImage, Generator, load_generator

__all__ = ["DEFAULT_MODEL_DIR", "GeneratedImage", "Generator", "load_generator", "model_sha256"]
