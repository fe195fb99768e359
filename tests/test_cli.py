"""The ``ihis`` command against a real database file: migrate, bootstrap, audit verify, keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ihis import cli
from ihis.settings import get_settings


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A brand-new SQLite file the CLI migrates itself (independent of the test transaction)."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("IHIS_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("IHIS_JOBS_PATH", str(tmp_path / "jobs.db"))
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(cli.app, ["migrate"]).exit_code == 0
    yield path
    get_settings.cache_clear()


def test_bootstrap_creates_institution_and_one_time_admin_password_once(fresh_db: Path) -> None:
    runner = CliRunner()
    args = ["bootstrap", "--code", "H1", "--name", "第一医院", "--subjects", "03.01,03.04"]
    first = runner.invoke(cli.app, args)
    assert first.exit_code == 0, first.output
    assert "H1 (第一医院): created" in first.output and "one-time password" in first.output
    again = runner.invoke(cli.app, args)
    assert again.exit_code == 0
    assert "already present" in again.output and "one-time password" not in again.output
    verified = runner.invoke(cli.app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_bootstrap_refuses_unknown_subject_codes(fresh_db: Path) -> None:
    result = CliRunner().invoke(cli.app, ["bootstrap", "--code", "H2", "--name", "x", "--subjects", "99.99"])
    assert result.exit_code != 0


def test_bootstrapped_admin_must_change_password_then_enrol_totp(fresh_db: Path) -> None:
    from fastapi.testclient import TestClient

    from ihis.app import create_app

    result = CliRunner().invoke(
        cli.app, ["bootstrap", "--code", "H3", "--name", "三院", "--subjects", "03.01"]
    )
    password = result.output.split("one-time password: ")[1].split()[0]
    get_settings.cache_clear()
    with TestClient(create_app(get_settings().model_copy(update={"run_worker_in_process": False}))) as c:
        r = c.post(
            "/api/v1/auth/staff/login",
            json={"username": "admin", "password": password},
            headers={"X-IHIS-Institution": "H3"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["next"] == "change_password"
