"""Scheduling jobs: the doctor is told of each session they are given and reminded before it starts
(BJ 5.2.1-5.2.2); the notifications domain delivers the messages."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import structlog
from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.organization.models import Department
from ihis.platform import outbox
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.jobs import huey, runtime
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import remind_doctors

log = structlog.get_logger(__name__)

# How long before a session its doctor is reminded (DOMAIN §3 names 30 minutes for patients).
DOCTOR_REMINDER_LEAD: Final = dt.timedelta(minutes=30)
MODE_NAMES: Final = {"text": "图文", "phone": "电话", "video": "视频"}
CONSOLE_ROUTE: Final = "/scheduling/mine"


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


def _shift_variables(db: Session, session: ClinicSession) -> dict[str, str]:
    local = HOSPITAL_TZ
    return {
        "doctor_name": db.scalar(select(UserAccount.display_name).where(UserAccount.id == session.doctor_id))
        or "",
        "department": db.scalar(select(Department.name).where(Department.id == session.department_id)) or "",
        "start_time": session.start_at.astimezone(local).strftime("%Y-%m-%d %H:%M"),
        "end_time": session.end_at.astimezone(local).strftime("%H:%M"),
        "service_mode": MODE_NAMES.get(session.mode, session.mode),
    }


def _tell_doctor(ctx: outbox.HandlerContext, payload: dict[str, Any], event: Event) -> None:
    with ctx.database.unit_of_work() as db:
        session = db.get(ClinicSession, int(payload["session_id"]))
        # The doctor named in the event: after a later substitution it is no longer theirs to hear of.
        if session is None or session.doctor_id != int(payload["doctor_id"]) or session.status != "published":
            return
        variables = _shift_variables(db, session)
        if event is Event.DOCTOR_SHIFT_REMINDER:
            variables["booked_count"] = str(session.booked)
        notify(
            db,
            institution_id=session.institution_id,
            recipient_account_id=session.doctor_id,
            event=event,
            variables=variables,
            link=Link("clinic_session", session.id, CONSOLE_ROUTE),
        )


@outbox.handler("scheduling.session_assigned")
def tell_doctor_of_assignment(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """A published session (or a substitution) names the doctor: they are told (排班通知)."""
    _tell_doctor(ctx, payload, Event.SESSION_ASSIGNED)


@outbox.handler("scheduling.session_starting")
def remind_doctor(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """The session starts within the lead time: its doctor is reminded with the booked count."""
    _tell_doctor(ctx, payload, Event.DOCTOR_SHIFT_REMINDER)
