"""Signing tests: the signing routers and the sandbox CA/TSA mounted on the test application."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories_signing import mount_signing


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_signing(app)
