"""How the sandbox courier moves parcels and pushes tracking events to us: signed, after commit,
retried with bounded exponential backoff until we answer ``{"code": "OK"}``.

An event is a ``sandbox_courier_event`` row written with the waybill change; an outbox message
(``sandbox.courier.push``) makes the first delivery after commit. A push not answered with the
success body is retried after 15 s, 30 s, 1 min, 2 min, 5 min, 10 min, 30 min and 1 h (times
``courier_notify_retry_scale``), then abandoned (the polling sweep of the receiving side fills the
gap). A retry resends the same event id, freshly signed (new timestamp and nonce).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Final

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.client import event_to_wire
from ihis.integrations.logistics.config import CourierConfig
from ihis.integrations.logistics.models import SandboxCourierEvent, SandboxCourierWaybill
from ihis.integrations.logistics.protocol import STATUS_NAMES, STATUS_RANK, TERMINAL_STATUSES, TrackingEvent
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.outbox import HandlerContext

log = structlog.get_logger(__name__)

TOPIC: Final = "sandbox.courier.push"
RETRY_SECONDS: Final = (15, 30, 60, 120, 300, 600, 1800, 3600)
HAPPY_PATH: Final = ("created", "picked_up", "in_transit", "out_for_delivery", "delivered")
LOCATIONS: Final = {
    "created": "北京市",
    "picked_up": "北京市东城区 医院药房揽收点",
    "in_transit": "北京转运中心",
    "out_for_delivery": "北京市朝阳区 营业部",
    "delivered": "北京市朝阳区",
    "failed": "北京市朝阳区 营业部",
    "returned": "北京市东城区 医院药房",
}


def retry_delay(config: CourierConfig, attempts_made: int) -> dt.timedelta | None:
    """Wait before the next push after ``attempts_made`` failed ones; None when the courier gives up."""
    if attempts_made > len(RETRY_SECONDS):
        return None
    return dt.timedelta(seconds=RETRY_SECONDS[attempts_made - 1] * config.sandbox_notify_retry_scale)


def next_status(current: str) -> str | None:
    """The next status on the happy path (None at the end or off it)."""
    if current not in HAPPY_PATH or current == HAPPY_PATH[-1]:
        return None
    return HAPPY_PATH[HAPPY_PATH.index(current) + 1]


def record_event(
    db: Session, waybill: SandboxCourierWaybill, status: str, *, push: bool = True
) -> SandboxCourierEvent:
    """A new tracking event of ``waybill`` and (unless ``push`` is False: a lost push) its push."""
    now = utcnow()
    zh, _ = STATUS_NAMES[status]
    row = SandboxCourierEvent(
        event_id=secrets.token_hex(12),
        waybill_no=waybill.waybill_no,
        status=status,
        occurred_at=now,
        location=LOCATIONS[status],
        description=f"【{LOCATIONS[status]}】{zh}",
        push_status="pending" if push else "suppressed",
        attempts=0,
        next_attempt_at=now,
    )
    db.add(row)
    db.flush()
    if push:
        outbox.emit(db, TOPIC, {"event_pk": row.id}, key=f"courier-push-{row.id}")
    return row


def advance(
    db: Session, waybill: SandboxCourierWaybill, status: str | None = None, *, push: bool = True
) -> SandboxCourierEvent | None:
    """Move the parcel to ``status`` (default: the next on the happy path); None if it cannot move."""
    target = status or next_status(waybill.status)
    if target is None or waybill.status == "cancelled" or waybill.status in TERMINAL_STATUSES:
        return None
    if STATUS_RANK.get(target, -1) <= STATUS_RANK.get(waybill.status, -1):
        return None
    moved = db.execute(
        update(SandboxCourierWaybill)
        .where(SandboxCourierWaybill.id == waybill.id, SandboxCourierWaybill.status == waybill.status)
        .values(status=target, advanced_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return None
    waybill.status = target
    return record_event(db, waybill, target, push=push)


def wire_event(row: SandboxCourierEvent, order_ref: str | None) -> TrackingEvent:
    """The courier's view of a stored event."""
    return TrackingEvent(
        event_id=row.event_id,
        waybill_no=row.waybill_no,
        status=row.status,
        occurred_at=row.occurred_at,
        location=row.location,
        description=row.description,
        order_ref=order_ref,
    )


def deliver_push(ctx: HandlerContext, event_pk: int, *, now: dt.datetime | None = None) -> bool | None:
    """One push attempt if due; True if we answered success, False if not, None if not due."""
    now = now or utcnow()
    config = CourierConfig.from_settings(ctx.settings)
    with ctx.database.unit_of_work() as db:
        row = db.get(SandboxCourierEvent, event_pk)
        if row is None or row.push_status != "pending" or row.next_attempt_at > now:
            return None
        delay = retry_delay(config, row.attempts + 1)
        # The claim doubles as the lease: a concurrent sweep sees the next attempt time and skips it.
        claimed = db.execute(
            update(SandboxCourierEvent)
            .where(
                SandboxCourierEvent.id == event_pk,
                SandboxCourierEvent.push_status == "pending",
                SandboxCourierEvent.attempts == row.attempts,
            )
            .values(
                attempts=SandboxCourierEvent.attempts + 1,
                next_attempt_at=now + (delay or dt.timedelta(0)),
                push_status="pending" if delay is not None else "abandoned",
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return None
        waybill = db.scalar(
            select(SandboxCourierWaybill).where(SandboxCourierWaybill.waybill_no == row.waybill_no)
        )
        assert waybill is not None
        url = waybill.notify_url
        body = json.dumps(
            {"events": [event_to_wire(wire_event(row, waybill.order_ref))]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
    headers = signing.signed_headers(config.app_id, config.notify_secret, "POST", httpx.URL(url).path, body)
    headers["Content-Type"] = "application/json; charset=utf-8"
    try:
        response = ctx.http.post(url, content=body.encode(), headers=headers)
        status, ok = response.status_code, _accepted(response)
    except Exception as exc:  # the receiver being down is what retries are for
        log.warning("sandbox_courier_push_failed", event_pk=event_pk, error=type(exc).__name__)
        status, ok = 0, False
    with ctx.database.unit_of_work() as db:
        values: dict[str, object] = {"last_status_code": status}
        if ok:
            values.update(push_status="delivered", delivered_at=utcnow())
        db.execute(
            update(SandboxCourierEvent)
            .where(SandboxCourierEvent.id == event_pk)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if not ok and delay is not None:
        _schedule_retry(event_pk, now + delay)
    return ok


def _accepted(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    try:
        answer = response.json()
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("code") == "OK"


def _schedule_retry(event_pk: int, at: dt.datetime) -> None:
    from ihis.integrations.logistics.jobs import schedule_push_retry

    schedule_push_retry(event_pk, at)


def deliver_due_pushes(ctx: HandlerContext, *, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Push every event that is due (the periodic sweep; tests call it with a later ``now``)."""
    now = now or utcnow()
    with ctx.database.unit_of_work(write=False) as db:
        ids = list(
            db.scalars(
                select(SandboxCourierEvent.id)
                .where(
                    SandboxCourierEvent.push_status == "pending", SandboxCourierEvent.next_attempt_at <= now
                )
                .order_by(SandboxCourierEvent.next_attempt_at)
                .limit(limit)
            )
        )
    return sum(1 for pk in ids if deliver_push(ctx, pk, now=now) is not None)


def auto_advance(ctx: HandlerContext, *, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Demo mode: move every open parcel one step when it has rested ``auto_advance_seconds``."""
    config = CourierConfig.from_settings(ctx.settings)
    if config.sandbox_auto_advance_seconds <= 0:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(seconds=config.sandbox_auto_advance_seconds)
    moved = 0
    with ctx.database.unit_of_work() as db:
        rows = db.scalars(
            select(SandboxCourierWaybill)
            .where(
                SandboxCourierWaybill.status.in_(HAPPY_PATH[:-1]), SandboxCourierWaybill.advanced_at <= cutoff
            )
            .limit(limit)
        )
        for waybill in list(rows):
            moved += advance(db, waybill) is not None
    return moved
