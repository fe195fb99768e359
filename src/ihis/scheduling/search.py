"""Finding a slot on the patient end (no login), and a doctor's own sessions.

The search reads ``ix_clinic_session_search`` (institution, status, start): only published
sessions that have not started and open inside the booking window (DOMAIN §3) are shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.organization.models import Campus, Department, StaffProfile
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import InvalidInput
from ihis.scheduling import policy
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.schemas import PublicSessionOut
from ihis.scheduling.service import SessionFilter, filter_conditions
from ihis.settings import Settings


@dataclass(frozen=True)
class PublicFilter:
    department_id: int | None = None
    doctor_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    mode: str | None = None
    max_price_fen: int | None = None
    campus_id: int | None = None
    available_only: bool = False


def check_dates(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InvalidInput.field(
            "query.date_to", "range_reversed", "结束日期早于开始日期", "date_to is before date_from"
        )


def _open_conditions(institution_id: int, settings: Settings) -> list[ColumnElement[bool]]:
    last_day = local_today() + dt.timedelta(days=settings.booking_window_days)
    return [
        ClinicSession.institution_id == institution_id,
        ClinicSession.status == policy.PUBLISHED,
        ClinicSession.start_at > utcnow(),
        ClinicSession.service_date <= last_day,
    ]


def search(
    db: Session, institution_id: int, settings: Settings, f: PublicFilter, *, limit: int, offset: int
) -> tuple[list[PublicSessionOut], int]:
    """Bookable-looking sessions matching ``f``, soonest first, with what a patient needs to choose."""
    check_dates(f.date_from, f.date_to)
    conditions = _open_conditions(institution_id, settings) + filter_conditions(
        SessionFilter(f.date_from, f.date_to, f.department_id, f.doctor_id, f.campus_id, f.mode)
    )
    if f.max_price_fen is not None:
        conditions.append(ClinicSession.price_fen <= f.max_price_fen)
    if f.available_only:
        conditions.append(ClinicSession.booked < ClinicSession.capacity)
    where = and_(*conditions)
    total = db.scalar(select(func.count()).select_from(ClinicSession).where(where)) or 0
    rows = db.execute(
        select(ClinicSession, UserAccount.display_name, StaffProfile.title, Department.name, Campus.name)
        .join(UserAccount, UserAccount.id == ClinicSession.doctor_id)
        .join(StaffProfile, StaffProfile.user_id == ClinicSession.doctor_id)
        .join(Department, Department.id == ClinicSession.department_id)
        .outerjoin(Campus, Campus.id == ClinicSession.campus_id)
        .where(where)
        .order_by(ClinicSession.start_at, ClinicSession.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        PublicSessionOut(
            id=s.id,
            doctor_id=s.doctor_id,
            doctor_name=doctor_name,
            doctor_title=title,
            department_id=s.department_id,
            department_name=department_name,
            campus_id=s.campus_id,
            campus_name=campus_name,
            service_date=s.service_date,
            start_at=s.start_at,
            end_at=s.end_at,
            mode=s.mode,
            price_fen=s.price_fen,
            remaining=s.remaining,
            disease_tags=s.tags,
        )
        for s, doctor_name, title, department_name, campus_name in rows
    ], total


def own_sessions(
    db: Session, institution_id: int, doctor_id: int, date_from: dt.date | None, date_to: dt.date | None
) -> list[ClinicSession]:
    """A doctor's own sessions in a date range (drafts are plans not yet theirs to see)."""
    check_dates(date_from, date_to)
    conditions = filter_conditions(SessionFilter(date_from, date_to, doctor_id=doctor_id))
    return list(
        db.scalars(
            select(ClinicSession)
            .where(
                ClinicSession.institution_id == institution_id,
                ClinicSession.status != policy.DRAFT,
                *conditions,
            )
            .order_by(ClinicSession.start_at, ClinicSession.id)
            .limit(500)
        )
    )
