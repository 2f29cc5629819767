"""Settings: one explicit object, passed down; no module-level globals.

The data directory (``--home`` / ``POCKETSTUDIO_HOME``, default under the user's data dir)
holds the one SQLite database, the keys and the trust anchors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from .errors import ConfigError

HOME_ENV = "POCKETSTUDIO_HOME"
PASSPHRASE_ENV = "POCKETSTUDIO_KEY_PASSPHRASE"
SIGNING_ALGS = ("es256", "ed25519")


@dataclass(frozen=True)
class Settings:
    """Everything a Studio or verifier needs to know about where things live and how to act."""

    home: Path
    signing_alg: str = "es256"
    # Engine that marks new releases; every engine in ENGINES is tried when verifying.
    watermark_engine: str = "spread-spectrum"
    default_requester: str = "local-user"
    default_purpose: str = "general"
    default_size: int = 512
    # How long the salts and clear text behind audit commitments are kept.
    audit_retention_days: int = 365
    # A policy folder replacing (or, with policy_extends, extending) the default Cedar policies.
    policy_dir: Path | None = None
    policy_extends: bool = False
    # Extra PEM trust anchors (files) a verifier accepts besides the local root.
    trust_anchor_files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def db_path(self) -> Path:
        return self.home / "pocketstudio.db"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def subjects_dir(self) -> Path:
        """Learned subjects' embedding files (one safetensors file each)."""
        return self.home / "subjects"

    @property
    def trust_dir(self) -> Path:
        return self.keys_dir / "trust"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def load(cls, home: str | Path | None = None, env: dict | None = None) -> "Settings":
        """Resolve the data directory: explicit argument, then the environment, then the platform default."""
        env = os.environ if env is None else env
        chosen = home or env.get(HOME_ENV) or platformdirs.user_data_dir("pocketstudio", appauthor=False)
        path = Path(chosen).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ConfigError(f"data directory {path} exists and is not a directory")
        return cls(home=path)

    def ensure_home(self) -> None:
        """Create the data directory (private to the user) if it does not exist yet."""
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.keys_dir.mkdir(exist_ok=True, mode=0o700)
            self.trust_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"cannot create data directory {self.home}: {exc}") from exc
