"""How the sandbox channels deliver their notifications: signed, after commit, on the real schedule.

A notification is a ``sandbox_payment_notify`` row written with the order change; an outbox message
(``sandbox.payment.notify``) makes the first delivery after commit. A delivery that does not get the
channel's success form is retried on that channel's schedule (WeChat Pay: 15s, 15s, 30s, 3m, 10m,
20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h; Alipay: 4m, 10m, 10m, 1h, 2h, 6h, 15h) multiplied by
``settings.payment_notify_retry_scale``, then abandoned. A Huey task is scheduled for each retry and
a periodic sweep delivers whatever is due (a restart loses nothing).

Failure injection, by the last two digits of the amount in fen (docs/billing-and-payments.md):
``01`` the payment notify is never sent (the merchant must query); ``02`` it is sent twice
(a duplicate); ``03`` it is held back until the first retry step (out of order: it arrives after
whatever the merchant did meanwhile, e.g. its query or a close).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.integrations.payment import alipay, wechatpay
from ihis.integrations.payment.models import SandboxPaymentNotify
from ihis.integrations.payment.sandbox_keys import sandbox_credentials
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.outbox import HandlerContext
from ihis.settings import Settings

log = structlog.get_logger(__name__)

TOPIC: Final = "sandbox.payment.notify"
NEVER_SENT: Final = 1
DUPLICATED: Final = 2
HELD_BACK: Final = 3
SCHEDULES: Final[dict[str, tuple[int, ...]]] = {
    "wechat": wechatpay.NOTIFY_RETRY_SECONDS,
    "alipay": alipay.NOTIFY_RETRY_SECONDS,
}


def retry_delay(settings: Settings, channel: str, attempts_made: int) -> dt.timedelta | None:
    """Wait before the next attempt after ``attempts_made`` failed ones; None when the channel gives up."""
    schedule = SCHEDULES[channel]
    if attempts_made > len(schedule):
        return None
    return dt.timedelta(seconds=schedule[attempts_made - 1] * settings.payment_notify_retry_scale)


def queue_notify(
    db: Session,
    settings: Settings,
    channel: str,
    url: str,
    body: str,
    content_type: str,
    *,
    amount_fen: int | None = None,
) -> list[int]:
    """Owe the merchant a notification (with failure injection for payments by ``amount_fen``)."""
    injected = None if amount_fen is None else amount_fen % 100
    if injected == NEVER_SENT:
        log.info("sandbox_notify_suppressed", channel=channel)
        return []
    now = utcnow()
    first_at = now
    if injected == HELD_BACK:
        first_at = now + dt.timedelta(seconds=SCHEDULES[channel][0] * settings.payment_notify_retry_scale)
    ids = []
    for _ in range(2 if injected == DUPLICATED else 1):
        row = SandboxPaymentNotify(
            channel=channel,
            url=url,
            headers="{}",
            body=body,
            content_type=content_type,
            status="pending",
            attempts=0,
            next_attempt_at=first_at,
            created_at=now,
        )
        db.add(row)
        db.flush()
        ids.append(row.id)
        if injected != HELD_BACK:
            outbox.emit(db, TOPIC, {"notify_id": row.id}, key=f"notify-{row.id}")
    return ids


def _headers(db: Session, channel: str, body: str, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if channel == "wechat":
        # Signed afresh on each delivery: the merchant refuses signatures older than 5 minutes.
        creds = sandbox_credentials(db, "wechat")
        headers.update(
            wechatpay.signed_headers(body, serial=creds.channel_serial, private_pem=creds.channel_private_pem)
        )
    return headers


def _accepted(channel: str, status: int, text: str) -> bool:
    if channel == "wechat":
        return status in (200, 204)
    return status == 200 and text.strip() == "success"


def deliver_notify(ctx: HandlerContext, notify_id: int, *, now: dt.datetime | None = None) -> bool | None:
    """One delivery attempt if the notification is due; True if the merchant took it, None if not due."""
    now = now or utcnow()
    with ctx.database.unit_of_work() as db:
        row = db.get(SandboxPaymentNotify, notify_id)
        if row is None or row.status != "pending" or row.next_attempt_at > now:
            return None
        delay = retry_delay(ctx.settings, row.channel, row.attempts + 1)
        # The claim doubles as the lease: a concurrent sweep sees the next attempt time and skips it.
        claimed = db.execute(
            update(SandboxPaymentNotify)
            .where(
                SandboxPaymentNotify.id == notify_id,
                SandboxPaymentNotify.status == "pending",
                SandboxPaymentNotify.attempts == row.attempts,
            )
            .values(
                attempts=SandboxPaymentNotify.attempts + 1,
                next_attempt_at=now + (delay or dt.timedelta(0)),
                status="pending" if delay is not None else "abandoned",
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return None
        channel, url, body, content_type = row.channel, row.url, row.body, row.content_type
        headers = _headers(db, channel, body, content_type)
    try:
        response = ctx.http.post(url, content=body.encode(), headers=headers)
        status, text = response.status_code, response.text
    except Exception as exc:  # the merchant's endpoint being down is what retries are for
        log.warning("sandbox_notify_failed", notify_id=notify_id, error=type(exc).__name__)
        status, text = 0, ""
    ok = _accepted(channel, status, text)
    with ctx.database.unit_of_work() as db:
        values: dict[str, object] = {"last_status_code": status}
        if ok:
            values.update(status="delivered", delivered_at=utcnow())
        db.execute(
            update(SandboxPaymentNotify)
            .where(SandboxPaymentNotify.id == notify_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if not ok:
        log.info("sandbox_notify_not_accepted", notify_id=notify_id, channel=channel, status_code=status)
        if delay is not None:
            _schedule_retry(notify_id, now + delay)
    return ok


def _schedule_retry(notify_id: int, at: dt.datetime) -> None:
    from ihis.integrations.payment.jobs import schedule_notify_retry

    schedule_notify_retry(notify_id, at)


def deliver_due_notifies(ctx: HandlerContext, *, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Deliver every notification that is due (the periodic sweep; tests call it with a later ``now``)."""
    now = now or utcnow()
    with ctx.database.unit_of_work(write=False) as db:
        ids = list(
            db.scalars(
                select(SandboxPaymentNotify.id)
                .where(SandboxPaymentNotify.status == "pending", SandboxPaymentNotify.next_attempt_at <= now)
                .order_by(SandboxPaymentNotify.next_attempt_at)
                .limit(limit)
            )
        )
    return sum(1 for notify_id in ids if deliver_notify(ctx, notify_id, now=now) is not None)
