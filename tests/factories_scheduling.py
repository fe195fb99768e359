"""Factories for scheduling: doctors who can hold sessions, sessions, an operations login.

inst = make_institution(db); dept = make_department(db, inst)
doc = make_scheduling_doctor(db, inst, dept)          # approved, text 2000 fen, video 5000 fen
s = make_session(db, doc, days=1, status="published")  # tomorrow 09:00-11:00 Beijing time
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.organization.models import Department, StaffProfile
from ihis.platform.clock import local_today
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.policy import local_span
from ihis.tenancy.models import Institution
from tests.factories import make_staff
from tests.factories_org import make_listed_doctor, set_mode

_seq = itertools.count(1)


def make_scheduling_doctor(
    db: Session, inst: Institution, dept: Department, *, display_name: str | None = None, **kw: Any
) -> StaffProfile:
    """An approved doctor of ``dept``: text at 2000 fen and video at 5000 fen enabled."""
    profile = make_listed_doctor(db, inst, dept, display_name=display_name, **kw)
    set_mode(db, profile, "video", price_fen=5000)
    return profile


def make_scheduler(db: Session, inst: Institution) -> UserAccount:
    """An operations account (holds schedule.manage)."""
    return make_staff(db, inst, roles=["operations"])


def make_session(
    db: Session,
    doctor: StaffProfile,
    *,
    days: int = 1,
    start: dt.time = dt.time(9, 0),
    end: dt.time = dt.time(11, 0),
    mode: str = "text",
    capacity: int = 5,
    booked: int = 0,
    price_fen: int = 2000,
    status: str = "draft",
    disease_tags: str = "",
    **kw: Any,
) -> ClinicSession:
    """A session ``days`` after today (hospital time), inserted directly."""
    day = local_today() + dt.timedelta(days=days)
    start_at, end_at = local_span(day, start, end)
    assert doctor.department_id is not None
    session = ClinicSession(
        institution_id=doctor.institution_id,
        doctor_id=doctor.user_id,
        department_id=kw.pop("department_id", doctor.department_id),
        campus_id=kw.pop("campus_id", None),
        service_date=day,
        start_at=start_at,
        end_at=end_at,
        mode=mode,
        capacity=capacity,
        booked=booked,
        price_fen=price_fen,
        disease_tags=disease_tags,
        status=status,
        version=1,
        **kw,
    )
    db.add(session)
    db.flush()
    return session


def next_day_of(weekday: int, *, after_days: int = 1) -> dt.date:
    """The first date at least ``after_days`` ahead falling on ISO ``weekday``."""
    day = local_today() + dt.timedelta(days=after_days)
    while day.isoweekday() != weekday:
        day += dt.timedelta(days=1)
    return day
