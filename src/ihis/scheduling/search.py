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


@dataclass(frozen=True)
class SearchResult:
    items: list[PublicSessionOut]
    total: int
    earliest_start: dt.datetime | None  # of every match, not just this page: when the result changes


def search(
    db: Session, institution_id: int, settings: Settings, f: PublicFilter, *, limit: int, offset: int
) -> SearchResult:
    """Bookable-looking sessions matching ``f``, soonest first, with what a patient needs to choose.

    One statement (one round trip on PostgreSQL): the page, its total and the earliest start of all
    matches (window functions), as plain columns. On SQLite it costs about what the former count plus
    entity load did (measured); the earliest start is what the search cache needs for expiry.
    """
    check_dates(f.date_from, f.date_to)
    conditions = _open_conditions(institution_id, settings) + filter_conditions(
        SessionFilter(f.date_from, f.date_to, f.department_id, f.doctor_id, f.campus_id, f.mode)
    )
    if f.max_price_fen is not None:
        conditions.append(ClinicSession.price_fen <= f.max_price_fen)
    if f.available_only:
        conditions.append(ClinicSession.booked < ClinicSession.capacity)
    where = and_(*conditions)
    s = ClinicSession
    rows = db.execute(
        select(
            s.id,
            s.doctor_id,
            UserAccount.display_name,
            StaffProfile.title,
            s.department_id,
            Department.name,
            s.campus_id,
            Campus.name,
            s.service_date,
            s.start_at,
            s.end_at,
            s.mode,
            s.price_fen,
            s.capacity - s.booked,
            s.disease_tags,
            func.count().over(),
            func.min(s.start_at).over(),
        )
        .join(UserAccount, UserAccount.id == s.doctor_id)
        .join(StaffProfile, StaffProfile.user_id == s.doctor_id)
        .join(Department, Department.id == s.department_id)
        .outerjoin(Campus, Campus.id == s.campus_id)
        .where(where)
        .order_by(s.start_at, s.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total: int
    earliest: dt.datetime | None
    if rows:
        total, earliest = rows[0][15], rows[0][16]
    else:  # past the last page (or nothing matches): the window saw no row
        total, earliest = db.execute(select(func.count(), func.min(s.start_at)).where(where)).one()
    items = [
        PublicSessionOut(
            id=r[0],
            doctor_id=r[1],
            doctor_name=r[2],
            doctor_title=r[3],
            department_id=r[4],
            department_name=r[5],
            campus_id=r[6],
            campus_name=r[7],
            service_date=r[8],
            start_at=r[9],
            end_at=r[10],
            mode=r[11],
            price_fen=r[12],
            remaining=r[13],
            disease_tags=[t for t in r[14].split(",") if t],
        )
        for r in rows
    ]
    return SearchResult(items, total, earliest)


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
