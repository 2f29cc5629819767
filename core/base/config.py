"""Settings: one explicit object, passed down; no module-level globals.

The data directory (``--home`` / ``POCKETSTUDIO_HOME``, default under the user's data dir)
holds the one SQLite database, the keys and the trust anchors.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from .errors import ConfigError

HOME_ENV = "POCKETSTUDIO_HOME"
PASSPHRASE_ENV = "POCKETSTUDIO_KEY_PASSPHRASE"
SIGNING_ALGS = ("es256", "ed25519")
# Everything in the data directory is private to the user (see Settings.ensure_home).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


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

    @property
    def audit_checkpoint_file(self) -> Path:
        """The newest signed checkpoint of the audit log, kept outside the database (policy/audit.py)."""
        return self.keys_dir / "audit-checkpoint"

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
        """Create the data directory and make it private to the user, whatever existed before
        (an older version's 0755 folder, a 0644 database): the database holds prompts and
        registered names, ``keys/`` the secrets. Every folder in it is 0700, every file 0600."""
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
            for folder in (self.keys_dir, self.trust_dir, self.subjects_dir):
                folder.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
            make_private(self.home)
        except OSError as exc:
            raise ConfigError(f"cannot create data directory {self.home}: {exc}") from exc


def make_private(path: Path) -> None:
    """Set ``path`` to 0600 (a file) or 0700 (a folder, and everything in it, recursively).

    Modes are set with chmod, not through the umask, so the result is the same under any umask.
    Symbolic links are skipped, never followed (they could point out of the data directory), and
    so is anything owned by another user (only its owner or root may change it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return
    is_dir = stat.S_ISDIR(st.st_mode)
    wanted = PRIVATE_DIR_MODE if is_dir else PRIVATE_FILE_MODE
    euid = os.geteuid()
    if stat.S_IMODE(st.st_mode) != wanted and euid in (0, st.st_uid):
        os.chmod(path, wanted)
    if is_dir:
        with os.scandir(path) as entries:
            for entry in entries:
                make_private(Path(entry.path))
