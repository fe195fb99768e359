"""Slot primitives at their boundaries, and the doctor's reminder before a session."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.platform.clock import local_today, utcnow
from ihis.platform.outbox import OutboxMessage
from ihis.scheduling import jobs
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import bookable, due_session_reminders, hold_slot, release_slot, remind_doctors
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_org import make_department
from tests.factories_scheduling import make_scheduling_doctor, make_session


@pytest.fixture
def doctor(db: Session):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    return make_scheduling_doctor(db, inst, make_department(db, inst))


def _booked(db: Session, session: ClinicSession) -> int:
    db.expire_all()
    return db.get_one(ClinicSession, session.id).booked


def test_hold_takes_slots_until_the_capacity_and_not_one_more(db: Session, doctor) -> None:  # type: ignore[no-untyped-def]
    session = make_session(db, doctor, capacity=2, status="published")
    assert hold_slot(db, session.id) is True
    assert hold_slot(db, session.id) is True
    assert hold_slot(db, session.id) is False
    assert _booked(db, session) == 2


def test_hold_refuses_drafts_stopped_and_started_sessions(db: Session, doctor) -> None:  # type: ignore[no-untyped-def]
    draft = make_session(db, doctor, days=1)
    stopped = make_session(db, doctor, days=2, status="stopped")
    started = make_session(db, doctor, days=3, status="published")
    assert hold_slot(db, draft.id) is False
    assert hold_slot(db, stopped.id) is False
    assert hold_slot(db, started.id, now=started.start_at) is False
    assert hold_slot(db, started.id, now=started.start_at - dt.timedelta(seconds=1)) is True
    assert hold_slot(db, 999_999_999) is False


def test_release_never_goes_below_zero(db: Session, doctor) -> None:  # type: ignore[no-untyped-def]
    session = make_session(db, doctor, status="published", booked=1)
    assert release_slot(db, session.id) is True
    assert release_slot(db, session.id) is False
    assert _booked(db, session) == 0


def test_the_database_refuses_a_counter_outside_its_bounds(db: Session, doctor) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError), db.begin_nested():
        make_session(db, doctor, capacity=2, booked=3)
    with pytest.raises(IntegrityError), db.begin_nested():
        make_session(db, doctor, days=2, booked=-1)


def test_bookable_means_published_not_started_and_inside_the_window(
    db: Session,
    doctor,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    window = settings.booking_window_days
    now = utcnow()
    inside = make_session(db, doctor, days=window, status="published")
    beyond = make_session(db, doctor, days=window + 1, status="published")
    draft = make_session(db, doctor, days=1)
    assert bookable(inside, now, settings) is True
    assert bookable(beyond, now, settings) is False
    assert bookable(draft, now, settings) is False
    assert bookable(inside, inside.start_at, settings) is False
    wider = settings.model_copy(update={"booking_window_days": window + 1})
    assert bookable(beyond, now, wider) is True


def test_doctors_are_reminded_once_within_the_lead_time(db: Session, doctor) -> None:  # type: ignore[no-untyped-def]
    soon = make_session(db, doctor, days=1, status="published")
    later = make_session(db, doctor, days=2, status="published")
    make_session(db, doctor, days=3)  # a draft is nobody's session yet
    lead = dt.timedelta(minutes=30)
    now = soon.start_at - dt.timedelta(minutes=20)
    assert [s.id for s in due_session_reminders(db, now, lead)] == [soon.id]
    assert remind_doctors(db, now, lead) == 1
    assert remind_doctors(db, now, lead) == 0
    assert due_session_reminders(db, now, lead) == []
    payloads = [
        json.loads(p)
        for p in db.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "scheduling.session_starting")
        )
    ]
    assert [p["session_id"] for p in payloads] == [soon.id]
    assert payloads[0]["doctor_id"] == doctor.user_id
    assert later.id not in [p["session_id"] for p in payloads]


def test_the_periodic_job_emits_reminders_through_the_runtime(db: Session, doctor, database) -> None:  # type: ignore[no-untyped-def]
    session = make_session(db, doctor, days=1, status="published")
    db.commit()
    assert jobs.run_session_reminders(now=session.start_at - dt.timedelta(minutes=5)) == 1
    db.expire_all()
    assert db.get_one(ClinicSession, session.id).reminded_at is not None
    assert local_today() < session.service_date
