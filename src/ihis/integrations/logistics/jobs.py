"""Jobs of the logistics adapter: polling the courier for lost pushes, purging nonces, and the
sandbox courier's pushes (first delivery via the outbox, retries, sweep, demo auto-advance)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from huey import crontab

from ihis.integrations.logistics.protocol import CourierError
from ihis.integrations.logistics.sandbox_push import TOPIC, auto_advance, deliver_due_pushes, deliver_push
from ihis.integrations.logistics.tracking import poll_stale_shipments, purge_nonces
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime

log = structlog.get_logger(__name__)


@outbox.handler(TOPIC)
def push_sandbox_courier_event(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """First push of a sandbox tracking event, after the courier's change committed."""
    deliver_push(ctx, int(payload["event_pk"]))


@huey.task()  # type: ignore[untyped-decorator]
def repush_sandbox_courier_event(event_pk: int) -> None:
    """A retry of a sandbox tracking push at its scheduled time."""
    deliver_push(runtime(), event_pk)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def sweep_sandbox_courier() -> None:
    """Sandbox courier: deliver due pushes (after a restart or a lost retry); demo auto-advance."""
    ctx = runtime()
    if ctx.settings.sandbox:
        auto_advance(ctx)
        deliver_due_pushes(ctx)


@huey.periodic_task(crontab(minute="*/5"))  # type: ignore[untyped-decorator]
def poll_courier_tracking() -> None:
    """Query the courier for open shipments it has not pushed for a while; forget old nonces."""
    ctx = runtime()
    try:
        poll_stale_shipments(ctx)
    except CourierError as exc:  # not configured (no courier in this deployment yet)
        log.warning("courier_poll_skipped", code=exc.code)
    with ctx.database.unit_of_work() as db:
        purge_nonces(db)


def schedule_push_retry(event_pk: int, at: dt.datetime) -> None:
    """Queue a retry for ``at``; in immediate mode (tests) the sweep, called by the test, delivers it."""
    if huey.immediate:
        return
    repush_sandbox_courier_event.schedule(args=(event_pk,), delay=max(0.0, (at - utcnow()).total_seconds()))
