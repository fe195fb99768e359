"""Registration jobs: reactions to billing and scheduling events (outbox handlers, each idempotent:
every move inside is a guarded update) and the periodic no-show and block-expiry sweep."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import structlog
from huey import crontab
from sqlalchemy import select

from ihis.billing.service import BILL_CLOSED, BILL_PAID, REFUND_SETTLED, event_topic
from ihis.platform import outbox
from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime
from ihis.registration import blacklist, lifecycle
from ihis.registration.booking import REFERENCE_TYPE
from ihis.scheduling.models import SessionChange

log = structlog.get_logger(__name__)


@outbox.handler(event_topic(BILL_PAID, REFERENCE_TYPE))
def registration_paid(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """The registration fee is paid: confirm, queue number, tell the patient (BJ 5.1.3.1)."""
    with ctx.database.unit_of_work() as db:
        lifecycle.confirm_paid(db, int(payload["reference_id"]), ctx.settings)


@outbox.handler(event_topic(BILL_CLOSED, REFERENCE_TYPE))
def registration_unpaid(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """The hold time ran out unpaid: close the registration and give the slot back."""
    with ctx.database.unit_of_work() as db:
        lifecycle.close_unpaid(db, int(payload["reference_id"]))


@outbox.handler(event_topic(REFUND_SETTLED, REFERENCE_TYPE))
def registration_refunded(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """A registration fee came back: tell the patient."""
    with ctx.database.unit_of_work() as db:
        lifecycle.refund_settled(db, int(payload["reference_id"]), int(payload["refund_id"]))


def _change(db: Any, payload: dict[str, Any]) -> SessionChange:
    change = db.scalar(select(SessionChange).where(SessionChange.id == int(payload["change_id"])))
    assert change is not None, "the change is written in the same transaction as its event"
    return change  # type: ignore[no-any-return]


@outbox.handler("scheduling.session_stopped")
def session_stopped(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """停诊: cancel, refund and tell every booked patient."""
    with ctx.database.unit_of_work() as db:
        change = _change(db, payload)
        ctx_audit = blacklist.job_context(change.institution_id, "session-stopped")
        count = lifecycle.cancel_for_stopped_session(db, change.session_id, change.reason, ctx_audit)
    log.info("session_stop_applied", session_id=payload["session_id"], cancelled=count)


@outbox.handler("scheduling.session_substituted")
def session_substituted(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """替诊: tell every booked patient who will see them; they may cancel free of charge."""
    with ctx.database.unit_of_work() as db:
        change = _change(db, payload)
        old_doctor = int(json.loads(change.before)["doctor_id"])
        lifecycle.tell_substitution(db, change.session_id, old_doctor, ctx.settings)


@outbox.handler("scheduling.session_shifted")
def session_shifted(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """A new time: tell every booked patient and move their reminders."""
    with ctx.database.unit_of_work() as db:
        change = _change(db, payload)
        old_start = dt.datetime.fromisoformat(json.loads(change.before)["start_at"])
        lifecycle.tell_new_time(db, change.session_id, old_start, ctx.settings)


def sweep_no_shows(now: dt.datetime | None = None) -> tuple[int, int]:
    """Mark no-shows of ended sessions (blocking where due) and expire elapsed blocks."""
    ctx = runtime()
    moment = now or utcnow()
    with ctx.database.unit_of_work() as db:
        marked = lifecycle.mark_no_shows(db, moment, ctx.settings)
    with ctx.database.unit_of_work() as db:
        expired = blacklist.expire_blocks(db, moment)
    if marked or expired:
        log.info("no_show_sweep", marked=marked, blocks_expired=expired)
    return marked, expired


@huey.periodic_task(crontab(minute="*/5"))  # type: ignore[untyped-decorator]
def no_show_sweep() -> None:
    """Every five minutes: no-shows after sessions end; block expiry (BJ 5.6.9)."""
    sweep_no_shows()
