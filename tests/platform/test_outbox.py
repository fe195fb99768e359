"""The transactional outbox: emitted with the business transaction, delivered after commit, once.

These run in jobs-immediate mode inside the test's rolled-back transaction (see conftest), so a
delivery runs synchronously in the after-commit hook of the emitting unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.platform import jobs, outbox
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.http import Db
from ihis.platform.outbox import HandlerContext, OutboxMessage
from ihis.settings import Settings

OK = "test.outbox.ok"
FLAKY = "test.outbox.flaky"
ALWAYS_FAILS = "test.outbox.always_fails"
CHAIN = "test.outbox.chain"
CALLS_SANDBOX = "test.outbox.calls_app"

received: list[tuple[str, dict[str, Any]]] = []
app_answers: list[int] = []


@outbox.handler(OK)
def _record(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    received.append((OK, payload))


@outbox.handler(FLAKY)
def _fail_first_then_record(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    if not any(topic == FLAKY + ".failed" for topic, _ in received):
        received.append((FLAKY + ".failed", payload))
        raise ConnectionError("upstream down")
    received.append((FLAKY, payload))


@outbox.handler(ALWAYS_FAILS)
def _always_fail(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    received.append((ALWAYS_FAILS, payload))
    # The message text carries personal data on purpose: it must never reach last_error.
    raise RuntimeError("patient 13800138000 not found")


@outbox.handler(CHAIN)
def _emit_follow_up(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    with ctx.database.unit_of_work() as db:
        outbox.emit(db, OK, {"after": payload["n"]})


@outbox.handler(CALLS_SANDBOX)
def _call_app(ctx: HandlerContext, payload: dict[str, Any]) -> None:
    app_answers.append(ctx.http.get("http://testserver/healthz").status_code)


@pytest.fixture(autouse=True)
def _fresh_recorders() -> Iterator[None]:
    received.clear()
    app_answers.clear()
    yield
    received.clear()
    app_answers.clear()


def _messages(db: Session, topic: str | None = None) -> list[OutboxMessage]:
    db.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if topic is not None:
        stmt = stmt.where(OutboxMessage.topic == topic)
    return list(db.scalars(stmt))


def _make_due(db: Session, message_id: int) -> None:
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
    )
    db.commit()


def test_emit_in_a_rolled_back_unit_of_work_leaves_no_message_and_runs_nothing(
    database: Database, db: Session
) -> None:
    with pytest.raises(LookupError), database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"n": 1})
        raise LookupError("the business operation failed after emitting")
    assert received == []
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert outbox.dispatch_due(jobs.runtime()) == 0
    assert received == []


def test_emit_is_delivered_after_commit_exactly_once(database: Database, db: Session) -> None:
    with database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"n": 1})
        assert received == [], "nothing runs before the transaction commits"
    assert received == [(OK, {"n": 1})]
    [message] = _messages(db)
    assert (message.status, message.attempts, message.last_error) == (outbox.DONE, 1, None)
    assert message.dispatched_at is not None
    # Neither the sweeper nor a duplicate task delivers it again.
    assert outbox.dispatch_due(jobs.runtime()) == 0
    assert outbox.deliver(jobs.runtime(), message.id) is False
    assert received == [(OK, {"n": 1})]


def test_emit_with_a_key_already_used_for_the_topic_is_a_no_op(database: Database, db: Session) -> None:
    with database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"n": 1}, key="bill-7-paid")
        outbox.emit(uow, OK, {"n": 2}, key="bill-7-paid")
        # The duplicate did not poison the transaction: it goes on and commits.
        outbox.emit(uow, OK, {"n": 3}, key="bill-8-paid")
    with database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"n": 4}, key="bill-7-paid")
        outbox.emit(uow, CHAIN + ".unused", {"n": 5}, key="bill-7-paid")  # same key, other topic
    assert sorted(p["n"] for _, p in received) == [1, 3]
    assert [(m.topic, m.key) for m in _messages(db)] == [
        (OK, "bill-7-paid"),
        (OK, "bill-8-paid"),
        (CHAIN + ".unused", "bill-7-paid"),
    ]


def test_messages_without_a_key_are_never_deduplicated(database: Database) -> None:
    with database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"n": 1})
        outbox.emit(uow, OK, {"n": 1})
    assert received == [(OK, {"n": 1}), (OK, {"n": 1})]


def test_handler_failure_is_retried_with_backoff_and_then_succeeds(database: Database, db: Session) -> None:
    before = utcnow()
    with database.unit_of_work() as uow:
        outbox.emit(uow, FLAKY, {"n": 1})
    [message] = _messages(db)
    assert (message.status, message.attempts) == (outbox.PENDING, 1)
    assert message.last_error is not None and message.last_error.startswith(
        "ConnectionError at test_outbox.py:"
    )
    # First backoff is 15 s with +-20% jitter.
    assert before + dt.timedelta(seconds=11) < message.next_attempt_at < utcnow() + dt.timedelta(seconds=19)
    assert outbox.dispatch_due(jobs.runtime()) == 0, "not due yet"

    _make_due(db, message.id)
    assert outbox.dispatch_due(jobs.runtime()) == 1
    [message] = _messages(db)
    assert (message.status, message.attempts, message.last_error) == (outbox.DONE, 2, None)
    assert [topic for topic, _ in received] == [FLAKY + ".failed", FLAKY]


def test_handler_that_keeps_failing_ends_as_a_dead_letter_after_max_attempts(
    database: Database, db: Session, settings: Settings
) -> None:
    assert outbox.max_attempts(settings) == 8  # the default when not configured
    with database.unit_of_work() as uow:
        outbox.emit(uow, ALWAYS_FAILS, {"n": 1})
    [message] = _messages(db)
    delays = [message.next_attempt_at]
    for attempt in range(2, 9):
        _make_due(db, message.id)
        started = utcnow()
        assert outbox.dispatch_due(jobs.runtime()) == 1
        [message] = _messages(db)
        assert message.attempts == attempt
        delays.append(message.next_attempt_at)
        if attempt < 8:
            # Exponential: 15 s * 2**(attempt-1), +-20% jitter, capped at one hour.
            expected = min(3600.0, 15.0 * 2 ** (attempt - 1))
            waited = (message.next_attempt_at - started).total_seconds()
            assert expected * 0.79 < waited < expected * 1.21 + 1
    assert message.status == outbox.FAILED
    assert message.last_error is not None and message.last_error.startswith("RuntimeError at ")
    assert "13800138000" not in message.last_error
    # A dead letter is never picked up again, even when "due".
    _make_due(db, message.id)
    assert outbox.dispatch_due(jobs.runtime()) == 0
    assert len(received) == 8
    assert [m.id for m in outbox.failed_messages(db)] == [message.id]


def test_max_attempts_comes_from_settings(database: Database, db: Session, settings: Settings) -> None:
    three = settings.model_copy(update={"outbox_max_attempts": 3})
    jobs.bind_runtime(database, three, jobs.runtime().http)
    with database.unit_of_work() as uow:
        outbox.emit(uow, ALWAYS_FAILS, {"n": 1})
    [message] = _messages(db)
    for _ in range(2):
        _make_due(db, message.id)
        outbox.dispatch_due(jobs.runtime())
    [message] = _messages(db)
    assert (message.status, message.attempts) == (outbox.FAILED, 3)


def test_operator_retry_requeues_a_dead_letter_with_a_fresh_budget(
    database: Database, db: Session, settings: Settings
) -> None:
    one = settings.model_copy(update={"outbox_max_attempts": 1})
    jobs.bind_runtime(database, one, jobs.runtime().http)
    with database.unit_of_work() as uow:
        outbox.emit(uow, FLAKY, {"n": 1})
    [message] = _messages(db)
    assert message.status == outbox.FAILED
    with database.unit_of_work() as uow:
        assert outbox.retry_failed(uow, message.id) is True
    [message] = _messages(db)
    assert (message.status, message.attempts) == (outbox.DONE, 1)
    assert [topic for topic, _ in received] == [FLAKY + ".failed", FLAKY]
    with database.unit_of_work() as uow:
        assert outbox.retry_failed(uow, message.id) is False, "only failed messages can be retried"


def test_unknown_topic_fails_with_a_clear_error(database: Database, db: Session) -> None:
    with database.unit_of_work() as uow:
        outbox.emit(uow, "test.outbox.nobody_listens", {"n": 1})
    [message] = _messages(db)
    assert (message.status, message.attempts) == (outbox.PENDING, 1)
    assert message.last_error is not None
    assert "no outbox handler registered for topic 'test.outbox.nobody_listens'" in message.last_error


def test_message_left_pending_by_a_crash_after_commit_is_delivered_by_the_sweeper(
    database: Database, db: Session
) -> None:
    # The process died between commit and enqueue: the row exists, no task was ever queued.
    db.add(
        OutboxMessage(
            topic=OK, payload='{"n":1}', status=outbox.PENDING, attempts=0, next_attempt_at=utcnow()
        )
    )
    db.commit()
    assert received == []
    jobs.sweep_outbox()  # the periodic Huey task (runs inline in immediate mode)
    assert received == [(OK, {"n": 1})]
    assert [m.status for m in _messages(db)] == [outbox.DONE]


def test_message_held_by_a_dead_worker_is_redelivered_after_its_lease_expires(
    database: Database, db: Session
) -> None:
    now = utcnow()
    held = OutboxMessage(
        topic=OK,
        payload='{"n":1}',
        status=outbox.PROCESSING,
        attempts=1,
        next_attempt_at=now,
        lease_until=now + dt.timedelta(minutes=4),
    )
    expired = OutboxMessage(
        topic=OK,
        payload='{"n":2}',
        status=outbox.PROCESSING,
        attempts=1,
        next_attempt_at=now,
        lease_until=now - dt.timedelta(seconds=1),
    )
    db.add_all([held, expired])
    db.commit()
    assert outbox.dispatch_due(jobs.runtime()) == 1
    assert received == [(OK, {"n": 2})]
    by_payload = {m.payload: m for m in _messages(db)}
    assert by_payload['{"n":1}'].status == outbox.PROCESSING, "a live lease is left alone"
    assert (by_payload['{"n":2}'].status, by_payload['{"n":2}'].attempts) == (outbox.DONE, 2)


def test_lease_expired_on_the_last_attempt_becomes_a_dead_letter(database: Database, db: Session) -> None:
    now = utcnow()
    db.add(
        OutboxMessage(
            topic=OK,
            payload="{}",
            status=outbox.PROCESSING,
            attempts=8,
            next_attempt_at=now,
            lease_until=now - dt.timedelta(seconds=1),
        )
    )
    db.commit()
    assert outbox.dispatch_due(jobs.runtime()) == 0
    [message] = _messages(db)
    assert (message.status, message.last_error) == (outbox.FAILED, "lease expired on the last attempt")
    assert received == []


def test_a_claimed_message_cannot_be_claimed_again_and_a_stale_holder_cannot_settle_it(
    database: Database, db: Session, settings: Settings
) -> None:
    db.add(OutboxMessage(topic=OK, payload="{}", status=outbox.PENDING, attempts=0, next_attempt_at=utcnow()))
    db.commit()
    [message] = _messages(db)
    first = outbox.claim(db, settings, message.id)
    assert first is not None and first.attempt == 1
    assert outbox.claim(db, settings, message.id) is None, "the guarded UPDATE matches no row"
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(lease_until=utcnow() - dt.timedelta(seconds=1))
    )
    second = outbox.claim(db, settings, message.id)
    assert second is not None and second.attempt == 2
    assert outbox.mark_done(db, first) is False, "fenced: the first holder lost its lease"
    assert outbox.mark_failed_attempt(db, settings, first, "late") is None
    assert outbox.mark_done(db, second) is True
    assert _messages(db)[0].status == outbox.DONE


def test_handler_runs_in_its_own_unit_of_work_and_may_emit_further_events(
    database: Database, db: Session
) -> None:
    with database.unit_of_work() as uow:
        outbox.emit(uow, CHAIN, {"n": 7})
    assert received == [(OK, {"after": 7})]
    assert [(m.topic, m.status) for m in _messages(db)] == [(CHAIN, outbox.DONE), (OK, outbox.DONE)]


def test_payload_must_be_json(database: Database) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"), database.unit_of_work() as uow:
        outbox.emit(uow, OK, {"at": utcnow()})


def test_a_topic_has_exactly_one_handler() -> None:
    def another(ctx: HandlerContext, payload: dict[str, Any]) -> None:
        return None

    with pytest.raises(ValueError, match="already has a handler"):
        outbox.handler(OK)(another)
    assert outbox.handler(OK)(_record) is _record, "re-registering the same function is harmless"


def test_handler_reaches_the_app_under_test_through_the_runtime_http_client(
    app: FastAPI, client: TestClient
) -> None:
    def emit_from_a_request(db: Db) -> dict[str, str]:
        outbox.emit(db, CALLS_SANDBOX, {})
        return {"status": "accepted"}

    app.add_api_route("/test-only/emit", emit_from_a_request, methods=["POST"])
    response = client.post("/test-only/emit")
    assert response.status_code == 200
    # Delivered after the request's commit; the handler called back into the same app.
    assert app_answers == [200]


def test_last_error_names_the_failure_without_its_personal_message() -> None:
    from ihis.platform.errors import UpstreamFailed

    def raised(exc: Exception) -> Exception:
        try:
            raise exc
        except Exception as caught:
            return caught

    request = httpx.Request("GET", "https://his.example.test/patients?phone=13800138000")
    status_error = httpx.HTTPStatusError("x", request=request, response=httpx.Response(503, request=request))
    assert outbox.describe_error(raised(status_error)).startswith(
        "HTTPStatusError: HTTP 503 at test_outbox.py:"
    )
    upstream = outbox.describe_error(raised(UpstreamFailed("李四 13800138000", "patient 13800138000")))
    assert upstream.startswith(f"UpstreamFailed: {UpstreamFailed.code} at ")
    assert "13800138000" not in upstream
