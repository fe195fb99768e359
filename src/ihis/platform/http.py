"""FastAPI glue shared by every router: the unit-of-work dependencies and request facts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ihis.platform.db import Database
from ihis.settings import Settings

INSTITUTION_HEADER = "X-IHIS-Institution"


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """The request's writing unit of work: commits once after the endpoint, rolls back on error."""
    with get_database(request).unit_of_work(write=True) as session:
        request.state.db_session = session
        yield session


def get_read_db(request: Request) -> Iterator[Session]:
    """A read-only unit of work (no write lock on SQLite); audit entries are still persisted."""
    with get_database(request).unit_of_work(write=False) as session:
        request.state.db_session = session
        yield session


def client_ip(request: Request) -> str | None:
    """The caller's IP; the first X-Forwarded-For hop only behind a trusted proxy."""
    settings: Settings = request.app.state.settings
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    ua = request.headers.get("user-agent")
    return ua[:255] if ua else None


def institution_code(request: Request) -> str:
    """The institution an anonymous request is for: the header, else the configured default."""
    settings: Settings = request.app.state.settings
    return request.headers.get(INSTITUTION_HEADER) or settings.default_institution_code


# scope="function": the commit runs before the response is sent, so a failed commit is never
# reported to the client as success (FastAPI otherwise runs yield-cleanup after sending).
Db = Annotated[Session, Depends(get_db, scope="function")]
ReadDb = Annotated[Session, Depends(get_read_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
