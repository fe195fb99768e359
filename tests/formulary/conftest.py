"""Formulary tests: the formulary router and the sandbox supplier are mounted on the test app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories_formulary import mount_formulary


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_formulary(app)


@pytest.fixture
def other(app: FastAPI) -> Iterator[TestClient]:
    """A second client, for a second staff member (the approver next to the proposer)."""
    with TestClient(app, base_url="http://testserver") as c:
        yield c
