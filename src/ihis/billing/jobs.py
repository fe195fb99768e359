"""Billing's jobs: refund submission (outbox) and the periodic sweeps (overdue notifies, expiry, refunds)."""

from __future__ import annotations

from typing import Any

from huey import crontab

from ihis.billing.maintenance import chase_refunds, close_expired_bills, recover_missing_notifies
from ihis.billing.refunds import SUBMIT_TOPIC, submit_refund
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime


@outbox.handler(SUBMIT_TOPIC)
def submit_refund_to_channel(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Send a requested refund to its channel (after the request's commit)."""
    submit_refund(ctx, int(payload["refund_id"]))


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def billing_minutely() -> None:
    """Every minute: recover payments whose notify is overdue, close expired bills, chase refunds."""
    ctx = runtime()
    now = utcnow()
    recover_missing_notifies(ctx, now)
    close_expired_bills(ctx, now)
    chase_refunds(ctx, now)
