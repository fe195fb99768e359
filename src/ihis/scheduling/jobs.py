"""Scheduling jobs: the doctor's reminder before a session starts (BJ 5.2.1-5.2.2)."""

from __future__ import annotations

import datetime as dt
from typing import Final

import structlog
from huey import crontab

from ihis.platform.clock import utcnow
from ihis.platform.jobs import huey, runtime
from ihis.scheduling.slots import remind_doctors

log = structlog.get_logger(__name__)

# How long before a session its doctor is reminded (DOMAIN §3 names 30 minutes for patients).
DOCTOR_REMINDER_LEAD: Final = dt.timedelta(minutes=30)


def run_session_reminders(now: dt.datetime | None = None) -> int:
    """Emit ``scheduling.session_starting`` for every session now due (each once)."""
    ctx = runtime()
    with ctx.database.unit_of_work() as db:
        sent = remind_doctors(db, now or utcnow(), DOCTOR_REMINDER_LEAD)
    if sent:
        log.info("session_reminders_emitted", count=sent)
    return sent


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def remind_starting_sessions() -> None:
    """Every minute: remind doctors of the sessions starting within the lead time."""
    run_session_reminders()
