"""A data directory past one machine: its SQLite store copied into PostgreSQL (db migrate), fleet
keys provisioned from one data directory to another (keys export-fleet / import-fleet)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.app.home import DataHome
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.core.base.config import Settings

runner = CliRunner()


def _root(output: str) -> tuple[str, str]:
    found = re.search(r"(\d+) records.*root ([0-9a-f]{64})", output)
    assert found, output
    return found.group(1), found.group(2)


@pytest.mark.slow
def test_db_migrate_copies_a_sqlite_home_into_postgres_with_the_same_root(tmp_path, pg_url, tiny_generator):
    home = tmp_path / "home"
    settings = Settings.load(home)
    studio = Studio(settings, generator=tiny_generator)
    image = tmp_path / "out.png"
    release = studio.generate(GenerationRequest(prompt="a red circle on a blue background", requester="alice",
                                                seed=1, size=64), image)
    DataHome(settings).audit.checkpoint(dt.datetime.now(dt.timezone.utc))
    before = runner.invoke(app, ["audit", "verify", "--home", str(home)])
    assert before.exit_code == 0, before.output

    result = runner.invoke(app, ["db", "migrate", "--home", str(home), "--to", pg_url])
    assert result.exit_code == 0, result.output
    assert "audit log verifies on both sides" in result.output

    after = runner.invoke(app, ["audit", "verify", "--home", str(home), "--database-url", pg_url])
    assert after.exit_code == 0, after.output
    assert _root(after.output) == _root(before.output)
    assert (home / "pocketstudio.db").exists()  # the SQLite file is left as it was
    # The copy serves verification: the stripped-manifest recovery and the audit proof come from PostgreSQL.
    verdict = runner.invoke(app, ["verify", str(image), "--json", "--home", str(home), "--database-url", pg_url])
    assert verdict.exit_code == 0, verdict.output
    assert release.asset_id in verdict.output
    # A second migration into the same database is refused: it is no longer empty.
    again = runner.invoke(app, ["db", "migrate", "--home", str(home), "--to", pg_url])
    assert again.exit_code == 1 and "already holds" in again.output


def test_db_migrate_without_a_sqlite_database_says_so(tmp_path, pg_url):
    result = runner.invoke(app, ["db", "migrate", "--home", str(tmp_path / "none"), "--to", pg_url])
    assert result.exit_code == 1 and "nothing to migrate" in result.output


PASS = "correct horse battery"


def test_fleet_keys_give_two_devices_one_log_and_one_watermark_key(tmp_path, pg_url, monkeypatch):
    from pocketstudio.provenance.keys import KeyStore

    monkeypatch.setenv("POCKETSTUDIO_FLEET_PASSPHRASE", PASS)
    a, b = tmp_path / "a", tmp_path / "b"
    assert runner.invoke(app, ["init", "--home", str(a), "--database-url", pg_url]).exit_code == 0
    fleet = tmp_path / "fleet.keys"
    result = runner.invoke(app, ["keys", "export-fleet", str(fleet), "--home", str(a)])
    assert result.exit_code == 0, result.output
    assert fleet.stat().st_mode & 0o777 == 0o600
    assert b"BEGIN" not in fleet.read_bytes()  # sealed: no key in clear
    result = runner.invoke(app, ["keys", "import-fleet", str(fleet), "--home", str(b)])
    assert result.exit_code == 0, result.output
    assert "1 trust anchor(s) added" in result.output
    result = runner.invoke(app, ["init", "--home", str(b), "--database-url", pg_url])
    assert result.exit_code == 0, result.output

    ka, kb = KeyStore(Settings.load(a)), KeyStore(Settings.load(b))
    assert ka.audit_origin() == kb.audit_origin()
    assert ka.watermark_key() == kb.watermark_key() and ka.registry_key() == kb.registry_key()
    assert ka.chain()[0].public_bytes(serialization.Encoding.DER) != kb.chain()[0].public_bytes(serialization.Encoding.DER)
    assert (a / "keys" / "root-ca.pem").read_text().strip() in kb.trust_anchors_pem()

    # Both devices write into the one log; each verifies it whole (its own kept checkpoint included).
    now = dt.datetime.now(dt.timezone.utc)
    for home in (a, b, a):
        DataHome(Settings.load(home).with_(database_url=pg_url)).audit.append_consent(
            {"event": "enrolled", "person_id": f"person_{home.name}"}, now)
    for home in (a, b):
        result = runner.invoke(app, ["audit", "verify", "--home", str(home), "--database-url", pg_url])
        assert result.exit_code == 0, result.output


def test_fleet_key_file_with_a_wrong_passphrase_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("POCKETSTUDIO_FLEET_PASSPHRASE", PASS)
    assert runner.invoke(app, ["init", "--home", str(tmp_path / "a")]).exit_code == 0
    fleet = tmp_path / "fleet.keys"
    assert runner.invoke(app, ["keys", "export-fleet", str(fleet), "--home", str(tmp_path / "a")]).exit_code == 0
    monkeypatch.setenv("POCKETSTUDIO_FLEET_PASSPHRASE", "another passphrase")
    result = runner.invoke(app, ["keys", "import-fleet", str(fleet), "--home", str(tmp_path / "b")])
    assert result.exit_code == 1 and "wrong passphrase" in result.output


def test_attack_device_with_its_own_logged_history_cannot_silently_switch_logs(tmp_path, monkeypatch):
    """A device that already kept a checkpoint of its own log must not take another log's key: its
    history would no longer verify and the change would go unnoticed."""
    monkeypatch.setenv("POCKETSTUDIO_FLEET_PASSPHRASE", PASS)
    a, b = tmp_path / "a", tmp_path / "b"
    for home in (a, b):
        assert runner.invoke(app, ["init", "--home", str(home)]).exit_code == 0
    DataHome(Settings.load(b)).audit.append_consent({"event": "enrolled", "person_id": "p"},
                                                    dt.datetime.now(dt.timezone.utc))
    fleet = tmp_path / "fleet.keys"
    assert runner.invoke(app, ["keys", "export-fleet", str(fleet), "--home", str(a)]).exit_code == 0
    result = runner.invoke(app, ["keys", "import-fleet", str(fleet), "--home", str(b)])
    assert result.exit_code == 1 and "already logged" in result.output
