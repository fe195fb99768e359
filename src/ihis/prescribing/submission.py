"""The doctor's acts on a written prescription: submit (sign with the PIN), recall, revise, withdraw.

``submit`` is the doctor's own act (DOMAIN §5: never by a template or AI): it re-checks the draft,
requires a reason for every warning and no block, signs the canonical content with the doctor's key
and a trusted time stamp (``signing.sign_document``, called with no unit of work open), then moves
the draft to the review queue with a guarded update — if the draft changed while the CA and TSA
answered, nothing is submitted (409) and the signed document stays an unused version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.clock import local_today, utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, FieldError, InvalidInput
from ihis.prescribing import content, drafts, events
from ihis.prescribing.models import (
    DRAFT,
    PENDING_REVIEW,
    REJECTED,
    WITHDRAWN,
    Prescription,
    PrescriptionFinding,
)
from ihis.signing import canonical
from ihis.signing import service as signing


@dataclass(frozen=True)
class Override:
    key: str
    reason: str


class FindingsBlock(InvalidInput):
    """422: blocking findings, or warnings without a reason; each named by its field."""


def _apply_overrides(db: Session, actor: Actor, rx: Prescription, overrides: tuple[Override, ...]) -> None:
    findings = content.findings_of(db, rx.id)
    by_key = {f.key: f for f in findings}
    problems: list[FieldError] = []
    for i, o in enumerate(overrides):
        f = by_key.get(o.key)
        reason = o.reason.strip()
        if f is None or f.severity != "warn":
            problems.append(
                FieldError(
                    f"body.overrides.{i}.key", "not_overridable", "该提示不存在或不可忽略", "No such warning"
                )
            )
        elif not 2 <= len(reason) <= 500:
            problems.append(
                FieldError(
                    f"body.overrides.{i}.reason", "reason_required", "请填写 2-500 字的理由", "Give a reason"
                )
            )
        else:
            f.override_reason, f.overridden_by, f.overridden_at = reason, actor.user_id, utcnow()
    for f in findings:
        if f.severity == "block":
            problems.append(FieldError(f.field, f.code, f.message_zh, f.message_en))
        elif f.severity == "warn" and not f.override_reason:
            problems.append(
                FieldError(
                    f"findings.{f.key}",
                    "override_required",
                    f"{f.message_zh}（如需继续请填写理由）",
                    f"{f.message_en} (give a reason to go on)",
                )
            )
    if problems:
        raise FindingsBlock(
            "处方未通过合理用药检查", "The prescription did not pass the checks", errors=problems
        )
    db.flush()


def submit(database: Database, actor: Actor, rx_id: int, pin: str, overrides: tuple[Override, ...]) -> int:
    """Check, sign and queue the draft for review; returns the prescription id."""
    today = local_today()
    with database.unit_of_work() as db:
        rx = drafts.doctor_prescription(db, actor, rx_id)
        if rx.status != DRAFT:
            raise Conflict("处方已提交或已撤销", "The prescription is not a draft")
        drafts.findings_after_change(db, rx)  # stock and the knowledge base may have moved
        _apply_overrides(db, actor, rx, overrides)  # raises: nothing is kept (the unit rolls back)
        valid_until = today + dt.timedelta(days=rx.validity_days - 1)
        version = rx.signed_version + 1
        payload = content.payload(db, rx, issued_on=today, valid_until=valid_until, version=version)
        expected = rx.version
    # The overrides are committed with the unit above; the CA and TSA are asked with none open.
    doc = signing.sign_document(database, actor, pin, content.KIND, str(rx_id), payload)
    with database.unit_of_work() as db:
        now = utcnow()
        moved = db.execute(
            update(Prescription)
            .where(Prescription.id == rx_id, Prescription.status == DRAFT, Prescription.version == expected)
            .values(
                status=PENDING_REVIEW,
                signed_version=version,
                signed_document_id=doc.id,
                submitted_at=now,
                valid_until=valid_until,
                version=Prescription.version + 1,
                reviewer_id=None,
                claimed_at=None,
                reject_reason=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            raise Conflict(
                "签名期间处方被修改，请重新提交", "The prescription changed while signing: submit again"
            )
        submitted = db.get(Prescription, rx_id, populate_existing=True)
        assert submitted is not None
        rx = submitted
        # The signed bytes must be what the rows say now (a change between the two units is refused).
        rebuilt = canonical.canonical_bytes(
            content.payload(db, rx, issued_on=today, valid_until=valid_until, version=version)
        )
        if rebuilt.decode("utf-8") != doc.content:
            raise Conflict(
                "签名期间处方被修改，请重新提交", "The prescription changed while signing: submit again"
            )
        events.record(db, rx, "submitted", actor, {"version": version, "signed_document_id": doc.id})
        audit.record(
            db,
            actor.audit(),
            "prescription.submit",
            resource_type="prescription",
            resource_id=rx.id,
            patient_id=rx.visitor_id,
            detail={"number": rx.number, "version": version, "overrides": len(overrides)},
        )
    return rx_id


def _move(db: Session, rx: Prescription, source: tuple[str, ...], target: str, **values: object) -> bool:
    moved = db.execute(
        update(Prescription)
        .where(Prescription.id == rx.id, Prescription.status.in_(source))
        .values(status=target, version=Prescription.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    db.refresh(rx)
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _reason(value: str, field: str) -> str:
    text = value.strip()
    if not 2 <= len(text) <= 500:
        raise InvalidInput.field(field, "text_length", "请填写 2 至 500 字", "Give 2-500 characters")
    return text


def recall(db: Session, actor: Actor, rx_id: int, reason: str) -> Prescription:
    """Back to draft before a pharmacist has claimed it (DOMAIN §5: the doctor may recall before review)."""
    rx = drafts.doctor_prescription(db, actor, rx_id)
    why = _reason(reason, "body.reason")
    if not _move(db, rx, (PENDING_REVIEW,), DRAFT):
        raise Conflict(
            "药师已开始审核或处方不在待审状态，不能撤回", "Review has started: it cannot be recalled"
        )
    events.record(db, rx, "recalled", actor, {"reason": why})
    audit.record(
        db,
        actor.audit(),
        "prescription.recall",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
    )
    return rx


def revise(db: Session, actor: Actor, rx_id: int) -> Prescription:
    """A rejected prescription becomes a draft again; submitting it signs the next version."""
    rx = drafts.doctor_prescription(db, actor, rx_id)
    if not _move(db, rx, (REJECTED,), DRAFT):
        raise Conflict("只有被驳回的处方可以修改后重新提交", "Only a rejected prescription is revised")
    drafts.findings_after_change(db, rx)
    events.record(db, rx, "revising", actor)
    return rx


def withdraw(db: Session, actor: Actor, rx_id: int, reason: str) -> Prescription:
    """The doctor gives the prescription up (a draft, or a rejected one); it is never dispensed."""
    rx = drafts.doctor_prescription(db, actor, rx_id)
    why = _reason(reason, "body.reason")
    if not _move(db, rx, (DRAFT, REJECTED), WITHDRAWN):
        raise Conflict(
            "只有草稿或被驳回的处方可以作废", "Only a draft or a rejected prescription is withdrawn"
        )
    events.record(db, rx, "withdrawn", actor, {"reason": why})
    audit.record(
        db,
        actor.audit(),
        "prescription.withdraw",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
    )
    return rx


__all__ = ["FindingsBlock", "Override", "PrescriptionFinding", "recall", "revise", "submit", "withdraw"]
