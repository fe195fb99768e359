"""Registration tests: uploads in a per-test directory; the sandbox HIS and eligibility API mounted."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from ihis.settings import Settings
from tests.factories_his import ensure_his_routes


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.model_copy(update={"storage_dir": str(tmp_path / "files")})


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return ensure_his_routes(app)
