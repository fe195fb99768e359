"""Tracking events into shipments: stored exactly once, status only forward, one event per change.

Both doors use ``apply_events``: the courier's signed push (``receive_push``, behind
``POST /api/v1/integrations/logistics/notify``) and the polling sweep (``poll_stale_shipments``)
that queries the courier for shipments it has not heard of for a while (pushes can be lost).

Each status change emits ``logistics.shipment.<status>`` with ``{institution_id, ref, waybill_no,
status, occurred_at}`` exactly once (outbox key ``<shipment id>:<status>``; the guarded update moves
a status to a strictly higher rank only, so a status is reached at most once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import structlog
from pydantic import ValidationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.client import HttpCourierClient
from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.models import (
    SHIPMENT_PENDING,
    LogisticsNonce,
    Shipment,
    ShipmentEvent,
)
from ihis.integrations.logistics.protocol import (
    TERMINAL_STATUSES,
    CourierError,
    CourierGateway,
    TrackingEvent,
    ranks_below,
)
from ihis.integrations.logistics.schemas import TrackingPush
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.outbox import HandlerContext

log = structlog.get_logger(__name__)

TOPIC_PREFIX = "logistics.shipment."
NONCE_SCOPE_NOTIFY = "notify"


def topic_of(status: str) -> str:
    """The outbox topic announcing that a shipment reached ``status``."""
    return TOPIC_PREFIX + status


def _insert(db: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


def claim_nonce(db: Session, scope: str, nonce: str) -> bool:
    """Remember a signature nonce; False if it was seen before (a replay)."""
    stmt = (
        _insert(db)(LogisticsNonce)
        .values(scope=scope, nonce=nonce, seen_at=utcnow())
        .on_conflict_do_nothing(index_elements=["scope", "nonce"])
        .returning(LogisticsNonce.id)
    )
    return db.execute(stmt).scalar_one_or_none() is not None


def purge_nonces(db: Session, *, now: dt.datetime | None = None) -> int:
    """Forget nonces older than twice the timestamp window (a replay of them is refused as stale)."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=2 * signing.TIMESTAMP_TOLERANCE_SECONDS)
    result = db.execute(delete(LogisticsNonce).where(LogisticsNonce.seen_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def move_status(db: Session, shipment: Shipment, status: str, occurred_at: dt.datetime) -> bool:
    """Move the shipment forward to ``status`` (guarded); emit its event once. False if not forward."""
    moved = db.execute(
        update(Shipment)
        .where(Shipment.id == shipment.id, Shipment.status.in_([SHIPMENT_PENDING, *ranks_below(status)]))
        .values(status=status, status_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return False
    outbox.emit(
        db,
        topic_of(status),
        {
            "institution_id": shipment.institution_id,
            "ref": shipment.ref,
            "waybill_no": shipment.waybill_no,
            "status": status,
            "occurred_at": occurred_at.isoformat(),
        },
        key=f"{shipment.id}:{status}",
    )
    return True


class UnknownWaybill(LookupError):
    """A pushed event for a waybill we do not (yet) know: the courier should retry later."""


def _shipment_of(db: Session, event: TrackingEvent) -> Shipment | None:
    clauses = [Shipment.waybill_no == event.waybill_no]
    if event.order_ref:
        # A push may arrive before the booking stored the waybill number: match our order ref.
        clauses.append(Shipment.courier_ref == event.order_ref)
    rows = list(db.scalars(select(Shipment).where(or_(*clauses))))
    if len(rows) != 1 or (rows[0].waybill_no not in (None, event.waybill_no)):
        return None
    return rows[0]


def apply_events(db: Session, events: Iterable[TrackingEvent], *, source: str) -> int:
    """Store new events (duplicates ignored) and move statuses forward; the number of new events."""
    stored = 0
    now = utcnow()
    for event in events:
        shipment = _shipment_of(db, event)
        if shipment is None:
            raise UnknownWaybill(event.waybill_no)
        if shipment.waybill_no is None:
            db.execute(
                update(Shipment)
                .where(Shipment.id == shipment.id, Shipment.waybill_no.is_(None))
                .values(waybill_no=event.waybill_no)
                .execution_options(synchronize_session=False)
            )
            shipment.waybill_no = event.waybill_no
        inserted = db.execute(
            _insert(db)(ShipmentEvent)
            .values(
                institution_id=shipment.institution_id,
                shipment_id=shipment.id,
                waybill_no=event.waybill_no,
                event_id=event.event_id,
                status=event.status,
                occurred_at=event.occurred_at,
                location=event.location[:200],
                description=event.description[:500],
                source=source,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["waybill_no", "event_id"])
            .returning(ShipmentEvent.id)
        ).scalar_one_or_none()
        db.execute(
            update(Shipment)
            .where(Shipment.id == shipment.id)
            .values(last_event_at=now)
            .execution_options(synchronize_session=False)
        )
        if inserted is None:
            continue  # a duplicate push or a re-read by polling: stored once already
        stored += 1
        move_status(db, shipment, event.status, event.occurred_at)
    return stored


@dataclass(frozen=True)
class PushOutcome:
    """What to answer the courier: ``status`` 200 taken, 401 refused, 400 malformed, 503 retry."""

    status: int
    reason: str | None = None


def receive_push(
    database: Database, config: CourierConfig, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> PushOutcome:
    """Verify (signature, time window, nonce) and apply one courier push in its own unit of work."""
    text = body.decode("utf-8", errors="replace")
    reason, nonce = signing.check(
        headers, method, path, text, app_id=config.app_id, secret=config.notify_secret
    )
    if reason is not None:
        return PushOutcome(401, reason)
    try:
        push = TrackingPush.model_validate_json(body)
        events = [TrackingEvent(**item.model_dump()) for item in push.events]
    except (ValidationError, TypeError) as exc:
        log.warning("courier_push_malformed", error=type(exc).__name__)
        return PushOutcome(400, "malformed")
    if any(e.occurred_at.tzinfo is None for e in events):
        return PushOutcome(400, "occurred_at_without_offset")
    with database.unit_of_work() as db:
        if not claim_nonce(db, NONCE_SCOPE_NOTIFY, nonce):
            return PushOutcome(401, "nonce_replayed")
    try:
        with database.unit_of_work() as db:
            apply_events(db, events, source="push")
    except UnknownWaybill:
        log.warning("courier_push_unknown_waybill")
        return PushOutcome(503, "unknown_waybill")
    return PushOutcome(200)


def poll_stale_shipments(
    ctx: HandlerContext,
    *,
    now: dt.datetime | None = None,
    gateway: CourierGateway | None = None,
    limit: int = 100,
) -> int:
    """Query the courier for open shipments not heard of for ``poll_after_minutes``; new events stored."""
    config = CourierConfig.from_settings(ctx.settings)
    now = now or utcnow()
    cutoff = now - dt.timedelta(minutes=config.poll_after_minutes)
    with ctx.database.unit_of_work(write=False) as db:
        waybills = list(
            db.scalars(
                select(Shipment.waybill_no)
                .where(
                    Shipment.waybill_no.is_not(None),
                    Shipment.status.not_in([*TERMINAL_STATUSES, "cancelled", SHIPMENT_PENDING]),
                    or_(Shipment.last_event_at.is_(None), Shipment.last_event_at < cutoff),
                )
                .order_by(Shipment.last_event_at)
                .limit(limit)
            )
        )
    gateway = gateway or HttpCourierClient(ctx.http, config)
    stored = 0
    for waybill_no in waybills:
        assert waybill_no is not None
        try:
            events = gateway.query_tracking(waybill_no)  # no transaction open during the call
        except CourierError as exc:
            log.warning("courier_poll_failed", code=exc.code)
            continue
        with ctx.database.unit_of_work() as db:
            stored += apply_events(db, [e for e in events if e.waybill_no == waybill_no], source="poll")
    if stored:
        log.info("courier_poll_filled_gaps", events=stored)
    return stored
