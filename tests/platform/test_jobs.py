"""The jobs runtime: Huey configuration, the bound runtime, and the in-process consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import Engine, delete, select

from ihis.platform import jobs, outbox
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.outbox import HandlerContext, OutboxMessage
from ihis.settings import Settings

TOPIC = "test.jobs.consumed"
consumed: list[dict[str, Any]] = []


@outbox.handler(TOPIC)
def _consume(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    consumed.append(payload)


@pytest.fixture
def restore_jobs(base_settings: Settings) -> Iterator[None]:
    """Tests here reconfigure the process-wide Huey; put the test configuration back afterwards."""
    consumed.clear()
    try:
        yield
    finally:
        jobs.configure(base_settings)
        jobs.unbind_runtime()
        consumed.clear()


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[Database]:
    """A Database that really commits (consumer threads use their own connections)."""
    database = Database(base_settings)
    try:
        yield database
    finally:
        with database.unit_of_work() as db:
            db.execute(delete(OutboxMessage).where(OutboxMessage.topic == TOPIC))
        database.dispose()


def _refusing_http() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(599)))


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_configure_picks_immediate_sqlite_or_redis_storage(
    base_settings: Settings, tmp_path: Path, restore_jobs: None
) -> None:
    jobs.configure(base_settings)
    assert jobs.huey.immediate and isinstance(jobs.huey.storage, MemoryStorage)

    queued = base_settings.model_copy(
        update={"jobs_immediate": False, "jobs_path": str(tmp_path / "q" / "j.db")}
    )
    jobs.configure(queued)
    assert not jobs.huey.immediate
    assert isinstance(jobs.huey.storage, SqliteStorage)
    assert jobs.huey.storage.filename == str(tmp_path / "q" / "j.db")

    with_redis = queued.model_copy(update={"redis_url": "redis://127.0.0.1:6399/3"})
    jobs.configure(with_redis)
    assert isinstance(jobs.huey.storage, RedisStorage)
    assert jobs.huey.storage.conn.connection_pool.connection_kwargs["db"] == 3


def test_runtime_without_a_binding_raises_a_clear_error(restore_jobs: None) -> None:
    jobs.unbind_runtime()
    with pytest.raises(jobs.JobsRuntimeNotBound, match="bind_runtime"):
        jobs.runtime()


def test_bound_runtime_hands_tasks_the_database_settings_and_http(
    committed: Database, base_settings: Settings, restore_jobs: None
) -> None:
    http = _refusing_http()
    jobs.bind_runtime(committed, base_settings, http)
    ctx = jobs.runtime()
    assert (ctx.database, ctx.settings, ctx.http) == (committed, base_settings, http)
    jobs.bind_runtime(committed, base_settings)
    assert jobs.runtime().http.headers["User-Agent"].startswith("IHIS")


def _statuses(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return list(db.scalars(select(OutboxMessage.status).where(OutboxMessage.topic == TOPIC)))


def _run_consumer_scenario(database: Database, settings: Settings) -> None:
    """Crash leftovers are swept at start, new events delivered, and stop() is prompt."""
    jobs.configure(settings)
    jobs.bind_runtime(database, settings, _refusing_http())
    with database.unit_of_work() as db:
        # Left by a crash between commit and enqueue: no task exists for it.
        db.add(
            OutboxMessage(
                topic=TOPIC, payload='{"n":"left"}', status=outbox.PENDING, next_attempt_at=utcnow()
            )
        )
    consumer = jobs.start_in_process_consumer(settings)
    try:
        assert consumer.running
        with database.unit_of_work() as db:
            outbox.emit(db, TOPIC, {"n": "new"})
        _wait_until(lambda: _statuses(database) == [outbox.DONE, outbox.DONE])
    finally:
        started = time.monotonic()
        consumer.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 3.0
    assert not consumer.running
    assert not [t for t in threading.enumerate() if t.name == "Scheduler" or t.name.startswith("Worker-")]
    assert sorted(p["n"] for p in consumed) == ["left", "new"]


def test_in_process_consumer_delivers_from_sqlite_storage_and_stops_promptly(
    committed: Database, base_settings: Settings, tmp_path: Path, restore_jobs: None
) -> None:
    queued = base_settings.model_copy(
        update={"jobs_immediate": False, "jobs_path": str(tmp_path / "jobs.db")}
    )
    _run_consumer_scenario(committed, queued)


def test_in_process_consumer_delivers_from_redis_storage(
    committed: Database, base_settings: Settings, redis_url: str, restore_jobs: None
) -> None:
    queued = base_settings.model_copy(update={"jobs_immediate": False, "redis_url": redis_url})
    _run_consumer_scenario(committed, queued)


def test_in_process_consumer_is_a_no_op_in_immediate_mode(
    base_settings: Settings, restore_jobs: None
) -> None:
    consumer = jobs.start_in_process_consumer(base_settings)
    assert not consumer.running
    consumer.stop()


def test_worker_refuses_to_run_in_immediate_mode(base_settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="IHIS_JOBS_IMMEDIATE"):
        jobs.run_worker(base_settings)
