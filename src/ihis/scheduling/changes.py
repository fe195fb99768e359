"""Temporary changes of a session (BJ 5.1.1.2: 停诊、替诊、加号; and a time shift).

Each change is one guarded UPDATE, a ``SessionChange`` row, an audit entry and an outbox event. The
registration domain subscribes to the events to cancel and refund, move, or tell the patients.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.platform import audit, outbox
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput
from ihis.scheduling import policy
from ihis.scheduling.doctors import place
from ihis.scheduling.models import ChangeKind, ClinicSession, SessionChange
from ihis.scheduling.schemas import AddSlotsIn, ShiftIn, StopIn, SubstituteIn
from ihis.scheduling.service import (
    RESOURCE,
    announce_assignment,
    check_no_overlap,
    get_session,
    guarded_update,
)

# The changes that affect booked patients are announced (the registration domain subscribes);
# added slots affect nobody booked: the change row and the audit entry record them.
TOPICS: dict[ChangeKind, str] = {
    ChangeKind.STOP: "scheduling.session_stopped",
    ChangeKind.SUBSTITUTE: "scheduling.session_substituted",
    ChangeKind.SHIFT: "scheduling.session_shifted",
}


def _canonical(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _record(
    db: Session,
    actor: Actor,
    session: ClinicSession,
    kind: ChangeKind,
    reason: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> SessionChange:
    change = SessionChange(
        institution_id=session.institution_id,
        session_id=session.id,
        kind=kind.value,
        actor_id=actor.user_id,
        occurred_at=utcnow(),
        reason=reason,
        before=_canonical(before),
        after=_canonical(after),
    )
    db.add(change)
    db.flush()
    topic = TOPICS.get(kind)
    if topic is not None:
        _announce(db, topic, session, change, reason)
    audit.record(
        db,
        actor.audit(),
        f"schedule.session.{kind.value}",
        resource_type=RESOURCE,
        resource_id=session.id,
        detail={"change_id": change.id, "before": before, "after": after},
    )
    return change


def _announce(db: Session, topic: str, session: ClinicSession, change: SessionChange, reason: str) -> None:
    outbox.emit(
        db,
        topic,
        {
            "session_id": session.id,
            "institution_id": session.institution_id,
            "kind": change.kind,
            "reason": reason,
            "change_id": change.id,
            "doctor_id": session.doctor_id,
        },
        key=f"change:{change.id}",
    )


def _not_ended(session: ClinicSession) -> None:
    if session.end_at <= utcnow():
        raise Conflict("出诊时段已结束", "The session has ended")


def _not_started(session: ClinicSession) -> None:
    if session.start_at <= utcnow():
        raise Conflict("出诊已开始，不能修改", "The session has started")


def stop(db: Session, actor: Actor, session_id: int, data: StopIn) -> ClinicSession:
    """停诊: the session closes for good; its paid registrations are cancelled and refunded."""
    current = get_session(db, actor.institution_id, session_id)
    _not_ended(current)
    before = {"status": current.status}  # read now: the update refreshes ``current`` in place
    session = guarded_update(
        db, actor, session_id, "stop", {"status": policy.STOPPED}, ClinicSession.end_at > utcnow()
    )
    _record(
        db,
        actor,
        session,
        ChangeKind.STOP,
        data.reason,
        before,
        {"status": session.status},
    )
    return session


def substitute(db: Session, actor: Actor, session_id: int, data: SubstituteIn) -> ClinicSession:
    """替诊: another doctor of the same department takes the session over."""
    current = get_session(db, actor.institution_id, session_id)
    _not_started(current)
    if data.doctor_id == current.doctor_id:
        raise InvalidInput.field(
            "body.doctor_id", "same_doctor", "替诊医师不能是原医师", "Choose a different doctor"
        )
    # Same department, mode enabled: ``place`` checks both; the price stays what patients paid.
    place(
        db,
        actor.institution_id,
        doctor_id=data.doctor_id,
        department_id=current.department_id,
        campus_id=current.campus_id,
        mode=current.mode,
    )
    check_no_overlap(db, data.doctor_id, current.start_at, current.end_at, "body.doctor_id", session_id)
    original = current.substituted_from_id or current.doctor_id
    # Back to the scheduled doctor: no longer a substitution.
    substituted_from = None if data.doctor_id == original else original
    old_doctor = current.doctor_id
    try:
        with db.begin_nested():
            session = guarded_update(
                db,
                actor,
                session_id,
                "substitute",
                {"doctor_id": data.doctor_id, "substituted_from_id": substituted_from, "reminded_at": None},
                ClinicSession.doctor_id == old_doctor,
                ClinicSession.start_at > utcnow(),
            )
    except IntegrityError as exc:
        raise Conflict("替诊医师同一时间已有相同出诊", "The doctor already has this session") from exc
    if session.status == policy.PUBLISHED:
        announce_assignment(db, session)  # the new doctor is told, as on publishing
    _record(
        db,
        actor,
        session,
        ChangeKind.SUBSTITUTE,
        data.reason,
        {"doctor_id": old_doctor},
        {"doctor_id": session.doctor_id},
    )
    return session


def add_slots(db: Session, actor: Actor, session_id: int, data: AddSlotsIn) -> ClinicSession:
    """加号: more slots in a session that has not ended."""
    current = get_session(db, actor.institution_id, session_id)
    _not_ended(current)
    before = {"capacity": current.capacity}
    session = guarded_update(
        db,
        actor,
        session_id,
        "add_slots",
        {"capacity": ClinicSession.capacity + data.count},
        ClinicSession.end_at > utcnow(),
    )
    _record(
        db,
        actor,
        session,
        ChangeKind.ADD_SLOTS,
        data.reason,
        before,
        {"capacity": session.capacity},
    )
    return session


def shift(db: Session, actor: Actor, session_id: int, data: ShiftIn) -> ClinicSession:
    """Move a session that has not started to other times of the same day."""
    current = get_session(db, actor.institution_id, session_id)
    _not_started(current)
    policy.check_span("body.end_time", data.start_time, data.end_time)
    start_at, end_at = policy.local_span(current.service_date, data.start_time, data.end_time)
    if start_at <= utcnow():
        raise InvalidInput.field(
            "body.start_time", "in_the_past", "开始时间已过", "The start time has passed"
        )
    check_no_overlap(db, current.doctor_id, start_at, end_at, "body.start_time", session_id)
    old_start, old_end = current.start_at, current.end_at
    try:
        with db.begin_nested():
            session = guarded_update(
                db,
                actor,
                session_id,
                "shift",
                # The doctor is reminded again for the new time.
                {"start_at": start_at, "end_at": end_at, "reminded_at": None},
                ClinicSession.start_at == old_start,
                ClinicSession.start_at > utcnow(),
            )
    except IntegrityError as exc:
        raise Conflict("该医师同一时间同一方式的出诊已存在", "The same session already exists") from exc
    _record(
        db,
        actor,
        session,
        ChangeKind.SHIFT,
        data.reason,
        {"start_at": old_start.isoformat(), "end_at": old_end.isoformat()},
        {"start_at": session.start_at.isoformat(), "end_at": session.end_at.isoformat()},
    )
    return session


def changes_of(db: Session, actor: Actor, session_id: int) -> list[SessionChange]:
    """The change history of one session, oldest first."""
    get_session(db, actor.institution_id, session_id)
    return list(
        db.scalars(
            select(SessionChange)
            .where(
                SessionChange.session_id == session_id, SessionChange.institution_id == actor.institution_id
            )
            .order_by(SessionChange.id)
        )
    )
