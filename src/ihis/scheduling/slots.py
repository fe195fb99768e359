"""Slot primitives the registration domain builds on, and the doctor's reminder before a session.

The counter moves only by one conditional UPDATE each (ARCHITECTURE principle 2): two patients
racing for the last slot cannot both win, and the CHECK constraints back the bounds.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from ihis.platform import outbox
from ihis.platform.clock import local_today, utcnow
from ihis.scheduling.cache import slot_changed
from ihis.scheduling.models import ClinicSession, SessionStatus
from ihis.scheduling.policy import local_date
from ihis.settings import Settings

PUBLISHED = SessionStatus.PUBLISHED.value


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


def hold_slot(db: Session, session_id: int, now: dt.datetime | None = None) -> bool:
    """Take one slot of a published session that has not started; False when none is left."""
    result = db.execute(
        update(ClinicSession)
        .where(
            ClinicSession.id == session_id,
            ClinicSession.status == PUBLISHED,
            ClinicSession.booked < ClinicSession.capacity,
            ClinicSession.start_at > (now or utcnow()),
        )
        .values(booked=ClinicSession.booked + 1)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    slot_changed(db, session_id)  # the public search shows remaining counts
    return True


def release_slot(db: Session, session_id: int) -> bool:
    """Give one slot back (cancelled or unpaid registration); False if none was held."""
    result = db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == session_id, ClinicSession.booked > 0)
        .values(booked=ClinicSession.booked - 1)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    slot_changed(db, session_id)
    return True


def bookable(session: ClinicSession, now: dt.datetime, settings: Settings) -> bool:
    """Published, not started, and inside the booking window (opens N days ahead, DOMAIN §3)."""
    last_day = local_today() + dt.timedelta(days=settings.booking_window_days)
    return session.status == PUBLISHED and session.start_at > now and local_date(session.start_at) <= last_day


def due_session_reminders(db: Session, now: dt.datetime, lead: dt.timedelta) -> list[ClinicSession]:
    """Published sessions starting within ``lead`` whose doctor has not been reminded yet."""
    return list(
        db.scalars(
            select(ClinicSession)
            .where(
                ClinicSession.status == PUBLISHED,
                ClinicSession.reminded_at.is_(None),
                ClinicSession.start_at > now,
                ClinicSession.start_at <= now + lead,
            )
            .order_by(ClinicSession.start_at, ClinicSession.id)
        )
    )


def remind_doctors(db: Session, now: dt.datetime, lead: dt.timedelta) -> int:
    """Emit ``scheduling.session_starting`` once per due session (guarded by ``reminded_at``)."""
    sent = 0
    for session in due_session_reminders(db, now, lead):
        result = db.execute(
            update(ClinicSession)
            .where(ClinicSession.id == session.id, ClinicSession.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            continue  # another worker reminded it first
        outbox.emit(
            db,
            "scheduling.session_starting",
            {
                "session_id": session.id,
                "institution_id": session.institution_id,
                "doctor_id": session.doctor_id,
                "start_at": session.start_at.isoformat(),
            },
            key=f"session:{session.id}:{session.start_at.isoformat()}",
        )
        sent += 1
    return sent
