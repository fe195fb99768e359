"""Concurrent deliveries of one message run its handler once (separate connections, real commits)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, select

from ihis.platform import outbox
from ihis.platform.db import Database
from ihis.platform.outbox import HandlerContext, OutboxMessage
from ihis.settings import Settings

pytestmark = pytest.mark.commits

TOPIC = "test.concurrency.count"
runs: dict[int, int] = {}
runs_lock = threading.Lock()


@outbox.handler(TOPIC)
def _count(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    with runs_lock:
        runs[payload["n"]] = runs.get(payload["n"], 0) + 1


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[Database]:
    """A Database that really commits (its own pool); the rows it made are removed afterwards."""
    database = Database(base_settings)
    runs.clear()
    try:
        yield database
    finally:
        with database.unit_of_work() as db:
            db.execute(delete(OutboxMessage).where(OutboxMessage.topic.like("test.concurrency.%")))
        database.dispose()
        runs.clear()


def _context(database: Database) -> HandlerContext:
    refuse = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(599)))
    return HandlerContext(database=database, settings=database.settings, http=refuse)


def _insert_without_dispatch(database: Database, count: int) -> list[int]:
    # Straight rows, no after-commit hook: only our threads will deliver them.
    with database.unit_of_work() as db:
        rows = [
            OutboxMessage(topic=TOPIC, payload=f'{{"n":{n}}}', status=outbox.PENDING) for n in range(count)
        ]
        db.add_all(rows)
        db.flush()
        return [row.id for row in rows]


def test_concurrent_deliveries_of_one_message_run_its_handler_once(committed: Database) -> None:
    ctx = _context(committed)
    ids = _insert_without_dispatch(committed, 5)
    contenders = 4
    for message_id in ids:
        barrier = threading.Barrier(contenders)

        def race(mid: int = message_id, gate: threading.Barrier = barrier) -> bool:
            gate.wait(timeout=10)
            return outbox.deliver(ctx, mid)

        with ThreadPoolExecutor(contenders) as pool:
            outcomes = list(pool.map(lambda _: race(), range(contenders)))
        assert outcomes.count(True) == 1, outcomes
    assert runs == dict.fromkeys(range(5), 1)
    with committed.unit_of_work(write=False) as db:
        statuses = db.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(ids))).all()
        attempts = db.scalars(select(OutboxMessage.attempts).where(OutboxMessage.id.in_(ids))).all()
    assert set(statuses) == {outbox.DONE}
    assert set(attempts) == {1}


def test_a_claim_waiting_on_an_uncommitted_claim_gets_nothing(committed: Database) -> None:
    [message_id] = _insert_without_dispatch(committed, 1)
    first = committed.session()
    try:
        assert outbox.claim(first, committed.settings, message_id) is not None
        result: list[object] = []

        def second_claim() -> None:
            # PostgreSQL: blocks on the row lock, then re-checks WHERE status='pending' -> 0 rows.
            # SQLite: BEGIN IMMEDIATE waits for the writer, then sees 'processing' -> 0 rows.
            with committed.unit_of_work() as db:
                result.append(outbox.claim(db, committed.settings, message_id))

        contender = threading.Thread(target=second_claim)
        contender.start()
        contender.join(timeout=0.3)
        assert contender.is_alive(), "the second claim must wait for the first transaction"
        first.commit()
        contender.join(timeout=10)
        assert not contender.is_alive()
        assert result == [None]
    finally:
        first.close()
