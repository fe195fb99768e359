"""Jobs of the notifications domain: the ``notifications.deliver`` outbox handler and the minute
task that sends due reminders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from huey import crontab

from ihis.notifications import service
from ihis.notifications.channels import (
    ChannelRejected,
    ChannelSkipped,
    ChannelUnavailable,
    NotificationChannel,
    SmsChannel,
    WeChatConfig,
    WeChatTemplateChannel,
)
from ihis.notifications.models import FAILED, RETRYING, SENT, SKIPPED
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime

log = structlog.get_logger(__name__)

REMINDER_BATCH = 200
PATIENT_APP_PATH = "/app"  # where create_app serves the patient web app


class DeliveryNotSent(RuntimeError):
    """The provider could not take the message; the outbox retries (or dead-letters) it."""


def channel_for(ctx: outbox.HandlerContext, name: str) -> NotificationChannel:
    """The external channel ``name`` wired to this process's HTTP client and settings."""
    if name == service.SMS:
        return SmsChannel(ctx.http, ctx.settings)
    if name == service.WECHAT:
        link_base = ctx.settings.public_url(PATIENT_APP_PATH)
        return WeChatTemplateChannel(ctx.http, WeChatConfig.from_settings(ctx.settings), link_base=link_base)
    raise ValueError(f"no external channel {name!r}")


@outbox.handler(service.TOPIC)
def deliver_notification(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Send one delivery and record the outcome; an unavailable provider raises so the outbox retries."""
    with ctx.database.unit_of_work() as db:
        claimed = service.claim_delivery(db, int(payload["delivery_id"]))
    if claimed is None:
        return  # already sent or skipped: a replayed message changes nothing
    # No transaction is held open while the provider is called.
    try:
        sent = channel_for(ctx, claimed.channel).send(claimed.outgoing)
    except ChannelSkipped as exc:
        _settle(ctx, claimed, SKIPPED, error=exc.reason, address_masked=exc.address_masked)
    except ChannelRejected as exc:
        _settle(ctx, claimed, FAILED, error=f"rejected:{exc.code}")
    except ChannelUnavailable as exc:
        last = claimed.attempt >= outbox.max_attempts(ctx.settings)
        _settle(ctx, claimed, FAILED if last else RETRYING, error=f"unavailable:{exc.code}")
        raise DeliveryNotSent(exc.code) from None
    else:
        _settle(ctx, claimed, SENT, sent=sent)
    log.info("notification_delivery_settled", delivery_id=claimed.delivery_id, channel=claimed.channel)


def _settle(ctx: outbox.HandlerContext, claimed: service.ClaimedDelivery, status: str, **kw: Any) -> None:
    with ctx.database.unit_of_work() as db:
        if not service.settle_delivery(db, claimed, status, **kw):
            log.warning(
                "notification_delivery_lost", delivery_id=claimed.delivery_id, attempt=claimed.attempt
            )


def send_due_reminders(ctx: outbox.HandlerContext, *, now: dt.datetime | None = None) -> int:
    """Send every reminder due at ``now``, each in its own unit of work; returns how many were sent."""
    moment = now or utcnow()
    with ctx.database.unit_of_work(write=False) as db:
        ids = service.due_reminder_ids(db, moment, limit=REMINDER_BATCH)
    sent = 0
    for reminder_id in ids:
        try:
            with ctx.database.unit_of_work() as db:
                sent += service.dispatch_reminder(db, reminder_id, moment)
        except Exception:
            # One broken reminder must not hold back the others; it stays scheduled and is logged.
            log.exception("notification_reminder_failed", reminder_id=reminder_id)
    return sent


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def send_due_notifications() -> None:
    """Every minute: send the scheduled reminders that are due."""
    sent = send_due_reminders(runtime())
    if sent:
        log.info("notification_reminders_sent", sent=sent)
