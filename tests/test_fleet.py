"""A data directory past one machine: its SQLite store copied into PostgreSQL (db migrate), fleet
keys provisioned from one data directory to another (keys export-fleet / import-fleet)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
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
