"""Messaging tests: uploads in a per-test directory, fast heartbeats, the messaging router mounted.

The test database runs every unit of work on one connection; sockets use it from several threads at
once, so units are serialised here (production sessions each have their own pooled connection).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.conftest import TransactionalDatabase
from tests.factories_messaging import mount_messaging


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.model_copy(
        update={
            "storage_dir": str(tmp_path / "files"),
            "chat_heartbeat_seconds": 5.0,
            "chat_idle_timeout_seconds": 30.0,
        }
    )


@pytest.fixture
def database(database: TransactionalDatabase) -> Iterator[TransactionalDatabase]:
    # A plain lock (released by whichever thread ends the unit: the HTTP layer enters a unit on the
    # event loop and ends it in a worker thread); units opened while one ends (late audit writes)
    # run inside the ending unit's turn.
    lock = threading.Lock()
    ending = threading.local()
    over = threading.Event()
    original = database.unit_of_work

    @contextmanager
    def serialised(*, write: bool = True) -> Iterator[Session]:
        if getattr(ending, "active", False):
            with original(write=write) as session:
                yield session
            return
        lock.acquire()
        if over.is_set():  # a socket task outliving its test must not touch the next test's connection
            lock.release()
            raise RuntimeError("the test is over")
        unit = original(write=write)
        try:
            session = unit.__enter__()
            try:
                yield session
            except BaseException:
                ending.active = True
                if not unit.__exit__(*sys.exc_info()):
                    raise
            else:
                ending.active = True
                unit.__exit__(None, None, None)
        finally:
            ending.active = False
            lock.release()

    database.unit_of_work = serialised  # type: ignore[method-assign]
    # Tests writing through the `db` fixture while sockets are open take the same turn.
    database.serial_lock = lock  # type: ignore[attr-defined]
    yield database
    with lock:  # wait for a unit still running in a socket's thread, then refuse new ones
        over.set()


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_messaging(app)
