"""The one builder of a data directory's components: keys, store, audit log, registry, consent,
subjects, studio. The CLI, the server, the benches and the tests open a data directory through
it instead of wiring the parts by hand, so every part is made the same way (the audit log always
keeps its checkpoint beside the keys, the registry always writes consent events, …).

Verification does not come through here: ``Verifier.open`` (provenance/verify.py) only reads, and
needs none of the generating side.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pocketstudio.policy.audit import AuditLog
from pocketstudio.provenance.keys import KeyStore
from pocketstudio.safety.consent import ConsentBook
from pocketstudio.safety.registry import Registry

from ..base.config import Settings
from ..base.errors import ConfigError
from ..base.store import Store, store_location

if TYPE_CHECKING:  # the generator needs the generate extra; audit and consent commands must not
    from ..generator.subjects import SubjectBook


class DataHome:
    """One data directory, opened for writing: created (private) and its keys made if missing.

    Each component is made once, on first use, and shared by the others."""

    def __init__(self, settings: Settings, *, store: Store | None = None, keys: KeyStore | None = None,
                 audit: AuditLog | None = None):
        settings.ensure_home()
        self.settings = settings
        if store is not None:
            self.__dict__["store"] = store
        if keys is not None:
            self.__dict__["keys"] = keys
        if audit is not None:
            self.__dict__["audit"] = audit

    @classmethod
    def open(cls, home: str | Path | None = None) -> "DataHome":
        """``home``: the data directory (None: ``POCKETSTUDIO_HOME`` or the platform default)."""
        return cls(Settings.load(home))

    @classmethod
    def existing(cls, home: str | Path | None = None) -> "DataHome":
        """A data directory that must exist already (commands that only read or audit it)."""
        settings = Settings.load(home)
        if not settings.database_url and not settings.db_path.exists():
            raise ConfigError(f"no database at {settings.db_path}; run 'pocketstudio init' first")
        return cls(settings)

    @cached_property
    def keys(self) -> KeyStore:
        keys = KeyStore(self.settings)
        keys.ensure()
        return keys

    @cached_property
    def store(self) -> Store:
        return Store.open(store_location(self.settings))

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.store, self.keys.audit_signer(),
                        retention=dt.timedelta(days=self.settings.audit_retention_days),
                        checkpoint_file=self.settings.audit_checkpoint_file)

    @cached_property
    def registry(self) -> Registry:
        """Registered likenesses; enrolments and removals become signed consent events."""
        return Registry(self.store, template_key=self.keys.registry_key(), audit=self.audit)

    @cached_property
    def consent(self) -> ConsentBook:
        """Consent grants; rows of an earlier release are adopted into the signed history once."""
        book = ConsentBook(self.store, self.audit)
        book.ensure_history(dt.datetime.now(dt.timezone.utc))
        return book

    @cached_property
    def subjects(self) -> "SubjectBook":
        from ..generator.subjects import SubjectBook

        return SubjectBook(self.settings, self.store)

    def studio(self, **components):
        """The release flow over this data directory (components as ``Studio`` takes them)."""
        from .studio import Studio

        return Studio(self.settings, home=self, **components)
