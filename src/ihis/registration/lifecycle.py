"""What happens to a registration after booking: paid -> confirmed with a queue number, unpaid ->
closed, cancelled by the patient or by a stopped session (refunded by the original channel),
told of a substitute or a new time, and no-show after the session ends.

Each move is one guarded ``UPDATE ... WHERE id = :id AND status = :from`` (ARCHITECTURE principle 2):
an outbox event delivered twice, or racing a patient's click, changes the row once. A slot is
given back exactly when a registration leaves a live status, so the session's counter always equals
its live registrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.billing import refunds
from ihis.billing import service as billing
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.notifications.channels import Link
from ihis.notifications.service import cancel_reminders, notify, schedule_reminder
from ihis.notifications.templates import Event
from ihis.organization.models import Department
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import Conflict, NotFound
from ihis.registration.blacklist import block_if_due, job_context
from ihis.registration.booking import MODE_NAMES, RESOURCE
from ihis.registration.models import (
    CANCELLED,
    CLOSED,
    CONFIRMED,
    LIVE_STATUSES,
    NO_SHOW,
    PENDING_PAYMENT,
    Registration,
)
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import release_slot
from ihis.settings import Settings

PATIENT_ROUTE = "/registrations/{id}"


class CancelTooLate(Conflict):
    code = "cancel_too_late"

    def __init__(self) -> None:
        super().__init__(
            "就诊已开始或已结束，不能取消", "The visit has started; it can no longer be cancelled"
        )


class RegistrationChanged(Conflict):
    code = "registration_changed"

    def __init__(self) -> None:
        super().__init__(
            "预约状态已变化，请刷新后重试", "The registration changed meanwhile; reload and retry"
        )


def _moved(result: object) -> bool:
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _move(db: Session, registration_id: int, source: str, target: str, **values: Any) -> bool:
    """Guarded transition; True if this call made it."""
    moved = _moved(
        db.execute(
            update(Registration)
            .where(Registration.id == registration_id, Registration.status == source)
            .values(status=target, version=Registration.version + 1, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        db.expire_all()
    return moved


def _link(registration: Registration) -> Link:
    return Link("registration", registration.id, PATIENT_ROUTE.format(id=registration.id))


def _local(at: dt.datetime) -> str:
    return at.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def visit_variables(db: Session, registration: Registration, session: ClinicSession) -> dict[str, str]:
    """The template variables of a visit (DOMAIN §3 messages)."""
    visitor_name = db.scalar(select(Visitor.name).where(Visitor.id == registration.visitor_id)) or ""
    doctor_name = db.scalar(select(UserAccount.display_name).where(UserAccount.id == session.doctor_id)) or ""
    department = db.scalar(select(Department.name).where(Department.id == session.department_id)) or ""
    return {
        "patient_name": visitor_name,
        "doctor_name": doctor_name,
        "department": department,
        "start_time": _local(session.start_at),
        "service_mode": MODE_NAMES.get(session.mode, session.mode),
    }


def _session(db: Session, session_id: int) -> ClinicSession:
    session = db.get(ClinicSession, session_id, populate_existing=True)
    assert session is not None
    return session


def _tell(db: Session, registration: Registration, event: Event, variables: dict[str, str]) -> None:
    notify(
        db,
        institution_id=registration.institution_id,
        recipient_account_id=registration.account_id,
        event=event,
        variables=variables,
        link=_link(registration),
    )


def schedule_visit_reminder(db: Session, registration: Registration, settings: Settings) -> None:
    """Remind the patient before the visit (default 30 minutes, BJ 5.2.2); none if already that close."""
    session = _session(db, registration.session_id)
    at = session.start_at - dt.timedelta(minutes=settings.visit_reminder_minutes)
    cancel_reminders(
        db, institution_id=registration.institution_id, link=_link(registration), event=Event.VISIT_REMINDER
    )
    if at <= utcnow():
        return
    schedule_reminder(
        db,
        institution_id=registration.institution_id,
        recipient_account_id=registration.account_id,
        event=Event.VISIT_REMINDER,
        variables=visit_variables(db, registration, session),
        link=_link(registration),
        at=at,
    )


# --- payment ---------------------------------------------------------------------------------------


def _next_queue_number(db: Session, session_id: int) -> int:
    current = db.scalar(
        select(func.max(Registration.queue_number)).where(Registration.session_id == session_id)
    )
    return (current or 0) + 1


def confirm_paid(db: Session, registration_id: int, settings: Settings) -> bool:
    """The bill is paid: confirm with the next queue number and tell the patient; a registration that
    was cancelled meanwhile gets its money back instead. True if this call confirmed it."""
    registration = db.get(Registration, registration_id, populate_existing=True)
    if registration is None:
        return False
    if registration.status != PENDING_PAYMENT:
        if registration.status in (CANCELLED, CLOSED) and registration.bill_id is not None:
            _refund_if_paid(db, registration, "挂号已取消，支付款原路退回")
        return False
    now = utcnow()
    for _ in range(5):  # a concurrent confirmation may take the same number: the unique key says so
        try:
            with db.begin_nested():
                moved = _move(
                    db,
                    registration_id,
                    PENDING_PAYMENT,
                    CONFIRMED,
                    queue_number=_next_queue_number(db, registration.session_id),
                    confirmed_at=now,
                )
            break
        except IntegrityError:
            continue
    else:
        raise RuntimeError(f"no queue number for registration {registration_id}")
    if not moved:
        return confirm_paid(db, registration_id, settings)  # it changed under us: decide again
    registration = db.get(Registration, registration_id, populate_existing=True)
    assert registration is not None and registration.queue_number is not None
    session = _session(db, registration.session_id)
    variables = visit_variables(db, registration, session)
    _tell(
        db,
        registration,
        Event.BOOKING_CONFIRMED,
        {**variables, "queue_number": str(registration.queue_number)},
    )
    _tell(
        db,
        registration,
        Event.PAYMENT_SUCCEEDED,
        {
            "patient_name": variables["patient_name"],
            "item": "挂号费",
            "amount_yuan": _yuan(registration.amount_fen),
        },
    )
    schedule_visit_reminder(db, registration, settings)
    audit.record(
        db,
        job_context(registration.institution_id, "payment"),
        "registration.confirm",
        resource_type=RESOURCE,
        resource_id=registration.id,
        patient_id=registration.visitor_id,
        detail={"queue_number": registration.queue_number, "bill_id": registration.bill_id},
    )
    return True


def close_unpaid(db: Session, registration_id: int) -> bool:
    """The unpaid bill closed at its deadline: release the slot and tell the patient."""
    registration = db.get(Registration, registration_id, populate_existing=True)
    if registration is None or not _move(db, registration_id, PENDING_PAYMENT, CLOSED):
        return False
    release_slot(db, registration.session_id)
    session = _session(db, registration.session_id)
    variables = visit_variables(db, registration, session)
    _tell(
        db,
        registration,
        Event.BILL_CLOSED,
        {
            "patient_name": variables["patient_name"],
            "item": "挂号费",
            "amount_yuan": _yuan(registration.amount_fen),
        },
    )
    audit.record(
        db,
        job_context(registration.institution_id, "payment"),
        "registration.close_unpaid",
        resource_type=RESOURCE,
        resource_id=registration.id,
        patient_id=registration.visitor_id,
    )
    return True


def refund_fee(db: Session, registration: Registration, reason: str) -> bool:
    """Give the whole fee back by the original channel (doctor rejected or stopped the visit)."""
    return _refund_if_paid(db, registration, reason)


def _refund_if_paid(db: Session, registration: Registration, reason: str) -> bool:
    """Ask for the whole fee back when the bill is paid (any other state: nothing was taken)."""
    assert registration.bill_id is not None
    bill = billing.bill_for_reference(db, registration.institution_id, "registration", registration.id)
    if bill is None or bill.status != "paid":
        return False
    refund = refunds.request_refund(db, bill.id, bill.amount_fen - bill.refunded_fen, reason)
    variables = visit_variables(db, registration, _session(db, registration.session_id))
    _tell(
        db,
        registration,
        Event.REFUND_PROGRESS,
        {
            "patient_name": variables["patient_name"],
            "item": "挂号费",
            "amount_yuan": _yuan(refund.amount_fen),
            "refund_status": "已受理",
            "refund_channel": CHANNEL_NAMES.get(refund.channel, refund.channel),
            "refund_arrival": refund.expected_arrival,
        },
    )
    return True


CHANNEL_NAMES = {"wechat": "微信支付", "alipay": "支付宝"}


def refund_settled(db: Session, registration_id: int, refund_id: int) -> None:
    """Tell the patient their refund succeeded (BJ 5.4.1.1)."""
    registration = db.get(Registration, registration_id)
    if registration is None:
        return
    refund = next((r for r in _refunds(db, registration) if r.id == refund_id), None)
    if refund is None:
        return
    variables = visit_variables(db, registration, _session(db, registration.session_id))
    _tell(
        db,
        registration,
        Event.REFUND_PROGRESS,
        {
            "patient_name": variables["patient_name"],
            "item": "挂号费",
            "amount_yuan": _yuan(refund.amount_fen),
            "refund_status": "已退款成功",
            "refund_channel": CHANNEL_NAMES.get(refund.channel, refund.channel),
            "refund_arrival": refund.expected_arrival,
        },
    )


def _refunds(db: Session, registration: Registration) -> list[Any]:
    bill = billing.bill_for_reference(db, registration.institution_id, "registration", registration.id)
    return billing.refunds_of(db, bill) if bill is not None else []


# --- cancellation -----------------------------------------------------------------------------------


def _leave_live(db: Session, registration: Registration, kind: str, reason: str | None) -> str:
    """Move a live registration to cancelled; returns the status it left (409 if it changed)."""
    source = registration.status
    if source not in LIVE_STATUSES:
        raise RegistrationChanged()
    if not _move(
        db, registration.id, source, CANCELLED, cancelled_at=utcnow(), cancel_kind=kind, cancel_reason=reason
    ):
        raise RegistrationChanged()
    release_slot(db, registration.session_id)
    cancel_reminders(db, institution_id=registration.institution_id, link=_link(registration))
    if source == PENDING_PAYMENT and registration.bill_id is not None:
        billing.expire_unpaid(db, registration.bill_id)  # the close job closes it at the channel now
    return source


def own_registration(db: Session, actor: Actor, registration_id: int) -> Registration:
    """One of the caller's registrations; 404 for anyone else's (it does not exist for them)."""
    row = db.scalar(
        select(Registration).where(
            Registration.id == registration_id,
            Registration.institution_id == actor.institution_id,
            Registration.account_id == actor.user_id,
        )
    )
    if row is None:
        raise NotFound("预约不存在", "Registration not found")
    return row


def cancel_by_patient(db: Session, actor: Actor, registration_id: int, reason: str | None) -> Registration:
    """The patient cancels before the visit starts; a paid fee goes back by the original channel."""
    registration = own_registration(db, actor, registration_id)
    session = _session(db, registration.session_id)
    if registration.status not in LIVE_STATUSES:
        raise Conflict("该预约已取消或已结束", "The registration is already cancelled or finished")
    if session.start_at <= utcnow():
        raise CancelTooLate()
    text = (reason or "").strip()[:200] or None
    source = _leave_live(db, registration, "patient", text)
    refreshed = db.get(Registration, registration_id, populate_existing=True)
    assert refreshed is not None
    if source == CONFIRMED:
        _refund_if_paid(db, refreshed, "患者取消预约")
    audit.record(
        db,
        actor.audit(),
        "registration.cancel",
        resource_type=RESOURCE,
        resource_id=registration_id,
        patient_id=registration.visitor_id,
        detail={"from": source, "reason": text},
    )
    return refreshed


def _live_of_session(db: Session, session_id: int) -> list[Registration]:
    return list(
        db.scalars(
            select(Registration)
            .where(Registration.session_id == session_id, Registration.status.in_(LIVE_STATUSES))
            .order_by(Registration.id)
        )
    )


def cancel_for_stopped_session(db: Session, session_id: int, reason: str, ctx: AuditContext) -> int:
    """停诊: every live registration is cancelled, refunded in full and told (DOMAIN §3)."""
    cancelled = 0
    for registration in _live_of_session(db, session_id):
        try:
            with db.begin_nested():
                source = _leave_live(db, registration, "session_stopped", reason[:200])
        except RegistrationChanged:
            continue  # paid or cancelled meanwhile; a paid one is handled by the next delivery
        refreshed = db.get(Registration, registration.id, populate_existing=True)
        assert refreshed is not None
        session = _session(db, session_id)
        variables = visit_variables(db, refreshed, session)
        _tell(db, refreshed, Event.SESSION_STOPPED, {**variables, "amount_yuan": _yuan(refreshed.amount_fen)})
        if source == CONFIRMED:
            _refund_if_paid(db, refreshed, "医生停诊，全额退款")
        audit.record(
            db,
            ctx,
            "registration.cancel_session_stopped",
            resource_type=RESOURCE,
            resource_id=refreshed.id,
            patient_id=refreshed.visitor_id,
            detail={"from": source, "session_id": session_id},
        )
        cancelled += 1
    return cancelled


def tell_substitution(db: Session, session_id: int, old_doctor_id: int, settings: Settings) -> int:
    """替诊: each patient hears who will see them and that they may cancel free of charge."""
    session = _session(db, session_id)
    old_name = db.scalar(select(UserAccount.display_name).where(UserAccount.id == old_doctor_id)) or ""
    told = 0
    for registration in _live_of_session(db, session_id):
        variables = visit_variables(db, registration, session)
        _tell(
            db,
            registration,
            Event.SESSION_SUBSTITUTED,
            {**variables, "doctor_name": old_name, "new_doctor_name": variables["doctor_name"]},
        )
        if registration.status == CONFIRMED:
            schedule_visit_reminder(db, registration, settings)  # the reminder names the new doctor
        told += 1
    return told


def tell_new_time(db: Session, session_id: int, old_start: dt.datetime, settings: Settings) -> int:
    """Time shift: each patient hears the new time; reminders move with it."""
    session = _session(db, session_id)
    told = 0
    for registration in _live_of_session(db, session_id):
        variables = visit_variables(db, registration, session)
        _tell(db, registration, Event.SESSION_SHIFTED, {**variables, "old_start_time": _local(old_start)})
        if registration.status == CONFIRMED:
            schedule_visit_reminder(db, registration, settings)
        told += 1
    return told


# --- after the session --------------------------------------------------------------------------------


def mark_no_shows(db: Session, now: dt.datetime, settings: Settings, *, limit: int = 500) -> int:
    """Confirmed registrations of ended sessions never attended become no-shows; may block (BJ 5.6.9)."""
    rows = db.execute(
        select(Registration.id, Registration.institution_id, Registration.account_id, Registration.visitor_id)
        .join(ClinicSession, ClinicSession.id == Registration.session_id)
        .where(
            Registration.status == CONFIRMED,
            Registration.attended_at.is_(None),
            ClinicSession.end_at <= now,
        )
        .order_by(Registration.id)
        .limit(limit)
    ).all()
    marked = 0
    for registration_id, institution_id, account_id, visitor_id in rows:
        if not _move(db, registration_id, CONFIRMED, NO_SHOW, no_show_at=now):
            continue
        marked += 1
        audit.record(
            db,
            job_context(institution_id, "no-show-job"),
            "registration.no_show",
            resource_type=RESOURCE,
            resource_id=registration_id,
            patient_id=visitor_id,
        )
        block_if_due(db, institution_id, account_id, now, settings)
    return marked


# --- the consultation's moves (called by the consultation domain) ----------------------------------


def mark_attended(db: Session, registration_id: int, at: dt.datetime) -> bool:
    """The doctor received the patient: the registration is no longer a no-show candidate."""
    return _moved(
        db.execute(
            update(Registration)
            .where(
                Registration.id == registration_id,
                Registration.status == CONFIRMED,
                Registration.attended_at.is_(None),
            )
            .values(attended_at=at, updated_at=at, version=Registration.version + 1)
            .execution_options(synchronize_session=False)
        )
    )


def reject_by_doctor(db: Session, registration_id: int, reason: str) -> Registration:
    """Not a follow-up (BJ 5.2.3): cancelled, refunded in full; 409 if it is no longer waiting."""
    registration = db.get(Registration, registration_id, populate_existing=True)
    if registration is None or registration.status != CONFIRMED or registration.attended_at is not None:
        raise RegistrationChanged()
    _leave_live(db, registration, "doctor_rejected", reason[:200])
    refreshed = db.get(Registration, registration_id, populate_existing=True)
    assert refreshed is not None
    _refund_if_paid(db, refreshed, "医生判定不符合线上复诊条件，全额退款")
    return refreshed
