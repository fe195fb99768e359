"""Pharmacist review (审方, 《医疗机构处方审核规范》): duty, queue, claim, integrity, approve or reject.

- Duty: a pharmacist checks in and out (``check_in`` / ``check_out``); only a checked-in pharmacist
  claims. ``duty_board`` shows who is on duty; ``unstaffed_since`` tells operations when nobody is
  during business hours (``jobs.warn_unstaffed_review``).
- Queue: signed prescriptions, first come first served (``submitted_at``); ``claim`` is one guarded
  update, so of two pharmacists claiming one prescription exactly one wins.
- Before review the rows are checked against the doctor's signature (``content.integrity``): an
  altered prescription is refused and the failure recorded (timeline + audit).
- ``approve`` needs every 四查十对 item confirmed and the pharmacist's signing PIN: the decision is a
  signed, time-stamped document of its own (``rx_review``) naming the doctor's signed version.
  ``reject`` needs a reason; the doctor is told and revises or withdraws.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.platform import audit, outbox
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from ihis.prescribing import content, events
from ihis.prescribing.models import (
    APPROVED,
    PENDING_REVIEW,
    REJECTED,
    UNDER_REVIEW,
    PharmacistDuty,
    Prescription,
)
from ihis.signing import service as signing

# 四查十对: 查处方，对科别、姓名、年龄；查药品，对药名、剂型、规格、数量；查配伍禁忌，对药品性状、
# 用法用量；查用药合理性，对临床诊断 (处方管理办法 第三十七条).
CHECKLIST: Final = (
    "department",
    "name",
    "age",
    "drug_name",
    "dosage_form",
    "strength",
    "quantity",
    "drug_properties",
    "usage_and_dose",
    "diagnosis",
)


# --- duty ------------------------------------------------------------------------------------------


def open_duty(db: Session, actor: Actor) -> PharmacistDuty | None:
    return db.scalar(
        select(PharmacistDuty).where(
            PharmacistDuty.institution_id == actor.institution_id,
            PharmacistDuty.pharmacist_id == actor.user_id,
            PharmacistDuty.ended_at.is_(None),
        )
    )


def check_in(db: Session, actor: Actor) -> PharmacistDuty:
    """Start a duty shift (idempotent: an open shift is returned as it is)."""
    current = open_duty(db, actor)
    if current is not None:
        return current
    duty = PharmacistDuty(
        institution_id=actor.institution_id, pharmacist_id=actor.user_id, started_at=utcnow()
    )
    try:
        with db.begin_nested():
            db.add(duty)
            db.flush()
    except IntegrityError:  # checked in concurrently: the other request's shift stands
        again = open_duty(db, actor)
        assert again is not None
        return again
    audit.record(
        db, actor.audit(), "pharmacy.duty.check_in", resource_type="pharmacist_duty", resource_id=duty.id
    )
    return duty


def check_out(db: Session, actor: Actor) -> PharmacistDuty:
    """End the open shift; prescriptions the pharmacist had claimed go back to the queue."""
    current = open_duty(db, actor)
    if current is None:
        raise Conflict("您当前未签到", "You are not checked in")
    now = utcnow()
    db.execute(
        update(PharmacistDuty)
        .where(PharmacistDuty.id == current.id, PharmacistDuty.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = db.scalars(
        select(Prescription).where(
            Prescription.institution_id == actor.institution_id,
            Prescription.status == UNDER_REVIEW,
            Prescription.reviewer_id == actor.user_id,
        )
    ).all()
    for rx in claimed:
        _release(db, actor, rx, "checked_out")
    db.refresh(current)
    audit.record(
        db, actor.audit(), "pharmacy.duty.check_out", resource_type="pharmacist_duty", resource_id=current.id
    )
    return current


def duty_board(db: Session, institution_id: int) -> list[tuple[PharmacistDuty, str]]:
    """Pharmacists on duty now, with their names, earliest first."""
    return [
        (d, name)
        for d, name in db.execute(
            select(PharmacistDuty, UserAccount.display_name)
            .join(UserAccount, UserAccount.id == PharmacistDuty.pharmacist_id)
            .where(PharmacistDuty.institution_id == institution_id, PharmacistDuty.ended_at.is_(None))
            .order_by(PharmacistDuty.started_at)
        ).all()
    ]


def business_hours(spec: str) -> tuple[dt.time, dt.time]:
    start, end = spec.split("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def in_business_hours(now: dt.datetime, spec: str) -> bool:
    start, end = business_hours(spec)
    local = now.astimezone(HOSPITAL_TZ)
    return start <= local.time() < end


# --- queue and claim -----------------------------------------------------------------------------------


def queue(db: Session, actor: Actor, status: str | None) -> list[Prescription]:
    """Waiting prescriptions first come first served, and the ones the pharmacist has claimed."""
    statuses = (status,) if status else (PENDING_REVIEW, UNDER_REVIEW)
    rows = db.scalars(
        select(Prescription)
        .where(Prescription.institution_id == actor.institution_id, Prescription.status.in_(statuses))
        .order_by(Prescription.submitted_at, Prescription.id)
        .limit(200)
    ).all()
    return list(rows)


def reviewable(db: Session, actor: Actor, rx_id: int) -> Prescription:
    """A submitted prescription of the pharmacist's institution (404 otherwise; drafts are not theirs)."""
    rx = db.scalar(
        select(Prescription).where(
            Prescription.id == rx_id,
            Prescription.institution_id == actor.institution_id,
            Prescription.status.in_((PENDING_REVIEW, UNDER_REVIEW, APPROVED, REJECTED)),
        )
    )
    if rx is None:
        raise NotFound("处方不存在", "Prescription not found")
    return rx


def claim(db: Session, actor: Actor, rx_id: int) -> Prescription:
    """Take a waiting prescription for review: one guarded update, so exactly one pharmacist wins."""
    rx = reviewable(db, actor, rx_id)
    if open_duty(db, actor) is None:
        raise Conflict("请先签到再审方", "Check in before reviewing", extra={"reason": "not_on_duty"})
    if rx.doctor_id == actor.user_id:
        raise Conflict("不能审核自己开具的处方", "You cannot review your own prescription")
    now = utcnow()
    moved = db.execute(
        update(Prescription)
        .where(Prescription.id == rx.id, Prescription.status == PENDING_REVIEW)
        .values(status=UNDER_REVIEW, reviewer_id=actor.user_id, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.refresh(rx)
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("该处方已被其他药师领取或已撤回", "Another pharmacist took it, or it was recalled")
    events.record(db, rx, "claimed", actor)
    return rx


def _release(db: Session, actor: Actor, rx: Prescription, why: str) -> None:
    db.execute(
        update(Prescription)
        .where(
            Prescription.id == rx.id,
            Prescription.status == UNDER_REVIEW,
            Prescription.reviewer_id == actor.user_id,
        )
        .values(status=PENDING_REVIEW, reviewer_id=None, claimed_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.refresh(rx)
    events.record(db, rx, "released", actor, {"why": why})


def release(db: Session, actor: Actor, rx_id: int) -> Prescription:
    """Put a claimed prescription back in the queue."""
    rx = _claimed(db, actor, rx_id)
    _release(db, actor, rx, "released")
    return rx


def _claimed(db: Session, actor: Actor, rx_id: int) -> Prescription:
    rx = reviewable(db, actor, rx_id)
    if rx.status != UNDER_REVIEW or rx.reviewer_id != actor.user_id:
        raise Conflict("请先领取该处方", "Claim the prescription first")
    return rx


def check_integrity(db: Session, actor: Actor, rx: Prescription) -> content.Integrity:
    """The integrity verdict; a failure is recorded on the timeline and in the audit ledger."""
    verdict = content.integrity(db, rx)
    if not verdict.ok:
        events.record(db, rx, "integrity_failed", actor, {"failures": list(verdict.failures)})
        audit.record(
            db,
            actor.audit(),
            "prescription.integrity_failed",
            resource_type="prescription",
            resource_id=rx.id,
            patient_id=rx.visitor_id,
            detail={"failures": list(verdict.failures)},
        )
    return verdict


def _checklist(answers: dict[str, bool]) -> None:
    problems = [
        FieldError(f"body.checklist.{item}", "unchecked", "请逐项核对后勾选", "Confirm this check")
        for item in CHECKLIST
        if answers.get(item) is not True
    ]
    unknown = sorted(set(answers) - set(CHECKLIST))
    problems += [FieldError(f"body.checklist.{k}", "unknown", "未知核对项", "Unknown item") for k in unknown]
    if problems:
        raise InvalidInput("请完成四查十对", "Complete the checklist", errors=problems)


class Tampered(Conflict):
    """409: the stored prescription is not what the doctor signed; review is refused."""


def approve(database: Database, actor: Actor, rx_id: int, pin: str, checklist: dict[str, bool]) -> int:
    """Approve with the pharmacist's signature and time stamp; the patient is told; billing may start."""
    _checklist(checklist)
    with database.unit_of_work() as db:
        rx = _claimed(db, actor, rx_id)
        verdict = check_integrity(db, actor, rx)
        if not verdict.ok:
            failures = list(verdict.failures)
        else:
            failures = []
            doctor_doc = rx.signed_document_id
            decision: dict[str, Any] = {
                "type": "prescription_review",
                "prescription_id": rx.id,
                "number": rx.number,
                "version": rx.signed_version,
                "doctor_document_id": doctor_doc,
                "decision": "approved",
                "checklist": dict.fromkeys(CHECKLIST, True),
                "pharmacist": {"id": actor.user_id, "name": actor.display_name, "staff_no": actor.staff_no},
            }
    if failures:  # committed above: the failed check stays on the record
        raise Tampered(
            "处方内容与医师签名不一致，已拒绝审核",
            "The prescription differs from what the doctor signed: review refused",
            extra={"failures": failures},
        )
    doc = signing.sign_document(database, actor, pin, content.REVIEW_KIND, str(rx_id), decision)
    with database.unit_of_work() as db:
        now = utcnow()
        moved = db.execute(
            update(Prescription)
            .where(
                Prescription.id == rx_id,
                Prescription.status == UNDER_REVIEW,
                Prescription.reviewer_id == actor.user_id,
            )
            .values(
                status=APPROVED,
                review_document_id=doc.id,
                reviewed_at=now,
                checklist=content_json(checklist),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            raise Conflict("处方状态已变化，请刷新", "The prescription changed meanwhile")
        approved = db.get(Prescription, rx_id, populate_existing=True)
        assert approved is not None
        rx = approved
        events.record(db, rx, "approved", actor, {"review_document_id": doc.id})
        outbox.emit(
            db,
            "prescribing.prescription_approved",
            {"prescription_id": rx.id, "institution_id": rx.institution_id},
        )
        audit.record(
            db,
            actor.audit(),
            "prescription.approve",
            resource_type="prescription",
            resource_id=rx.id,
            patient_id=rx.visitor_id,
            detail={"number": rx.number, "version": rx.signed_version},
        )
        _tell_patient(db, rx)
    return rx_id


def content_json(answers: dict[str, bool]) -> str:
    return json.dumps({k: answers[k] for k in CHECKLIST}, sort_keys=True)


def _tell_patient(db: Session, rx: Prescription) -> None:
    visitor = db.get(Visitor, rx.visitor_id)
    doctor = db.get(UserAccount, rx.doctor_id)
    notify(
        db,
        institution_id=rx.institution_id,
        recipient_account_id=rx.account_id,
        event=Event.PRESCRIPTION_APPROVED,
        variables={
            "patient_name": visitor.name if visitor else "",
            "doctor_name": doctor.display_name if doctor else "",
            "number": rx.number,
        },
        link=Link("prescription", rx.id, f"/prescriptions/{rx.id}"),
    )


def reject(db: Session, actor: Actor, rx_id: int, reason: str, checklist: dict[str, bool]) -> Prescription:
    """Reject with a reason; the doctor is told (revise as a new signed version, or withdraw)."""
    rx = _claimed(db, actor, rx_id)
    why = reason.strip()
    if not 2 <= len(why) <= 500:
        raise InvalidInput.field(
            "body.reason", "reason_required", "请填写 2-500 字的驳回理由", "Give a reason"
        )
    now = utcnow()
    moved = db.execute(
        update(Prescription)
        .where(
            Prescription.id == rx.id,
            Prescription.status == UNDER_REVIEW,
            Prescription.reviewer_id == actor.user_id,
        )
        .values(
            status=REJECTED,
            reject_reason=why,
            reviewed_at=now,
            updated_at=now,
            checklist=content_json({k: bool(checklist.get(k)) for k in CHECKLIST}),
        )
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("处方状态已变化，请刷新", "The prescription changed meanwhile")
    db.refresh(rx)
    events.record(db, rx, "rejected", actor, {"reason": why})
    audit.record(
        db,
        actor.audit(),
        "prescription.reject",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
        detail={"number": rx.number},
    )
    visitor = db.get(Visitor, rx.visitor_id)
    notify(
        db,
        institution_id=rx.institution_id,
        recipient_account_id=rx.doctor_id,
        event=Event.PRESCRIPTION_REJECTED,
        variables={
            "number": rx.number,
            "pharmacist_name": actor.display_name,
            "reason": why,
            "patient_name": visitor.name if visitor else "",
        },
        link=Link("consultation", rx.consultation_id, f"/workstation/consultations/{rx.consultation_id}"),
    )
    return rx
