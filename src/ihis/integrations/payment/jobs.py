"""Jobs of the sandbox payment channels: delivering their notifications (outbox, retries, sweep)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from huey import crontab

from ihis.integrations.payment.sandbox_notify import TOPIC, deliver_due_notifies, deliver_notify
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime


@outbox.handler(TOPIC)
def deliver_sandbox_notify(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """First delivery of a sandbox notification, after the channel's transaction committed."""
    deliver_notify(ctx, int(payload["notify_id"]))


@huey.task()  # type: ignore[untyped-decorator]
def redeliver_sandbox_notify(notify_id: int) -> None:
    """A retry of a sandbox notification at its scheduled time."""
    deliver_notify(runtime(), notify_id)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def sweep_sandbox_notifies() -> None:
    """Deliver due sandbox notifications (after a restart, or when a scheduled retry was lost)."""
    ctx = runtime()
    if ctx.settings.sandbox:
        deliver_due_notifies(ctx)


def schedule_notify_retry(notify_id: int, at: dt.datetime) -> None:
    """Queue a retry for ``at``; in immediate mode (tests) the sweep, called by the test, delivers it."""
    if huey.immediate:
        return
    redeliver_sandbox_notify.schedule(args=(notify_id,), delay=max(0.0, (at - utcnow()).total_seconds()))
