"""The app of one API process in the two-process test: ``create_app`` plus the messaging router."""

from __future__ import annotations

from fastapi import FastAPI

from ihis.app import create_app
from ihis.settings import get_settings
from tests.factories_messaging import mount_messaging


def create() -> FastAPI:
    """uvicorn --factory entry point (settings from IHIS_* environment variables)."""
    return mount_messaging(create_app(get_settings()))
