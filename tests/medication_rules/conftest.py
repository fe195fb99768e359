"""Knowledge-base API tests: the router is mounted on the test application."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories_medication_rules import mount_medication_rules


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_medication_rules(app)
