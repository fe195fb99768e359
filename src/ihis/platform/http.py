"""FastAPI glue shared by every router: the unit-of-work dependencies and request facts."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ihis.platform.admission import DbGate
from ihis.platform.db import Database, defer_after_commit_hooks, run_hooks
from ihis.platform.storage import FileStorage, storage_for
from ihis.settings import Settings

INSTITUTION_HEADER = "X-IHIS-Institution"


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_gate(request: Request) -> DbGate:
    """The admission gate of the running event loop (one per server process; a test that drives the
    app from several event loops gets one per loop, as loop-bound primitives require)."""
    gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbGate] | None = getattr(
        request.app.state, "db_gates", None
    )
    if gates is None:
        gates = request.app.state.db_gates = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    gate = gates.get(loop)
    if gate is None:
        database = get_database(request)
        gate = gates[loop] = DbGate.create(
            dialect=database.dialect,
            pool_capacity=database.pool_capacity,
            timeout_seconds=database.settings.db_admission_timeout_seconds,
        )
    return gate


@asynccontextmanager
async def _unit_of_work(request: Request, *, write: bool) -> AsyncIterator[Session]:
    """Admitted by the gate first (waiting in the event loop), then one unit of work whose commit or
    rollback runs in a worker thread; a failure inside the endpoint rolls it back."""
    async with get_gate(request).admit(write=write):
        unit = get_database(request).unit_of_work(write=write)
        session = unit.__enter__()  # creates the session only: no I/O yet
        hooks = defer_after_commit_hooks(session)
        request.state.db_session = session
        try:
            yield session
        except BaseException as exc:
            await run_in_threadpool(unit.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await run_in_threadpool(unit.__exit__, None, None, None)
    if hooks:  # committed; outside the gate (e.g. dispatching outbox messages)
        await run_in_threadpool(run_hooks, hooks)


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's writing unit of work: commits once after the endpoint, rolls back on error."""
    async with _unit_of_work(request, write=True) as session:
        yield session


async def get_read_db(request: Request) -> AsyncIterator[Session]:
    """A read-only unit of work (no write lock on SQLite); audit entries are still persisted."""
    async with _unit_of_work(request, write=False) as session:
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


def file_storage(request: Request) -> FileStorage:
    """The configured file storage (local directory, or S3-compatible object storage)."""
    return storage_for(request.app.state.settings)


# scope="function": the commit runs before the response is sent, so a failed commit is never
# reported to the client as success (FastAPI otherwise runs yield-cleanup after sending).
Db = Annotated[Session, Depends(get_db, scope="function")]
ReadDb = Annotated[Session, Depends(get_read_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Storage = Annotated[FileStorage, Depends(file_storage)]
