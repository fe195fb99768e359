"""Organization tests keep uploaded files in a per-test directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihis.settings import Settings


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.model_copy(update={"storage_dir": str(tmp_path / "files")})
