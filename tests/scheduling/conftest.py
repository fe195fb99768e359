"""Scheduling tests: the app with the scheduling router mounted (until app.py includes it)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from ihis.app import API_PREFIX


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    from ihis.scheduling.api import router

    mounted = any(getattr(r, "path", "").startswith(f"{API_PREFIX}/admin/scheduling") for r in app.routes)
    if not mounted:
        app.include_router(router, prefix=API_PREFIX)
    return app
