"""Prescribing jobs: operations are warned when no pharmacist is on duty for review during business
hours (issue 5 §3) — once per gap, after a grace period, through the message center."""

from __future__ import annotations

import datetime as dt

import structlog
from huey import crontab
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Role
from ihis.identity.models import RoleAssignment, UserAccount
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.jobs import huey, runtime
from ihis.prescribing.models import PharmacistDuty, UnstaffedAlert
from ihis.prescribing.review import business_hours, in_business_hours
from ihis.settings import Settings
from ihis.tenancy.models import Institution

log = structlog.get_logger(__name__)
CONSOLE_ROUTE = "/pharmacy/reviews"


def _gap_start(db: Session, institution_id: int, now: dt.datetime, settings: Settings) -> dt.datetime | None:
    """Since when nobody has been on duty today within business hours (None if somebody is)."""
    on_duty = db.scalar(
        select(func.count())
        .select_from(PharmacistDuty)
        .where(PharmacistDuty.institution_id == institution_id, PharmacistDuty.ended_at.is_(None))
    )
    if on_duty:
        return None
    opens, _ = business_hours(settings.review_business_hours)
    local_now = now.astimezone(HOSPITAL_TZ)
    day_start = dt.datetime.combine(local_now.date(), opens, tzinfo=HOSPITAL_TZ)
    last_end = db.scalar(
        select(func.max(PharmacistDuty.ended_at)).where(
            PharmacistDuty.institution_id == institution_id, PharmacistDuty.ended_at >= day_start
        )
    )
    return max(day_start, last_end) if last_end is not None else day_start


def warn_unstaffed(now: dt.datetime | None = None) -> int:
    """Warn operations staff of a staffing gap older than the grace; returns the alerts sent."""
    ctx = runtime()
    now = now or utcnow()
    settings = ctx.settings
    if not in_business_hours(now, settings.review_business_hours):
        return 0
    sent = 0
    with ctx.database.unit_of_work() as db:
        for institution_id in db.scalars(select(Institution.id).where(Institution.enabled.is_(True))):
            since = _gap_start(db, institution_id, now, settings)
            if since is None or now - since < dt.timedelta(minutes=settings.review_unstaffed_grace_minutes):
                continue
            alert = UnstaffedAlert(institution_id=institution_id, gap_started_at=since, notified_at=now)
            try:
                with db.begin_nested():
                    db.add(alert)
                    db.flush()
            except IntegrityError:
                continue  # this gap was already reported
            staff = db.scalars(
                select(UserAccount.id)
                .join(RoleAssignment, RoleAssignment.user_id == UserAccount.id)
                .where(
                    RoleAssignment.institution_id == institution_id,
                    RoleAssignment.role == Role.OPERATIONS.value,
                    UserAccount.status == "active",
                )
            ).all()
            for account_id in staff:
                notify(
                    db,
                    institution_id=institution_id,
                    recipient_account_id=account_id,
                    event=Event.REVIEW_UNSTAFFED,
                    variables={"since": since.astimezone(HOSPITAL_TZ).strftime("%H:%M")},
                    link=Link("pharmacy_duty", institution_id, CONSOLE_ROUTE),
                )
            alert.recipients = len(staff)
            sent += 1
    if sent:
        log.info("review_unstaffed_warned", institutions=sent)
    return sent


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def warn_unstaffed_review() -> None:
    """Every minute: warn operations of a review staffing gap during business hours."""
    warn_unstaffed()
