"""Admission of requests to the database: at most a few units of work per process at a time.

Why: FastAPI runs a sync endpoint, its response validation and the commit of a yield dependency in
*separate* hops through one thread pool (40 threads). A request that holds SQLite's write lock or a
PostgreSQL pool connection across those hops needs a free thread to finish; if every thread is
taken by requests blocked waiting for that lock or connection, nobody finishes (bench/booking.py
showed 500 "database is locked" on SQLite and hangs on PostgreSQL under a 200-booker storm).

So requests queue *in the event loop* (no thread held) before they open a unit of work: writers one at
a time on SQLite (fair FIFO instead of busy-polling the file lock), and no more units in flight than
the pool can serve with connections to spare for authentication. A request that waits longer than
``IHIS_DB_ADMISSION_TIMEOUT_SECONDS`` gets 503 with Retry-After instead of hanging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from ihis.platform.errors import IhisError

# Threads of the pool that stay free for hops of admitted requests and for dependencies such as
# authentication that open their own short unit of work.
_THREADS = 40
_RESERVED_CONNECTIONS = 4


class ServerBusy(IhisError):
    code = "server_busy"
    status = 503
    title_zh = "服务繁忙，请稍后再试"
    title_en = "The service is busy; try again shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"}, extra={"retry_after": 1})


@dataclass
class DbGate:
    """Two FIFO limits: units of work in flight, and writers among them."""

    units: anyio.Semaphore
    writers: anyio.Semaphore
    timeout_seconds: float

    @classmethod
    def create(cls, *, dialect: str, pool_capacity: int, timeout_seconds: float) -> DbGate:
        units = max(2, min(pool_capacity - _RESERVED_CONNECTIONS, _THREADS // 2))
        # SQLite has one writer at a time anyway: queue them here, fairly, without holding threads.
        writers = 1 if dialect == "sqlite" else units
        return cls(anyio.Semaphore(units), anyio.Semaphore(writers), timeout_seconds)

    @asynccontextmanager
    async def admit(self, *, write: bool) -> AsyncIterator[None]:
        """Wait (in the event loop) for a place; 503 after the timeout."""
        with anyio.move_on_after(self.timeout_seconds) as waited:
            if write:
                await self.writers.acquire()
        if waited.cancelled_caught:
            raise ServerBusy()
        try:
            with anyio.move_on_after(self.timeout_seconds) as waited:
                await self.units.acquire()
            if waited.cancelled_caught:
                raise ServerBusy()
            try:
                yield
            finally:
                self.units.release()
        finally:
            if write:
                self.writers.release()
