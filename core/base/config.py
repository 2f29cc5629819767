"""Settings: one explicit object, passed down; no module-level globals.

The data directory (``--home`` / ``POCKETSTUDIO_HOME``, default under the user's data dir)
holds the one SQLite database, the keys, the trust anchors and ``config.toml``.

Every setting is a field of :class:`Settings` with a type, a default and a one-line doc (the
schema is the dataclass itself: ``SCHEMA`` lists it). One rule says where a value comes from: a
command-line flag beats the environment variable ``POCKETSTUDIO_<NAME>``, which beats
``config.toml``, which beats the default. A value that does not fit is a :class:`SettingError`
naming the setting and where the value came from; nothing is silently corrected.

Secrets are never settings: they are read from the environment only (``SECRET_ENV``), or from a
file a ``*_file`` setting names, so config.toml never holds one.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Any, Mapping
from urllib.parse import urlsplit

import platformdirs

from .errors import ConfigError, InputFileError, SettingError

HOME_ENV = "POCKETSTUDIO_HOME"
PASSPHRASE_ENV = "POCKETSTUDIO_KEY_PASSPHRASE"
ENV_PREFIX = "POCKETSTUDIO_"
CONFIG_FILE = "config.toml"
MAX_CONFIG_BYTES = 1024 * 1024
SIGNING_ALGS = ("es256", "ed25519")
# The engines of provenance/watermark (ENGINES); a test keeps the two in step.
WATERMARK_ENGINES = ("spread-spectrum", "dwtdctsvd")
AI_TRAINING_POLICIES = ("notAllowed", "allowed", "constrained")
COMPLIANCE_PROFILES = ("eu", "us-ca", "cn", "all")
# Secrets come from the environment only: in config.toml one would be a secret at rest in one more
# file. The names are reserved: no setting may take them, and config.toml refuses them.
SECRET_ENV = {
    "key_passphrase": PASSPHRASE_ENV,  # decrypts the key files (core/base/keys.py)
    "operator_token": "POCKETSTUDIO_OPERATOR_TOKEN",  # serve: the operator's bearer token (or operator_token_file)
    "import_key_password": "POCKETSTUDIO_IMPORT_KEY_PASSWORD",  # keys import: the imported key file's password
    "api_token": "POCKETSTUDIO_API_TOKEN",
    "pkcs11_pin": "POCKETSTUDIO_PKCS11_PIN",
}
# Everything in the data directory is private to the user (see Settings.ensure_home).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", re.ASCII)  # a BCP 47 tag, e.g. en, zh-Hans


def setting(default: Any, doc: str, *, choices: tuple[str, ...] = (), min: int | None = None,
            max: int | None = None, url: tuple[str, ...] = (), pattern: tuple[re.Pattern, str] | None = None):
    """A field of :class:`Settings` that is a setting: its default, what it means, and its bounds
    (``choices`` for a string, ``min``/``max`` for an integer, ``url`` the schemes a URL may use,
    ``pattern`` a regular expression and the words that say what it accepts)."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "min": min, "max": max, "url": url,
                                            "pattern": pattern})


@dataclass(frozen=True)
class Setting:
    """One entry of the schema: name, Python type, default, one-line doc, bounds."""

    name: str
    type: Any
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    url: tuple[str, ...] = ()
    pattern: tuple[re.Pattern, str] | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def kind(self) -> str:
        """str, int, bool, path, paths (tuple of paths) or strs (tuple of strings)."""
        base = self.base_type
        if typing.get_origin(base) is tuple:
            return "paths" if typing.get_args(base)[0] is Path else "strs"
        return {str: "str", int: "int", bool: "bool", Path: "path"}[base]

    @property
    def optional(self) -> bool:
        return isinstance(self.type, UnionType) and type(None) in typing.get_args(self.type)

    @property
    def base_type(self):
        if self.optional:
            return next(t for t in typing.get_args(self.type) if t is not type(None))
        return self.type

    def describe(self) -> str:
        """What a value must be, for a message."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        text = {"str": "a string", "int": "an integer", "bool": "true or false", "path": "a path (a string)",
                "paths": "a list of paths (strings)", "strs": "a list of strings"}[self.kind]
        if self.min is not None and self.max is not None:
            text += f" from {self.min} to {self.max}"
        elif self.min is not None:
            text += f" of at least {self.min}"
        if self.url:
            text = f"a URL ({'/'.join(self.url)}://…)"
        return text

    def to_toml(self, value):
        """``value`` as config.toml holds it (paths as strings, tuples as lists)."""
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [str(v) for v in value]
        return value

    def to_json(self, value):
        return self.to_toml(value)

    # -- reading values: from config.toml (TOML types), from text (environment, `config set`),
    #    from the command line (Python values typer made) ---------------------------------------
    def from_toml(self, value, where: str, base: Path):
        kind = self.kind
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind in ("paths", "strs"):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise self.error(f"must be {self.describe()}, not {_toml_kind(value)} {value!r}", where)
        if kind == "path":
            value = _path(value, base)
        elif kind == "paths":
            value = tuple(_path(v, base) for v in value)
        elif kind == "strs":
            value = tuple(value)
        return self.check(value, where)

    def from_text(self, raw: str, where: str, base: Path):
        kind = self.kind
        text = raw.strip()
        if kind == "int":
            if not re.fullmatch(r"[+-]?\d{1,19}", text, re.ASCII):
                raise self.error(f"must be {self.describe()}, not {raw!r}", where)
            value: Any = int(text)
        elif kind == "bool":
            if text.lower() not in _TRUE + _FALSE:
                raise self.error(f"must be true or false (or 1/0, yes/no, on/off), not {raw!r}", where)
            value = text.lower() in _TRUE
        elif kind == "path":
            value = _path(text, base)
        elif kind == "paths":  # like PATH: separated by os.pathsep
            value = tuple(_path(p, base) for p in text.split(os.pathsep) if p.strip())
        elif kind == "strs":
            value = tuple(p.strip() for p in text.split(",") if p.strip())
        else:
            value = raw
        return self.check(value, where)

    def from_python(self, value, where: str):
        kind = self.kind
        if kind == "path" and isinstance(value, (str, Path)):
            value = _path(value, Path.cwd())
        elif kind in ("paths", "strs") and isinstance(value, (list, tuple)):
            value = tuple(_path(v, Path.cwd()) if kind == "paths" else v for v in value)
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)) \
                or kind == "bool" and not isinstance(value, bool) or kind == "str" and not isinstance(value, str):
            raise self.error(f"must be {self.describe()}, not {value!r}", where)
        return self.check(value, where)

    def check(self, value, where: str):
        """Bounds: choices, range, non-empty strings, URL schemes, patterns."""
        if value is None:
            if self.optional:
                return None
            raise self.error(f"must be {self.describe()}; it has no empty value", where)
        if self.kind == "str":
            if not value.strip():
                raise self.error("must not be empty (unset it instead to get the default)", where)
            if self.choices and value not in self.choices:
                raise self.error(f"must be one of {', '.join(self.choices)}, not {value!r}", where)
            if self.url:
                parts = urlsplit(value)
                if parts.scheme.lower() not in self.url or not (parts.netloc or parts.path):
                    raise self.error(f"must be a URL starting with {' or '.join(s + '://' for s in self.url)}, "
                                     f"not {value!r}", where)
            if self.pattern is not None and not self.pattern[0].fullmatch(value):
                raise self.error(f"must be {self.pattern[1]}, not {value!r}", where)
        if self.kind == "int":
            if self.min is not None and value < self.min or self.max is not None and value > self.max:
                raise self.error(f"must be {self.describe()}, not {value}", where)
        if self.kind == "strs" and any(not v.strip() for v in value):
            raise self.error("must not contain empty strings", where)
        return value

    def error(self, problem: str, where: str) -> SettingError:
        return SettingError(f"setting {self.name!r} ({where}) {problem}", key=self.name, origin=where)


def _toml_kind(value) -> str:
    return {bool: "the boolean", int: "the integer", float: "the number", str: "the string", list: "the list",
            dict: "the table"}.get(type(value), "the value")


def _path(text: str | Path, base: Path) -> Path:
    """A path as given, ``~`` expanded; a relative one is taken from ``base`` (the data directory
    for config.toml, the working directory for the environment and the command line)."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class Settings:
    """Everything a Studio or verifier needs to know about where things live and how to act.

    Build it with :meth:`load`; ``sources`` says where each setting's value came from
    (``flag``, ``env``, ``file`` or ``default``)."""

    home: Path
    # -- generation ---------------------------------------------------------------------------
    default_requester: str = setting("local-user", "Requester id when generate or subject create get no --requester.")
    default_purpose: str = setting("general", "Purpose when no --purpose is given (consent is per purpose).")
    default_size: int = setting(512, "Side in pixels of the square image generate makes without --size.",
                                min=64, max=4096)
    threads: int | None = setting(None, "CPU threads for generation (unset: chosen from the model and the machine).",
                                  min=1, max=1024)
    # -- keys, watermark, policy, audit --------------------------------------------------------
    signing_alg: str = setting("es256", "Claim-signing algorithm of keys that init makes.", choices=SIGNING_ALGS)
    # Engine that marks new releases; every engine is tried when verifying.
    watermark_engine: str = setting("spread-spectrum", "Engine that marks new releases (verification tries all).",
                                    choices=WATERMARK_ENGINES)
    policy_dir: Path | None = setting(None, "Cedar policy folder replacing the default policies "
                                            "(extending them with policy_extends).")
    policy_extends: bool = setting(False, "Add policy_dir to the default policies instead of replacing them.")
    audit_retention_days: int = setting(365, "Days the salts and clear text behind audit commitments are kept.",
                                        min=1, max=100 * 366)
    # -- verification ----------------------------------------------------------------------------
    trust_anchor_files: tuple[Path, ...] = setting((), "Extra PEM trust anchor files a verifier accepts besides "
                                                       "the local root (--trust adds to them).")
    verify_fetch_urls: bool = setting(False, "serve: verify images by URL (the page's URL field, 'url' in the API).")
    witness_policy: Path | None = setting(None, "Witness policy file (Sigsum policy format) whose quorum of cosignatures "
                                                "audit verify-proof and audit monitor require when no --witness is given, "
                                                "and verify and serve require of a release's audit proof.")
    # -- serve ---------------------------------------------------------------------------------------
    host: str = setting("127.0.0.1", "serve: address to listen on (0.0.0.0 for every interface).")
    port: int = setting(8000, "serve: TCP port.", min=1, max=65535)
    max_bytes: int = setting(50 * 1024 * 1024, "serve: largest upload accepted, in bytes (413 above).", min=1)
    max_pixels: int = setting(40_000_000, "serve: largest image accepted, in pixels (422 above).", min=1)
    workers: int = setting(1, "serve: worker processes (uploads verified at once).", min=1, max=1024)
    allowed_hosts: tuple[str, ...] = setting((), "serve: other names clients reach the service by (NAME or "
                                                 "NAME:PORT); any other Host is refused.")
    operator_token_file: Path | None = setting(None, "serve: file holding the operator's bearer token "
                                                     "(or POCKETSTUDIO_OPERATOR_TOKEN).")
    # -- trusted time, training and data-mining assertion ------------------------------------------
    tsa_url: str | None = setting(None, "RFC 3161 time-stamp authority that time-stamps every signature.",
                                  url=("http", "https"))
    tsa_required: bool = setting(False, "Refuse to release when the time-stamp authority cannot be reached.")
    ocsp_staple: bool = setting(False, "Fetch the claim-signing certificate's OCSP response when signing and "
                                       "carry it in the manifest (contacts the CA's responder).")
    ocsp_required: bool = setting(False, "Refuse to release when ocsp_staple is on and no OCSP response can be "
                                         "stapled.")
    ai_training_policy: str = setting("notAllowed", "CAWG training and data-mining assertion: notAllowed, "
                                                    "allowed or constrained.", choices=AI_TRAINING_POLICIES)
    # -- marking rules (EU, California, China) --------------------------------------------------------
    provider_name: str | None = setting(None, "Provider's name in the California and EU disclosures.")
    provider_code: str | None = setting(None, "Provider's code in China's TC260 label (ContentProducer).")
    compliance_profile: str = setting("all", "Marking rules generate aims to meet: eu, us-ca, cn or all.",
                                      choices=COMPLIANCE_PROFILES)
    label: bool = setting(False, "Draw a visible AI label into released pixels.")
    label_text: str | None = setting(None, "Text of the visible label (unset: the standard text in label_lang).")
    label_lang: str = setting("en", "Language of the visible label (a BCP 47 tag such as en or zh).",
                              pattern=(_LANG_RE, "a language tag such as en, zh or zh-Hans"))
    compliance_strict: bool = setting(False, "Make a missing provider_name or provider_code an error, "
                                             "not a warning.")
    # -- storage ------------------------------------------------------------------------------------------
    database_url: str | None = setting(None, "Database of the store (unset: SQLite in the data directory), "
                                             "e.g. postgresql+psycopg://user@host/db.",
                                       url=("sqlite", "postgresql", "postgresql+psycopg"))
    # Where each value came from: flag, env, file or default (not a setting).
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, repr=False)

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

    @property
    def config_file(self) -> Path:
        """The settings file, ``config.toml`` in the data directory."""
        return self.home / CONFIG_FILE

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    @classmethod
    def load(cls, home: str | Path | None = None, env: Mapping[str, str] | None = None,
             flags: Mapping[str, Any] | None = None) -> "Settings":
        """Resolve the data directory (explicit argument, then ``POCKETSTUDIO_HOME``, then the
        platform default), then each setting: ``flags`` (command-line values; None means not given),
        then ``POCKETSTUDIO_<NAME>`` in ``env`` (an empty one counts as unset), then config.toml,
        then the default. Only reads: a missing data directory or config.toml is no error."""
        env = os.environ if env is None else env
        path = resolve_home(home, env)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key, value in read_config_file(path / CONFIG_FILE).items():
            values[key] = value
            sources[key] = "file"
        for s in SCHEMA:
            raw = env.get(s.env)
            if raw is not None and raw.strip():
                values[s.name] = s.from_text(raw, f"environment {s.env}", Path.cwd())
                sources[s.name] = "env"
        unknown = set(flags or ()) - set(SETTINGS_BY_NAME)
        if unknown:
            raise ConfigError(f"not settings: {', '.join(sorted(unknown))}")
        for name, value in (flags or {}).items():
            if value is not None:
                values[name] = SETTINGS_BY_NAME[name].from_python(value, "command line")
                sources[name] = "flag"
        return cls(home=path, sources=MappingProxyType(sources), **values)

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


SCHEMA: tuple[Setting, ...] = tuple(
    Setting(f.name, typing.get_type_hints(Settings)[f.name], f.default, f.metadata["doc"], f.metadata["choices"],
            f.metadata["min"], f.metadata["max"], f.metadata["url"], f.metadata["pattern"])
    for f in fields(Settings) if "doc" in f.metadata)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SCHEMA}


def resolve_home(home: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The data directory: ``home``, then ``POCKETSTUDIO_HOME``, then the platform default (it
    cannot be a setting: config.toml lives in it)."""
    env = os.environ if env is None else env
    chosen = home or env.get(HOME_ENV) or platformdirs.user_data_dir("pocketstudio", appauthor=False)
    path = Path(chosen).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"data directory {path} exists and is not a directory")
    return path


def lookup(key: str, where: str) -> Setting:
    """The setting named ``key``; an unknown name is a SettingError with the nearest names and, for
    a secret, where it goes instead."""
    if key in SETTINGS_BY_NAME:
        return SETTINGS_BY_NAME[key]
    if key in SECRET_ENV:
        raise SettingError(f"{key!r} ({where}) is a secret, not a setting: secrets are never kept in config.toml; "
                           f"set the environment variable {SECRET_ENV[key]}"
                           + (" or the setting operator_token_file" if key == "operator_token" else ""),
                           key=key, origin=where)
    near = difflib.get_close_matches(key, SETTINGS_BY_NAME, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise SettingError(f"unknown setting {key!r} ({where}{hint}); 'pocketstudio config show' lists the settings",
                       key=key, origin=where)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings config.toml sets, validated and typed ({} when there is no file). Relative
    paths in it are taken from the data directory."""
    text = _config_text(path)
    if text is None:
        return {}
    where = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"{path} is not valid TOML: {exc}; fix that line or remove the file", origin=where) from None
    return {key: lookup(key, where).from_toml(value, where, path.parent) for key, value in document.items()}


def _config_text(path: Path) -> str | None:
    from .files import read_input

    try:
        data = read_input(path, MAX_CONFIG_BYTES)
    except InputFileError as exc:
        if not os.path.lexists(path):
            return None
        raise ConfigError(f"cannot read the settings file: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingError(f"{path} is not UTF-8 text; TOML files are UTF-8", origin=CONFIG_FILE) from None


def set_in_config(home: Path, key: str, raw: str) -> Any:
    """Write ``key = raw`` (as the environment would give it, validated) into the config.toml of
    the data directory ``home``, keeping its other keys and comments; returns the typed value. Only
    this key is validated, so a file with another bad key can be repaired. The file is replaced
    atomically, 0600, in the data directory (created 0700 if missing)."""
    spec = lookup(key, "config set")
    value = spec.from_text(raw, "config set", Path.cwd())  # a relative path is the caller's: stored absolute
    _edit_config(home, lambda doc: doc.__setitem__(key, spec.to_toml(value)))
    return value


def unset_in_config(home: Path, key: str) -> bool:
    """Remove ``key`` from config.toml (also a key that is not a setting, so a mistake can be
    removed); False when the file does not set it. A name that is neither is a SettingError."""
    removed = []

    def drop(doc):
        if key in doc:
            del doc[key]
            removed.append(key)

    if key not in SETTINGS_BY_NAME and key not in _file_keys(home / CONFIG_FILE):
        lookup(key, "config unset")
    _edit_config(home, drop)
    return bool(removed)


def _file_keys(path: Path) -> set[str]:
    text = _config_text(path)
    try:
        return set(tomllib.loads(text)) if text else set()
    except tomllib.TOMLDecodeError:
        return set()


def _edit_config(home: Path, change) -> None:
    import tomlkit  # style-preserving: comments and the order of other keys survive `config set`

    path = home / CONFIG_FILE
    text = _config_text(path) or ""
    try:
        tomllib.loads(text)  # the reader of record decides what parses; tomlkit only edits
        document = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise SettingError(f"{path} is not valid TOML: {exc}; fix that line by hand first", origin=CONFIG_FILE) from None
    before = tomlkit.dumps(document)
    change(document)
    after = tomlkit.dumps(document)
    if after != before:
        Settings(home=home).ensure_home()
        _write_private(path, after)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file holding ``text`` (a crash leaves the old or the new)."""
    import secrets

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        from .files import os_error_message

        raise ConfigError(f"cannot write the settings file: {os_error_message(path, exc)}") from None

