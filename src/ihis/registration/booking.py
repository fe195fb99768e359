"""Booking a follow-up visit (挂号): every precondition in one place, then hold, register, bill.

The order of the checks is the order a patient can fix things in: consent, a real-name verified
visitor, no booking block, the session open, the age rule, the follow-up evidence, not already
booked. Then one conditional UPDATE takes the slot (a lost race is a clean 409), the registration
and its bill are written in the same transaction: either all of it exists or none of it does.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.billing import service as billing
from ihis.identity import visitor_service
from ihis.identity.access import Actor
from ihis.identity.consent import require_consent
from ihis.identity.idnumbers import AgeFacts
from ihis.identity.models import Visitor
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from ihis.registration import blacklist
from ihis.registration.evidence import evidence_for_booking, link_to_registration
from ihis.registration.models import (
    PENDING_PAYMENT,
    DepartmentEligibilityPolicy,
    EligibilityEvidence,
    Registration,
)
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.slots import bookable, hold_slot
from ihis.settings import Settings

RESOURCE = "registration"
REFERENCE_TYPE = "registration"
MODE_NAMES = {"text": "图文", "phone": "电话", "video": "视频"}


class SessionFull(Conflict):
    code = "session_full"

    def __init__(self) -> None:
        super().__init__("该时段号源已满", "No slot is left in this session")


class SessionNotBookable(Conflict):
    code = "session_not_bookable"

    def __init__(self) -> None:
        super().__init__(
            "该时段未开放预约、已停诊或已开始", "The session is not open for booking, stopped or started"
        )


class AlreadyBooked(Conflict):
    code = "already_booked"

    def __init__(self) -> None:
        super().__init__("该就诊人已预约此时段", "This visitor already holds a booking in this session")


class BookingBlocked(Forbidden):
    code = "booking_blocked"

    def __init__(self, until: dt.datetime) -> None:
        local = until.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"因多次爽约，预约功能暂停至{local}，可在“我的”中申诉",
            f"Booking is suspended until {local} after repeated no-shows; you may appeal",
            extra={"until": until.isoformat()},
        )


@dataclass(frozen=True)
class BookingRequest:
    session_id: int
    visitor_id: int
    evidence_id: int
    guardian_accompanied: bool = False


def _session(db: Session, institution_id: int, session_id: int) -> ClinicSession:
    session = db.scalar(
        select(ClinicSession).where(
            ClinicSession.id == session_id, ClinicSession.institution_id == institution_id
        )
    )
    if session is None:
        raise NotFound("出诊时段不存在", "Session not found")
    return session


def _verified_visitor(db: Session, actor: Actor, visitor_id: int) -> Visitor:
    try:
        visitor = visitor_service.get_visitor(db, actor, visitor_id, audited=False)
    except NotFound:
        raise InvalidInput.field(
            "body.visitor_id", "visitor_not_found", "就诊人不存在", "Visitor not found"
        ) from None
    if visitor.removed_at is not None or visitor.verified_at is None:
        raise InvalidInput.field(
            "body.visitor_id",
            "visitor_not_verified",
            "就诊人未通过实名认证",
            "The visitor has not passed real-name verification",
        )
    return visitor


def check_age(db: Session, session: ClinicSession, age: AgeFacts, guardian_accompanied: bool) -> None:
    """The department's age range; a child under 6 only with a guardian (互联网诊疗管理办法 第十九条)."""
    policy = db.scalar(
        select(DepartmentEligibilityPolicy).where(
            DepartmentEligibilityPolicy.department_id == session.department_id
        )
    )
    if policy is not None and policy.min_age_years is not None and age.age < policy.min_age_years:
        raise InvalidInput.field(
            "body.visitor_id",
            "age_below_department_minimum",
            f"该科室仅接诊{policy.min_age_years}岁及以上患者",
            f"This department sees patients aged {policy.min_age_years} and over",
        )
    if policy is not None and policy.max_age_years is not None and age.age > policy.max_age_years:
        raise InvalidInput.field(
            "body.visitor_id",
            "age_above_department_maximum",
            f"该科室仅接诊{policy.max_age_years}岁及以下患者",
            f"This department sees patients aged up to {policy.max_age_years}",
        )
    if age.under_six and not guardian_accompanied:
        raise InvalidInput.field(
            "body.guardian_accompanied",
            "guardian_required",
            "6岁以下儿童须由监护人陪同就诊，请确认",
            "A child under 6 must be accompanied by a guardian; please confirm",
        )


def check_evidence(
    db: Session, actor: Actor, request: BookingRequest, session: ClinicSession, settings: Settings
) -> EligibilityEvidence:
    """The follow-up evidence admits this visitor to this session (DOMAIN §1)."""
    try:
        row = evidence_for_booking(db, actor, request.evidence_id, request.visitor_id, session.department_id)
    except NotFound:
        raise InvalidInput.field(
            "body.evidence_id",
            "evidence_not_found",
            "复诊依据不存在或已使用，请重新核验",
            "Eligibility evidence not found or already used; check again",
        ) from None
    if row.source == "his":
        if row.checked_at < utcnow() - dt.timedelta(hours=settings.eligibility_evidence_valid_hours):
            raise InvalidInput.field(
                "body.evidence_id", "evidence_expired", "复诊核验已过期，请重新核验", "Check again"
            )
        checked = set(json.loads(row.tags or "[]"))
        if not set(session.tags) <= checked:
            raise InvalidInput.field(
                "body.evidence_id",
                "evidence_tags_mismatch",
                "该号源限定病种，请按此号源重新核验",
                "This session is for specific diseases; check eligibility for it",
            )
    elif session.tags:
        # An upload waits for a doctor; it cannot prove a disease-tagged session's diagnosis.
        raise InvalidInput.field(
            "body.evidence_id",
            "upload_not_for_tagged_session",
            "限定病种的号源需通过医院记录核验",
            "Disease-specific sessions need the hospital's records",
        )
    return row


def _number(registration_id: int, now: dt.datetime) -> str:
    return f"GH{now.astimezone(HOSPITAL_TZ):%Y%m%d}{registration_id:08d}"


def book(db: Session, actor: Actor, request: BookingRequest, settings: Settings) -> Registration:
    """Check every precondition, hold one slot, write the registration and its unpaid bill."""
    now = utcnow()
    require_consent(db, actor)
    visitor = _verified_visitor(db, actor, request.visitor_id)
    block = blacklist.active_block(db, actor.institution_id, actor.user_id, now)
    if block is not None:
        raise BookingBlocked(block.ends_at)
    session = _session(db, actor.institution_id, request.session_id)
    if not bookable(session, now, settings):
        raise SessionNotBookable()
    check_age(db, session, visitor_service.today_age(visitor), request.guardian_accompanied)
    evidence = check_evidence(db, actor, request, session, settings)
    if _live_booking_exists(db, session.id, visitor.id):
        raise AlreadyBooked()
    if not hold_slot(db, session.id, now):
        raise SessionFull()
    deadline = min(now + dt.timedelta(minutes=settings.bill_hold_minutes), session.start_at)
    registration = Registration(
        institution_id=actor.institution_id,
        number="",
        account_id=actor.user_id,
        visitor_id=visitor.id,
        session_id=session.id,
        department_id=session.department_id,
        booked_doctor_id=session.doctor_id,
        evidence_id=evidence.id,
        amount_fen=session.price_fen,
        status=PENDING_PAYMENT,
        pay_deadline=deadline,
        guardian_accompanied=request.guardian_accompanied,
        version=1,
    )
    try:
        with db.begin_nested():
            db.add(registration)
            db.flush()
    except IntegrityError:
        # The partial unique index: a concurrent request of the same visitor won.
        raise AlreadyBooked() from None
    registration.number = _number(registration.id, now)
    link_to_registration(db, evidence.id, registration.id)
    bill = billing.create_bill(
        db,
        institution_id=actor.institution_id,
        payer_account_id=actor.user_id,
        visitor_id=visitor.id,
        kind="registration",
        subject=f"{MODE_NAMES.get(session.mode, session.mode)}复诊挂号费",
        reference_type=REFERENCE_TYPE,
        reference_id=registration.id,
        amount_fen=session.price_fen,
        expires_at=deadline,
    )
    registration.bill_id = bill.id
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "registration.create",
        resource_type=RESOURCE,
        resource_id=registration.id,
        patient_id=visitor.id,
        detail={"session_id": session.id, "evidence_id": evidence.id, "bill_id": bill.id},
    )
    return registration


def _live_booking_exists(db: Session, session_id: int, visitor_id: int) -> bool:
    return (
        db.scalar(
            select(Registration.id).where(
                Registration.session_id == session_id,
                Registration.visitor_id == visitor_id,
                Registration.status.in_(("pending_payment", "confirmed")),
            )
        )
        is not None
    )
