"""The consultation lifecycle (DOMAIN §4; BJ 5.2.1-5.2.3), every move a guarded state change:

    registration confirmed (waiting) --accept--> in_progress --complete--> completed
                                      --reject--> rejected (not a follow-up: refunded, patient told)
                                     in_progress --stop--> stopped (reason + advice: refunded, told)

The timeline of a registration records each step. The chat room of a consultation opens at accept
and closes when it ends (``rooms.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.consultation import rooms
from ihis.consultation.models import COMPLETED, IN_PROGRESS, REJECTED, STOPPED, Consultation, TimelineEvent
from ihis.identity.access import Actor
from ihis.identity.models import Visitor
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.registration import lifecycle as registrations
from ihis.registration.models import CONFIRMED, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings

RESOURCE = "consultation"
PATIENT_ROUTE = "/consultations/{id}"


class NotYetOpen(Conflict):
    code = "consultation_not_open"

    def __init__(self, opens_at: dt.datetime) -> None:
        local = opens_at.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M")
        super().__init__(f"出诊尚未开始，{local}起可接诊", f"The session opens for consultations at {local}")


class ConsultationChanged(Conflict):
    code = "consultation_changed"

    def __init__(self) -> None:
        super().__init__("接诊状态已变化，请刷新", "The consultation changed meanwhile; reload")


def _canonical(detail: dict[str, Any] | None) -> str | None:
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if detail else None


def record_event(
    db: Session,
    actor: Actor | None,
    registration: Registration,
    kind: str,
    *,
    consultation_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one step to the registration's timeline (no personal data in ``detail``)."""
    db.add(
        TimelineEvent(
            institution_id=registration.institution_id,
            registration_id=registration.id,
            consultation_id=consultation_id,
            kind=kind,
            actor_id=actor.user_id if actor else None,
            actor_role=(",".join(sorted(actor.roles)) or actor.kind) if actor else "system",
            occurred_at=utcnow(),
            detail=_canonical(detail),
        )
    )
    db.flush()


def timeline(db: Session, registration_id: int) -> list[TimelineEvent]:
    return list(
        db.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.registration_id == registration_id)
            .order_by(TimelineEvent.id)
        )
    )


# --- the doctor's view -------------------------------------------------------------------------------


def _own_session(db: Session, actor: Actor, session_id: int) -> ClinicSession:
    session = db.scalar(
        select(ClinicSession).where(
            ClinicSession.id == session_id,
            ClinicSession.institution_id == actor.institution_id,
            ClinicSession.doctor_id == actor.user_id,
        )
    )
    if session is None:
        raise NotFound("出诊时段不存在", "Session not found")
    return session


def todays_sessions(db: Session, actor: Actor, settings: Settings) -> list[ClinicSession]:
    """The doctor's published or stopped sessions of today (hospital-local), and any later one already
    open for early start (``consultation_early_start_minutes``: a session just after midnight, or
    the next morning's where early start is long), so its waiting patients can be received."""
    now = utcnow()
    opened = now + dt.timedelta(minutes=settings.consultation_early_start_minutes)
    return list(
        db.scalars(
            select(ClinicSession)
            .where(
                ClinicSession.institution_id == actor.institution_id,
                ClinicSession.doctor_id == actor.user_id,
                or_(
                    ClinicSession.service_date == local_today(),
                    and_(ClinicSession.start_at > now, ClinicSession.start_at <= opened),
                ),
                ClinicSession.status.in_(("published", "stopped")),
            )
            .order_by(ClinicSession.start_at)
        )
    )


def doctor_registration(
    db: Session, actor: Actor, registration_id: int
) -> tuple[Registration, ClinicSession]:
    """A registration of one of the doctor's sessions (404 for anyone else's)."""
    row = db.execute(
        select(Registration, ClinicSession)
        .join(ClinicSession, ClinicSession.id == Registration.session_id)
        .where(
            Registration.id == registration_id,
            Registration.institution_id == actor.institution_id,
            ClinicSession.doctor_id == actor.user_id,
        )
    ).first()
    if row is None:
        raise NotFound("预约不存在", "Registration not found")
    return row[0], row[1]


def waiting(db: Session, actor: Actor, session_ids: list[int]) -> list[tuple[Registration, Visitor]]:
    """Paid registrations not yet received, by session start and queue number."""
    if not session_ids:
        return []
    rows = db.execute(
        select(Registration, Visitor)
        .join(Visitor, Visitor.id == Registration.visitor_id)
        .join(ClinicSession, ClinicSession.id == Registration.session_id)
        .where(
            Registration.session_id.in_(session_ids),
            ClinicSession.doctor_id == actor.user_id,
            Registration.status == CONFIRMED,
            Registration.attended_at.is_(None),
        )
        .order_by(ClinicSession.start_at, Registration.queue_number)
    ).all()
    return [(r, v) for r, v in rows]


@dataclass(frozen=True)
class ConsultationFilter:
    status: str | None = None
    date: dt.date | None = None


def doctor_consultations(db: Session, actor: Actor, f: ConsultationFilter) -> list[Consultation]:
    conditions: list[ColumnElement[bool]] = [
        Consultation.institution_id == actor.institution_id,
        Consultation.doctor_id == actor.user_id,
    ]
    if f.status:
        conditions.append(Consultation.status == f.status)
    if f.date:
        start = dt.datetime.combine(f.date, dt.time(), tzinfo=HOSPITAL_TZ)
        conditions.extend(
            [Consultation.started_at >= start, Consultation.started_at < start + dt.timedelta(days=1)]
        )
    return list(db.scalars(select(Consultation).where(*conditions).order_by(Consultation.started_at.desc())))


def doctor_consultation(db: Session, actor: Actor, consultation_id: int) -> Consultation:
    row = db.scalar(
        select(Consultation).where(
            Consultation.id == consultation_id,
            Consultation.institution_id == actor.institution_id,
            Consultation.doctor_id == actor.user_id,
        )
    )
    if row is None:
        raise NotFound("接诊记录不存在", "Consultation not found")
    return row


# --- moves ---------------------------------------------------------------------------------------------


def _check_open(session: ClinicSession, settings: Settings, now: dt.datetime) -> None:
    opens = session.start_at - dt.timedelta(minutes=settings.consultation_early_start_minutes)
    if now < opens:
        raise NotYetOpen(opens)


def _reason(value: str, field: str, minimum: int = 2, maximum: int = 500) -> str:
    text = value.strip()
    if not minimum <= len(text) <= maximum:
        raise InvalidInput.field(
            field, "text_length", f"请填写{minimum}至{maximum}字", f"Give {minimum}-{maximum} characters"
        )
    return text


def _new(
    db: Session, registration: Registration, session: ClinicSession, status: str, now: dt.datetime, **kw: Any
) -> Consultation:
    consultation = Consultation(
        institution_id=registration.institution_id,
        registration_id=registration.id,
        session_id=session.id,
        department_id=session.department_id,
        doctor_id=session.doctor_id,
        account_id=registration.account_id,
        visitor_id=registration.visitor_id,
        status=status,
        started_at=now,
        version=1,
        **kw,
    )
    try:
        with db.begin_nested():
            db.add(consultation)
            db.flush()
    except IntegrityError:
        raise ConsultationChanged() from None  # a concurrent accept/reject of the same registration
    return consultation


def accept(db: Session, actor: Actor, registration_id: int, settings: Settings) -> Consultation:
    """接诊: the waiting patient becomes a consultation in progress with its chat room."""
    registration, session = doctor_registration(db, actor, registration_id)
    now = utcnow()
    _check_open(session, settings, now)
    if not registrations.mark_attended(db, registration.id, now):
        raise ConsultationChanged()
    consultation = _new(db, registration, session, IN_PROGRESS, now)
    consultation.room_id = rooms.open_room(db, consultation)
    db.flush()
    record_event(db, actor, registration, "accepted", consultation_id=consultation.id)
    audit.record(
        db,
        actor.audit(),
        "consultation.accept",
        resource_type=RESOURCE,
        resource_id=consultation.id,
        patient_id=registration.visitor_id,
        detail={"registration_id": registration.id},
    )
    return consultation


def _visit_variables(db: Session, registration: Registration, session: ClinicSession) -> dict[str, str]:
    return registrations.visit_variables(db, registration, session)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _tell_patient(db: Session, consultation: Consultation, event: Event, variables: dict[str, str]) -> None:
    notify(
        db,
        institution_id=consultation.institution_id,
        recipient_account_id=consultation.account_id,
        event=event,
        variables=variables,
        link=Link("consultation", consultation.id, PATIENT_ROUTE.format(id=consultation.id)),
    )


def reject(db: Session, actor: Actor, registration_id: int, reason: str) -> Consultation:
    """Not a follow-up (BJ 5.2.3): the registration is cancelled and refunded; the patient is told."""
    text = _reason(reason, "body.reason")
    registration, session = doctor_registration(db, actor, registration_id)
    now = utcnow()
    registration = registrations.reject_by_doctor(db, registration.id, text)
    consultation = _new(db, registration, session, REJECTED, now, ended_at=now, reason=text)
    record_event(
        db, actor, registration, "rejected", consultation_id=consultation.id, detail={"reason": text}
    )
    variables = _visit_variables(db, registration, session)
    _tell_patient(
        db,
        consultation,
        Event.CONSULTATION_REJECTED,
        {**variables, "reason": text, "amount_yuan": _yuan(registration.amount_fen)},
    )
    audit.record(
        db,
        actor.audit(),
        "consultation.reject",
        resource_type=RESOURCE,
        resource_id=consultation.id,
        patient_id=registration.visitor_id,
        detail={"registration_id": registration.id, "reason": text},
    )
    return consultation


def _finish(db: Session, consultation: Consultation, target: str, **values: Any) -> bool:
    now = utcnow()
    moved = db.execute(
        update(Consultation)
        .where(Consultation.id == consultation.id, Consultation.status == IN_PROGRESS)
        .values(status=target, ended_at=now, updated_at=now, version=Consultation.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return False
    db.expire(consultation)
    return True


def stop(db: Session, actor: Actor, consultation_id: int, reason: str, advice: str) -> Consultation:
    """中止复诊: online care is unsuitable; reason and advice recorded, fee refunded, patient told."""
    text = _reason(reason, "body.reason")
    advice_text = _reason(advice, "body.advice", maximum=1000)
    consultation = doctor_consultation(db, actor, consultation_id)
    if not _finish(db, consultation, STOPPED, reason=text, advice=advice_text):
        raise ConsultationChanged()
    registration = db.get(Registration, consultation.registration_id, populate_existing=True)
    assert registration is not None
    session = db.get(ClinicSession, consultation.session_id)
    assert session is not None
    registrations.refund_fee(db, registration, "医生中止线上复诊，全额退款")
    rooms.close_room(db, consultation, f"医生已中止本次复诊：{text}。建议：{advice_text}")
    record_event(db, actor, registration, "stopped", consultation_id=consultation.id, detail={"reason": text})
    _tell_patient(
        db,
        consultation,
        Event.CONSULTATION_STOPPED,
        {
            **_visit_variables(db, registration, session),
            "reason": text,
            "advice": advice_text,
            "amount_yuan": _yuan(registration.amount_fen),
        },
    )
    audit.record(
        db,
        actor.audit(),
        "consultation.stop",
        resource_type=RESOURCE,
        resource_id=consultation.id,
        patient_id=consultation.visitor_id,
        detail={"reason": text},
    )
    return consultation


def complete(db: Session, actor: Actor, consultation_id: int, *, record_signed: bool) -> Consultation:
    """完成: only once the medical record is signed (《电子病历应用管理规范》)."""
    consultation = doctor_consultation(db, actor, consultation_id)
    if consultation.status == IN_PROGRESS and not record_signed:
        raise Conflict(
            "请先签署门诊病历再结束接诊",
            "Sign the medical record before completing",
        )
    if not _finish(db, consultation, COMPLETED):
        raise ConsultationChanged()
    registration = db.get(Registration, consultation.registration_id)
    assert registration is not None
    rooms.close_room(db, consultation, "本次复诊已结束")
    record_event(db, actor, registration, "completed", consultation_id=consultation.id)
    audit.record(
        db,
        actor.audit(),
        "consultation.complete",
        resource_type=RESOURCE,
        resource_id=consultation.id,
        patient_id=consultation.visitor_id,
    )
    return consultation


# --- the patient's view ------------------------------------------------------------------------------


def mine(db: Session, actor: Actor) -> list[Consultation]:
    return list(
        db.scalars(
            select(Consultation)
            .where(
                Consultation.institution_id == actor.institution_id, Consultation.account_id == actor.user_id
            )
            .order_by(Consultation.started_at.desc())
        )
    )


def my_consultation(db: Session, actor: Actor, consultation_id: int) -> Consultation:
    row = db.scalar(
        select(Consultation).where(
            Consultation.id == consultation_id,
            Consultation.institution_id == actor.institution_id,
            Consultation.account_id == actor.user_id,
        )
    )
    if row is None:
        raise NotFound("接诊记录不存在", "Consultation not found")
    return row


def for_registration(db: Session, registration_id: int) -> Consultation | None:
    return db.scalar(select(Consultation).where(Consultation.registration_id == registration_id))
