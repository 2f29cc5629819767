"""Bearer tokens of the generation API, each bound to one requester id.

``pocketstudio token create --requester ID`` prints a new token once; the data directory keeps only
its SHA-256 (``api-tokens.json``, mode 0600), so a copy of the folder lets nobody generate. A
token names who asks: the service never lets a request choose its requester (consent grants are
per requester), and no generation token unlocks the operator's audit access.

A file rather than a table: tokens are few, written by one command, and read by the service,
which re-reads the file when it changes (a token created while ``serve`` runs works at once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..base.config import Settings, _write_private
from ..base.errors import ConfigError

TOKENS_FILE = "api-tokens.json"
TOKEN_PREFIX = "psk-"
API_TOKEN_ENV = "POCKETSTUDIO_API_TOKEN"  # one token for the default requester, set when starting serve
MAX_REQUESTER = 200


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_requester(requester: str) -> str:
    if not isinstance(requester, str) or not requester.strip() or len(requester) > MAX_REQUESTER \
            or any(ord(c) < 32 for c in requester):
        raise ConfigError(f"a requester id is 1 to {MAX_REQUESTER} printable characters, got {requester!r}")
    return requester.strip()


@dataclass(frozen=True)
class TokenEntry:
    token_id: str  # public handle: the first characters of the digest
    requester: str
    sha256: str
    created: str


class TokenBook:
    """The data directory's generation tokens."""

    def __init__(self, settings: Settings, env_token: str | None = None):
        self.path = settings.home / TOKENS_FILE
        self.default_requester = settings.default_requester
        # POCKETSTUDIO_API_TOKEN: held in memory only, for the default requester.
        self._env = _digest(env_token) if env_token else None
        self._cache: tuple[tuple[int, int] | None, list[TokenEntry]] = (None, [])

    def entries(self) -> list[TokenEntry]:
        """The file's tokens, re-read only when the file changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache[0] == stamp:
            return self._cache[1]
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))["tokens"]
            entries = [TokenEntry(r["token_id"], r["requester"], r["sha256"], r["created"]) for r in rows]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"the token file {self.path} is unreadable ({type(exc).__name__}); "
                              "remove it and create the tokens again") from None
        self._cache = (stamp, entries)
        return entries

    def create(self, requester: str, now: dt.datetime | None = None) -> tuple[str, TokenEntry]:
        """A new token for ``requester``: (the token, shown once; its stored entry)."""
        requester = check_requester(requester)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        entry = TokenEntry(digest[:12], requester, digest,
                           (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat())
        rows = [e.__dict__ for e in self.entries()] + [entry.__dict__]
        _write_private(self.path, json.dumps({"tokens": rows}, indent=1) + "\n")
        return token, entry

    def revoke(self, token_id: str) -> bool:
        entries = self.entries()
        kept = [e for e in entries if e.token_id != token_id]
        if len(kept) == len(entries):
            return False
        _write_private(self.path, json.dumps({"tokens": [e.__dict__ for e in kept]}, indent=1) + "\n")
        return True

    def requester_of(self, authorization: str | None) -> str | None:
        """The requester a ``Bearer`` header's token is bound to; None for a missing or unknown
        token. Every stored digest is compared in constant time."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = _digest(token).encode()
        found = None
        if self._env is not None and hmac.compare_digest(digest, self._env.encode()):
            found = self.default_requester
        for entry in self.entries():
            if hmac.compare_digest(digest, entry.sha256.encode()):
                found = entry.requester
        return found


def token_file(home: Path) -> Path:
    return Path(home) / TOKENS_FILE
