"""The qualification review: submit -> approve, or reject with a reason; the applicant is told.

Every step is a guarded transition of ``policy.REVIEW_TRANSITIONS`` (BJ 5.5.2.1 注册审核).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity import sessions, staff_service
from ihis.identity.access import Actor
from ihis.identity.models import AuthSession, UserAccount
from ihis.integrations.sms.service import queue_sms
from ihis.integrations.sms.templates import MAX_LONG_VARIABLE_LENGTH, MAX_VARIABLE_LENGTH, SmsTemplate
from ihis.organization.document_service import document_count
from ihis.organization.models import ReviewDecision, ReviewStatus, StaffProfile
from ihis.organization.policy import (
    APPLICATION_CHANNEL,
    PENDING_REVIEW,
    REVIEW_TRANSITIONS,
    approval_errors,
    completeness_errors,
    raise_if,
)
from ihis.organization.profile_service import get_profile, own_profile
from ihis.platform import audit
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import Conflict, Forbidden
from ihis.settings import Settings


def _transition(db: Session, profile: StaffProfile, event: str, **values: object) -> None:
    """Move ``profile`` along ``event`` if it is still in a source state; else 409."""
    rule = REVIEW_TRANSITIONS[event]
    result = db.execute(
        update(StaffProfile)
        .where(
            StaffProfile.id == profile.id,
            StaffProfile.institution_id == profile.institution_id,
            StaffProfile.review_status.in_([s.value for s in rule.sources]),
        )
        .values(review_status=rule.target.value, updated_at=utcnow(), **values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise _wrong_state(event)


def _wrong_state(event: str) -> Conflict:
    messages = {
        "submit": ("档案已提交审核或已通过", "The profile is already submitted or approved"),
        "approve": ("该档案不在待审核状态", "The profile is not awaiting review"),
        "reject": ("该档案不在待审核状态", "The profile is not awaiting review"),
    }
    zh, en = messages[event]
    return Conflict(zh, en, extra={"reason": "review_state"})


def submit(db: Session, actor: Actor, settings: Settings) -> StaffProfile:
    """The owner sends a complete profile for review (draft or rejected -> submitted)."""
    profile = own_profile(db, actor)
    if ReviewStatus(profile.review_status) not in REVIEW_TRANSITIONS["submit"].sources:
        raise _wrong_state("submit")
    # Refuse early what the reviewer would have to refuse anyway (approval re-checks).
    raise_if(completeness_errors(profile, document_count(db, profile.id)))
    raise_if(approval_errors(profile, settings, local_today()))
    _transition(db, profile, "submit", submitted_at=utcnow(), review_reason=None)
    audit.record(
        db, actor.audit(), "staff_profile.submit", resource_type="staff_profile", resource_id=profile.id
    )
    return get_profile(db, actor, profile.id)


def _reviewable(db: Session, actor: Actor, profile_id: int, event: str) -> StaffProfile:
    profile = get_profile(db, actor, profile_id)
    if profile.user_id == actor.user_id:
        # Nobody reviews their own qualifications.
        raise Forbidden("不能审核本人的执业档案", "You cannot review your own profile")
    if ReviewStatus(profile.review_status) not in REVIEW_TRANSITIONS[event].sources:
        raise _wrong_state(event)
    return profile


def _record_decision(
    db: Session, actor: Actor, profile: StaffProfile, decision: ReviewStatus, reason: str | None
) -> None:
    db.add(
        ReviewDecision(
            institution_id=profile.institution_id,
            profile_id=profile.id,
            reviewer_id=actor.user_id,
            decision=decision.value,
            reason=reason,
            decided_at=utcnow(),
        )
    )
    db.flush()


def _notify(db: Session, account: UserAccount, template: SmsTemplate, params: dict[str, str]) -> bool:
    """Text the applicant the decision (BJ 5.5.2.1: the applicant is notified); False if no phone."""
    phone = db.scalar(select(UserAccount.phone).where(UserAccount.id == account.id))
    if not phone:
        return False
    queue_sms(db, account.institution_id, phone, template, params)
    return True


def _fit(text: str, limit: int) -> str:
    """Template variables have provider length limits; shorten with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _close_application_sessions(db: Session, user_id: int) -> None:
    """Application sessions end with the application: the approved account signs in normally."""
    for session_id in db.scalars(
        select(AuthSession.id).where(
            AuthSession.user_id == user_id,
            AuthSession.channel == APPLICATION_CHANNEL,
            AuthSession.revoked_at.is_(None),
        )
    ):
        sessions.revoke(db, session_id, "application_closed")


def approve(db: Session, actor: Actor, profile_id: int, settings: Settings) -> StaffProfile:
    """Approve a submitted profile; a self-registered account waiting for it becomes active."""
    profile = _reviewable(db, actor, profile_id, "approve")
    raise_if(approval_errors(profile, settings, local_today()))
    _transition(db, profile, "approve", reviewed_at=utcnow(), reviewed_by=actor.user_id, review_reason=None)
    _record_decision(db, actor, profile, ReviewStatus.APPROVED, None)
    account = db.get(UserAccount, profile.user_id)
    assert account is not None  # profile.user_id is a foreign key
    activated = account.status == PENDING_REVIEW
    if activated:
        staff_service.activate_account(db, actor, account.id)
        _close_application_sessions(db, account.id)
    notified = _notify(
        db,
        account,
        SmsTemplate.QUALIFICATION_APPROVED,
        {"name": _fit(account.display_name, MAX_VARIABLE_LENGTH)},
    )
    audit.record(
        db,
        actor.audit(),
        "staff_profile.approve",
        resource_type="staff_profile",
        resource_id=profile.id,
        detail={"account_activated": activated, "notified": notified},
    )
    return get_profile(db, actor, profile.id)


def reject(
    db: Session, actor: Actor, profile_id: int, reason: str, *, close_application: bool
) -> StaffProfile:
    """Reject a submitted profile with a reason; the applicant may fix it and submit again."""
    profile = _reviewable(db, actor, profile_id, "reject")
    _transition(db, profile, "reject", reviewed_at=utcnow(), reviewed_by=actor.user_id, review_reason=reason)
    _record_decision(db, actor, profile, ReviewStatus.REJECTED, reason)
    account = db.get(UserAccount, profile.user_id)
    assert account is not None
    closed = close_application and account.status == PENDING_REVIEW
    if closed:
        staff_service.reject_account(db, actor, account.id, reason)
        _close_application_sessions(db, account.id)
    name = _fit(account.display_name, MAX_VARIABLE_LENGTH)
    if closed:
        # The standard rejection text invites a resubmission, which a closed application cannot make.
        content = f"{name}您好，您的医护注册申请未通过审核，原因：{reason}。"
        notified = _notify(
            db, account, SmsTemplate.NOTICE, {"content": _fit(content, MAX_LONG_VARIABLE_LENGTH)}
        )
    else:
        notified = _notify(
            db,
            account,
            SmsTemplate.QUALIFICATION_REJECTED,
            {"name": name, "reason": _fit(reason, MAX_LONG_VARIABLE_LENGTH)},
        )
    audit.record(
        db,
        actor.audit(),
        "staff_profile.reject",
        resource_type="staff_profile",
        resource_id=profile.id,
        detail={"account_closed": closed, "notified": notified},
    )
    return get_profile(db, actor, profile.id)
