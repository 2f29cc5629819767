"""Issue 17, privacy and exposure: attacks on what the data directory, a deny and the HTTP service
let other people see. Each test replays one attack against the real CLI, store, policy engine or
service."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocketstudio.core.cli import app
from pocketstudio.core.config import Settings
from pocketstudio.core.store import Store, stage_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes_under(home: Path) -> dict[str, int]:
    """Every folder and file of a data directory (the folder itself as '.') with its mode."""
    found = {".": mode(home)}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(home))] = mode(path)
    return found


def assert_private(home: Path) -> dict[str, int]:
    found = modes_under(home)
    exposed = {name: oct(m) for name, m in found.items()
               if m != (0o700 if (home / name).is_dir() else 0o600)}
    assert not exposed, f"readable or writable by others: {exposed}"
    return found


# -- 6. the data directory is private, released images follow the umask ---------------------------

def _an_older_versions_home(home: Path) -> sqlite3.Connection:
    """A data directory as an earlier version (or a careless copy) left it: every folder 0755,
    every file 0644 (database, key files, an embedding, a checkpoint file). Returns a connection
    that keeps the database open in WAL mode, so that its -wal and -shm files exist (0644)."""
    with umask(0o022):
        assert run("init", "--home", home).exit_code == 0
        (home / "subjects").mkdir(exist_ok=True)
        (home / "subjects" / "0123abcd.safetensors").write_bytes(b"learned vectors")
        (home / "keys" / "audit-checkpoint.txt").write_text("pocketstudio.local/audit/x\n1\nroot\n")
        other = sqlite3.connect(home / "pocketstudio.db", isolation_level=None)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        other.execute("INSERT INTO scratch VALUES ('a prompt')")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert {"pocketstudio.db-wal", "pocketstudio.db-shm"} <= {p.name for p in home.iterdir()}
    return other


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_world_readable_home_is_locked_down_on_open(tmp_path, mask):
    home = tmp_path / "home"
    other = _an_older_versions_home(home)
    try:
        with umask(mask):
            assert run("init", "--home", home).exit_code == 0
        found = assert_private(home)
        assert {"pocketstudio.db", "pocketstudio.db-wal", "pocketstudio.db-shm", "keys", "keys/trust", "subjects",
                "subjects/0123abcd.safetensors", "keys/audit-checkpoint.txt"} <= set(found)
    finally:
        other.close()


def test_attack_world_readable_database_is_locked_down_by_any_store_open(tmp_path):
    """Commands that open only the database (audit list, verify) lock it down too."""
    db = tmp_path / "pocketstudio.db"
    Store.open(db).close()
    os.chmod(db, 0o644)
    store = Store.open(db)
    try:
        assert mode(db) == 0o600
    finally:
        store.close()


@pytest.mark.parametrize("mask", [0o000, 0o022], ids=["loose-umask", "usual-umask"])
def test_attack_loose_umask_does_not_expose_a_new_database_or_its_wal(tmp_path, mask):
    db = tmp_path / "pocketstudio.db"
    with umask(mask):
        store = Store.open(db)
        try:
            with store.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE scratch (x)")
            # The pool keeps its connection open, and with it the WAL and its index.
            assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
                "pocketstudio.db": 0o600, "pocketstudio.db-wal": 0o600, "pocketstudio.db-shm": 0o600}
        finally:
            store.close()


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_loose_umask_does_not_expose_files_written_in_the_data_directory(tmp_path, mask):
    """Key files and subject embeddings are written 0600 under any umask; a fresh home is 0700."""
    home = tmp_path / "home"
    with umask(mask):
        assert run("init", "--home", home).exit_code == 0
        embedding = stage_file(Settings.load(home).subjects_dir, "subject", b"vectors")
    assert mode(embedding) == 0o600
    assert_private(home)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_released_image_is_written_with_the_users_umask_and_the_home_stays_private(tmp_path, tiny_model_dir, mask):
    home, out = tmp_path / "home", tmp_path / "shared" / "pic.png"
    out.parent.mkdir()
    with umask(mask):
        result = run("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--home", home, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["released"]
    assert mode(out) == 0o666 & ~mask
    assert [p.name for p in out.parent.iterdir()] == ["pic.png"]  # no staged leftovers
    assert_private(home)


# -- 7. a deny does not tell the requester about consent given to others -----------------------------

from pocketstudio.policy.engine import ConsentFacts, DepictedPerson, PolicyEngine  # noqa: E402

from .conftest import NOW  # noqa: E402

T = int(NOW.timestamp())


def _grant(**changes) -> ConsentFacts:
    fields = dict(grant_id="g1", grantee="alice", purposes=("general",), not_before=T - 3600, not_after=T + 3600,
                  revoked=False)
    return ConsentFacts(**(fields | changes))


# Every state of the grants on file that does not let alice depict the person for "general".
NOT_FOR_THIS_REQUEST = {
    "no-grant": (),
    "consent-for-others-only": (_grant(grantee="bob"), _grant(grant_id="g2", grantee="carol", purposes=("news",))),
    "consent-for-another-purpose": (_grant(purposes=("advertising",)),),
    "expired-consent": (_grant(not_before=T - 7200, not_after=T - 3600),),
    "not-yet-valid-consent": (_grant(not_before=T + 3600, not_after=T + 7200),),
    "revoked-consent": (_grant(revoked=True),),
    "all-of-them": (_grant(grantee="bob"), _grant(grant_id="g2", purposes=("advertising",)),
                    _grant(grant_id="g3", revoked=True), _grant(grant_id="g4", not_after=T - 1)),
}


def _seen_by_requester(decision) -> tuple:
    return decision.effect, decision.rule_ids, decision.reason, decision.consent_grant_ids, decision.persons_checked


@pytest.mark.parametrize("policies", ["default", "with-a-hard-stop"])
def test_attack_deny_does_not_reveal_consent_granted_to_others(tmp_path, policies):
    """alice asks for a registered person under every grant state that does not allow her: the
    decision she sees is the same as for a person who never consented to anyone."""
    folder = None
    if policies == "with-a-hard-stop":  # a site policy that forbids on its own: still no difference
        folder = tmp_path / "mine"
        folder.mkdir()
        (folder / "stop.cedar").write_text('@id("no-ads-of-people")\nforbid (principal, action == Action::"depict", '
                                           'resource) when { context.purpose == "general" && context.now > 0 };\n')
    engine = PolicyEngine(folder, extend_defaults=True) if folder else PolicyEngine()
    seen = {state: _seen_by_requester(engine.evaluate(
        requester="alice", purpose="general", persons=[DepictedPerson("person_jane", grants)], now=NOW, stage="pre"))
        for state, grants in NOT_FOR_THIS_REQUEST.items()}
    assert seen["no-grant"][0] == "deny"
    assert all(view == seen["no-grant"] for view in seen.values()), seen


def test_attack_deny_does_not_reveal_consent_granted_to_others_operator_still_sees_why():
    engine = PolicyEngine()
    denied = engine.evaluate(requester="alice", purpose="general", now=NOW, stage="pre",
                             persons=[DepictedPerson("person_jane", NOT_FOR_THIS_REQUEST["consent-for-others-only"])])
    assert not denied.allowed and denied.rule_ids == ("likeness.no-consent",)
    assert len(denied.operator_notes) == 2 and "g1" in denied.operator_notes[0]
    # The requests the engine evaluated (committed in the audit log) include every grant tried.
    assert [r["context"].get("consent", {}).get("grant_id") for r in denied.inputs[1:]] == ["g1", "g2", None]
    # A grant that fits still allows, among others that do not.
    fits = (*NOT_FOR_THIS_REQUEST["all-of-them"], _grant(grant_id="ok"))
    allowed = engine.evaluate(requester="alice", purpose="general", now=NOW, stage="pre",
                              persons=[DepictedPerson("person_jane", fits)])
    assert allowed.allowed and allowed.consent_grant_ids == ("ok",)


def _public(value):
    """A denial as the requester sees it, less what differs between any two denials: ids, times,
    signatures, hashes and salted commitments (64 hex digits)."""
    per_record = {"decision_id", "entry_id", "seq", "index", "leaf_index", "audit_index", "time", "created_at", "signature",
                  "leaf_hash"}
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if k not in per_record}
    if isinstance(value, list):
        return [_public(v) for v in value]
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return "<sha256>"
    return value


def test_attack_deny_from_the_command_line_does_not_reveal_consent_granted_to_others(tmp_path, tiny_model_dir):
    """The same through the real CLI, with real signed grants: the deny output (words and JSON) and
    the audit record's public fields are the same before any grant, after a grant to someone else,
    for another purpose, an expired one and a revoked one."""
    home, key = tmp_path / "home", tmp_path / "jane.key"
    assert run("init", "--home", home).exit_code == 0
    enrolled = run("consent", "enroll", "--name", "Jane Example", "--key-out", key, "--home", home)
    assert enrolled.exit_code == 0, enrolled.output
    person_id = enrolled.stdout.split()[1].rstrip(":")

    def grant(*args):
        result = run("consent", "grant", person_id, "--key", key, *args, "--home", home)
        assert result.exit_code == 0, result.output
        return result.stdout.split()[1].rstrip(":")

    def alice_asks():
        result = run("generate", "Jane Example smiling", "-o", tmp_path / "jane.png", "--model", tiny_model_dir,
                     "--requester", "alice", "--purpose", "general", "--home", home, "--json")
        assert result.exit_code == 3 and not (tmp_path / "jane.png").exists(), result.output
        shown = json.loads(result.stdout)
        words = result.output.replace(result.stdout, "").replace(shown["decision_id"], "<id>")
        return _public(shown), words

    seen = {"no-grant": alice_asks()}
    grant("--grantee", "bob", "--purpose", "general", "--until", "2099-01-01")
    seen["consent-for-others-only"] = alice_asks()
    grant("--grantee", "alice", "--purpose", "advertising", "--until", "2099-01-01")
    seen["consent-for-another-purpose"] = alice_asks()
    grant("--grantee", "alice", "--purpose", "general", "--from", "2020-01-01", "--until", "2021-01-01")
    seen["expired-consent"] = alice_asks()
    revoked = grant("--grantee", "alice", "--purpose", "general", "--until", "2099-01-01")
    assert run("consent", "revoke", revoked, "--home", home).exit_code == 0
    seen["revoked-consent"] = alice_asks()
    assert all(view == seen["no-grant"] for view in seen.values()), seen
    assert "Jane" not in seen["no-grant"][1]

    denials = json.loads(run("audit", "list", "--effect", "deny", "--json", "--home", home).stdout)
    assert len(denials) == len(seen)
    assert all(_public(r) == _public(denials[0]) for r in denials), json.dumps([_public(r) for r in denials], indent=1)
