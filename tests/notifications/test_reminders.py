"""Scheduled reminders: sent exactly once when due, never before; the clock is passed in."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.notifications import service
from ihis.notifications.channels import Link
from ihis.notifications.jobs import send_due_reminders
from ihis.notifications.models import Message, ScheduledNotification
from ihis.notifications.templates import VariablesMismatch
from ihis.platform import jobs
from ihis.platform.clock import utcnow
from tests.factories import make_institution, make_patient
from tests.factories_notifications import variables_for

LINK = Link("registration", 41, "/registrations/41")


def _schedule(db: Session, account_id: int, institution_id: int, at: dt.datetime) -> ScheduledNotification:
    return service.schedule_reminder(
        db,
        institution_id=institution_id,
        recipient_account_id=account_id,
        event="visit_reminder",
        variables=variables_for("visit_reminder", start_time="2026-05-06 09:00"),
        link=LINK,
        at=at,
        channels=["in_app"],
    )


def _messages(db: Session, account_id: int) -> list[Message]:
    return list(db.scalars(select(Message).where(Message.recipient_account_id == account_id)))


def test_a_reminder_is_sent_exactly_once_when_due_and_not_before(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    due = utcnow() + dt.timedelta(hours=2)
    reminder = _schedule(db, patient.id, inst.id, due)
    db.commit()

    assert send_due_reminders(jobs.runtime(), now=due - dt.timedelta(minutes=1)) == 0
    assert _messages(db, patient.id) == []
    assert send_due_reminders(jobs.runtime(), now=due) == 1
    assert send_due_reminders(jobs.runtime(), now=due + dt.timedelta(minutes=1)) == 0

    messages = _messages(db, patient.id)
    assert len(messages) == 1
    assert messages[0].event == "visit_reminder" and "2026-05-06 09:00" in messages[0].body
    assert (messages[0].link_type, messages[0].link_id) == ("registration", 41)
    db.expire_all()
    assert db.get(ScheduledNotification, reminder.id).status == "dispatched"  # type: ignore[union-attr]


def test_two_workers_claiming_the_same_reminder_send_it_once(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    now = utcnow()
    reminder = _schedule(db, patient.id, inst.id, now)
    assert service.dispatch_reminder(db, reminder.id, now) is True
    assert service.dispatch_reminder(db, reminder.id, now) is False
    assert len(_messages(db, patient.id)) == 1


def test_a_cancelled_reminder_is_never_sent(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    now = utcnow()
    _schedule(db, patient.id, inst.id, now)
    assert service.cancel_reminders(db, institution_id=inst.id, link=LINK) == 1
    db.commit()
    assert send_due_reminders(jobs.runtime(), now=now + dt.timedelta(hours=1)) == 0
    assert _messages(db, patient.id) == []


def test_bad_reminders_are_refused_when_scheduled(db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    with pytest.raises(ValueError, match="naive"):
        _schedule(db, patient.id, inst.id, dt.datetime(2026, 5, 6, 9, 0))
    with pytest.raises(VariablesMismatch):
        service.schedule_reminder(
            db,
            institution_id=inst.id,
            recipient_account_id=patient.id,
            event="visit_reminder",
            variables={"start_time": "09:00"},
            link=None,
            at=utcnow(),
        )
    with pytest.raises(service.UnknownRecipient):
        _schedule(db, patient.id, make_institution(db).id, utcnow())
