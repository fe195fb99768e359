"""Transactional outbox: domain events written with the business data, delivered after commit.

``emit`` inserts an ``OutboxMessage`` in the caller's transaction (ARCHITECTURE principle 1: jobs
only after commit). After commit a Huey task delivers it: the row is claimed with a guarded
UPDATE (principle 2), the topic's handler runs, the row is marked done. A failing handler is
retried with exponential backoff; after ``outbox_max_attempts`` the row is ``failed`` (a dead
letter for operators, see ``retry_failed``). A periodic sweeper re-delivers rows that are due or
whose lease expired, so a crash between commit and dispatch, or a dead worker, loses nothing.

Delivery is AT LEAST ONCE: a handler may run again for the same message (worker died after the
handler's effect but before ``done``; lease expired during a slow call). Every handler must be
idempotent, e.g. keyed by ``message.key`` or by a guarded state transition of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
import structlog
from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ihis.platform.clock import utcnow
from ihis.platform.db import Base, IntPk, UtcDateTime, on_commit
from ihis.platform.errors import IhisError
from ihis.settings import Settings

if TYPE_CHECKING:
    from ihis.platform.db import Database

log = structlog.get_logger(__name__)

PENDING: Final = "pending"
PROCESSING: Final = "processing"
DONE: Final = "done"
FAILED: Final = "failed"
STATUSES: Final = (PENDING, PROCESSING, DONE, FAILED)

DEFAULT_MAX_ATTEMPTS: Final = 8
DEFAULT_LEASE_SECONDS: Final = 300
# Backoff after the n-th failed attempt: BASE * 2**(n-1), capped, with +-20% jitter so that
# messages failing together (an upstream outage) do not retry in lockstep.
BACKOFF_BASE_SECONDS: Final = 15.0
BACKOFF_CAP_SECONDS: Final = 3600.0
BACKOFF_JITTER: Final = 0.2
LAST_ERROR_MAX: Final = 300


class OutboxMessage(Base):
    """发件箱 — one domain event waiting for (or done with) delivery to its handler."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        # A key makes emit idempotent per topic (NULL keys never collide).
        UniqueConstraint("topic", "key"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # The sweeper's scan: due pending rows and expired leases.
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[IntPk]
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # Exception class and a safe summary only: never the exception text (may hold personal data).
    last_error: Mapped[str | None] = mapped_column(String(LAST_ERROR_MAX))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class HandlerContext:
    """What a handler (or any job) may use: the database, the settings, the outbound HTTP client."""

    database: Database
    settings: Settings
    http: httpx.Client


HandlerFn = Callable[[HandlerContext, dict[str, Any]], None]

_handlers: dict[str, HandlerFn] = {}


class UnknownTopic(LookupError):
    """No handler is registered for a message's topic."""


def handler(topic: str) -> Callable[[HandlerFn], HandlerFn]:
    """Register the one handler of ``topic`` (it must be idempotent: delivery is at least once)."""

    def register(fn: HandlerFn) -> HandlerFn:
        existing = _handlers.get(topic)
        if existing is not None and _qualname(existing) != _qualname(fn):
            raise ValueError(f"topic {topic!r} already has a handler: {_qualname(existing)}")
        _handlers[topic] = fn
        return fn

    return register


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def handler_for(topic: str) -> HandlerFn:
    """The handler of ``topic``; loads the domains' ``jobs`` modules once if it is not known yet."""
    fn = _handlers.get(topic)
    if fn is None:
        from ihis.platform.jobs import discover_task_modules

        discover_task_modules()
        fn = _handlers.get(topic)
    if fn is None:
        raise UnknownTopic(f"no outbox handler registered for topic {topic!r}")
    return fn


# --- emit ------------------------------------------------------------------------------------


def emit(db: Session, topic: str, payload: dict[str, Any], *, key: str | None = None) -> None:
    """Write a domain event in the current transaction; dispatched to its handlers after commit.

    With ``key``, a second emit of the same (topic, key) is a no-op. Payloads carry ids and
    codes, not personal data: the handler loads what it needs.
    """
    try:
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"outbox payload of {topic!r} must be JSON-serialisable (ids, ISO strings)") from exc
    now = utcnow()
    values = {
        "topic": topic,
        "key": key,
        "payload": text,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a duplicate key must not raise and poison the caller's transaction.
    stmt = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["topic", "key"])
        .returning(OutboxMessage.id)
    )
    message_id = db.execute(stmt).scalar_one_or_none()
    if message_id is None:
        log.info("outbox_emit_duplicate_ignored", topic=topic)
        return
    on_commit(db, _after_commit_dispatcher(message_id))


def _after_commit_dispatcher(message_id: int) -> Callable[[], None]:
    def dispatch_outbox_message() -> None:
        from ihis.platform.jobs import enqueue_delivery

        enqueue_delivery(message_id)

    return dispatch_outbox_message


# --- delivery ----------------------------------------------------------------------------------


def max_attempts(settings: Settings) -> int:
    """Attempts before a message becomes a dead letter (``IHIS_OUTBOX_MAX_ATTEMPTS``, default 8)."""
    return int(getattr(settings, "outbox_max_attempts", DEFAULT_MAX_ATTEMPTS))


def lease_seconds(settings: Settings) -> int:
    """How long a claim is exclusive before the sweeper may hand the message to another worker."""
    return int(getattr(settings, "outbox_lease_seconds", DEFAULT_LEASE_SECONDS))


def backoff_delay(attempt: int) -> dt.timedelta:
    """Delay before retrying after the ``attempt``-th failure (exponential, capped, jittered)."""
    base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return dt.timedelta(seconds=base * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER))


@dataclass(frozen=True)
class Claim:
    """A message this worker holds: ``attempt`` fences the later done/failed update."""

    message_id: int
    topic: str
    payload: str
    attempt: int


def _claimable(now: dt.datetime, limit_attempts: int) -> Any:
    return and_(
        OutboxMessage.attempts < limit_attempts,
        or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == PROCESSING, OutboxMessage.lease_until < now),
        ),
    )


def claim(db: Session, settings: Settings, message_id: int) -> Claim | None:
    """Take the message if it is due (or its lease expired); None if someone else holds it."""
    now = utcnow()
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _claimable(now, max_attempts(settings)))
        .values(
            status=PROCESSING,
            attempts=OutboxMessage.attempts + 1,
            lease_until=now + dt.timedelta(seconds=lease_seconds(settings)),
        )
        .returning(OutboxMessage.topic, OutboxMessage.payload, OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    row = db.execute(stmt).first()
    if row is None:
        return None
    return Claim(message_id=message_id, topic=row[0], payload=row[1], attempt=row[2])


def _held(claimed: Claim) -> Any:
    # Fencing: only the holder of this attempt may settle it (a re-claim bumped attempts).
    return and_(
        OutboxMessage.id == claimed.message_id,
        OutboxMessage.status == PROCESSING,
        OutboxMessage.attempts == claimed.attempt,
    )


def mark_done(db: Session, claimed: Claim) -> bool:
    """Settle a delivered message; False if the lease was lost to another worker meanwhile."""
    stmt = (
        update(OutboxMessage)
        .where(_held(claimed))
        .values(status=DONE, dispatched_at=utcnow(), lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    """Where a failed attempt left the message."""

    status: str
    next_attempt_at: dt.datetime


def mark_failed_attempt(db: Session, settings: Settings, claimed: Claim, error: str) -> Outcome | None:
    """Schedule a retry with backoff, or dead-letter after the last attempt; None if the lease was lost."""
    status = FAILED if claimed.attempt >= max_attempts(settings) else PENDING
    next_attempt_at = utcnow() + backoff_delay(claimed.attempt)
    stmt = (
        update(OutboxMessage)
        .where(_held(claimed))
        .values(
            status=status,
            next_attempt_at=next_attempt_at,
            lease_until=None,
            last_error=error[:LAST_ERROR_MAX],
        )
        .execution_options(synchronize_session=False)
    )
    if not db.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return None
    return Outcome(status, next_attempt_at)


def describe_error(exc: BaseException) -> str:
    """A short, personal-data-free description: class, safe detail, where it was raised."""
    detail = ""
    if isinstance(exc, UnknownTopic):
        detail = f": {exc}"
    elif isinstance(exc, httpx.HTTPStatusError):
        detail = f": HTTP {exc.response.status_code}"
    elif isinstance(exc, IhisError):
        detail = f": {exc.code}"  # the stable code, not the zh/en detail text
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{detail}{where}"


def deliver(ctx: HandlerContext, message_id: int) -> bool:
    """Claim, run the handler, settle. True if this call ran a delivery attempt."""
    with ctx.database.unit_of_work() as db:
        claimed = claim(db, ctx.settings, message_id)
    if claimed is None:
        return False
    try:
        fn = handler_for(claimed.topic)
        fn(ctx, json.loads(claimed.payload))
    except Exception as exc:
        error = describe_error(exc)
        with ctx.database.unit_of_work() as db:
            outcome = mark_failed_attempt(db, ctx.settings, claimed, error)
        dead = outcome is not None and outcome.status == FAILED
        event = "outbox_message_dead_lettered" if dead else "outbox_delivery_failed"
        log.warning(event, message_id=message_id, topic=claimed.topic, attempt=claimed.attempt, error=error)
        if outcome is not None and outcome.status == PENDING:
            from ihis.platform.jobs import schedule_delivery

            schedule_delivery(message_id, outcome.next_attempt_at)
        return True
    with ctx.database.unit_of_work() as db:
        settled = mark_done(db, claimed)
    if not settled:
        log.warning("outbox_lease_lost", message_id=message_id, topic=claimed.topic, attempt=claimed.attempt)
    return True


def dispatch_due(ctx: HandlerContext, limit: int = 100) -> int:
    """Deliver, synchronously, up to ``limit`` messages that are due or whose lease expired."""
    now = utcnow()
    ceiling = max_attempts(ctx.settings)
    with ctx.database.unit_of_work() as db:
        # A worker died holding the last attempt: nothing may claim it again, so dead-letter it.
        db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == PROCESSING,
                OutboxMessage.lease_until < now,
                OutboxMessage.attempts >= ceiling,
            )
            .values(status=FAILED, lease_until=None, last_error="lease expired on the last attempt")
            .execution_options(synchronize_session=False)
        )
    with ctx.database.unit_of_work(write=False) as db:
        ids = list(
            db.scalars(
                select(OutboxMessage.id)
                .where(_claimable(now, ceiling))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
        )
    return sum(1 for message_id in ids if deliver(ctx, message_id))


# --- operators ---------------------------------------------------------------------------------


def failed_messages(db: Session, *, limit: int = 100) -> list[OutboxMessage]:
    """Dead letters, oldest first (for the operations console and ``ihis outbox`` commands)."""
    stmt = select(OutboxMessage).where(OutboxMessage.status == FAILED).order_by(OutboxMessage.id).limit(limit)
    return list(db.scalars(stmt))


def retry_failed(db: Session, message_id: int) -> bool:
    """Requeue a dead letter with a fresh attempt budget; False if it is not (or no longer) failed."""
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if not db.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return False
    on_commit(db, _after_commit_dispatcher(message_id))
    return True
