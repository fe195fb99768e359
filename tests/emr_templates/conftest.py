"""EMR template tests: the code and template routers mounted on the test application."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories_coding import mount_coding


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_coding(app)
