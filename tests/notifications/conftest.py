"""Mount the notifications router on the test app until ``create_app`` includes it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from ihis.notifications.api import router


@pytest.fixture
def app(app: FastAPI) -> Any:
    mounted = {getattr(r, "path", "") for r in app.routes}
    if "/api/v1/me/messages" not in mounted:
        app.include_router(router, prefix="/api/v1")
    return app
