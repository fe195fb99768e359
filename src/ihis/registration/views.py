"""Reading registrations: the patient's own, the doctor's waiting list, the operations list and its
export — each one page in a fixed number of queries, shaped for the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, undefer

from ihis.billing.models import Bill
from ihis.billing.schemas import RefundOut
from ihis.billing.service import refunds_of
from ihis.identity import idnumbers
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.organization.models import Campus, Department
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import NotFound
from ihis.platform.masking import mask_name, mask_phone
from ihis.registration.booking import MODE_NAMES, RESOURCE
from ihis.registration.models import (
    LIVE_STATUSES,
    PENDING_PAYMENT,
    EligibilityEvidence,
    EvidenceUpload,
    Registration,
)
from ihis.registration.schemas import (
    EvidenceBrief,
    RegistrationAdminOut,
    RegistrationDetailOut,
    RegistrationOut,
    SessionBrief,
    VisitorBrief,
    WaitingListEntry,
)
from ihis.scheduling.models import ClinicSession

STATUS_NAMES = {
    "pending_payment": "待支付",
    "confirmed": "已预约",
    "cancelled": "已取消",
    "closed": "已关闭",
    "no_show": "爽约",
}


def _names(db: Session, model: type, ids: set[int], column: str = "name") -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(model.id, getattr(model, column)).where(model.id.in_(ids)))  # type: ignore[attr-defined]
    return {row[0]: row[1] for row in rows}


def outs(db: Session, rows: Sequence[Registration], *, admin: bool = False) -> list[RegistrationAdminOut]:
    """API shapes of registrations (with their session, visitor, bill and evidence)."""
    if not rows:
        return []
    sessions = {
        s.id: s
        for s in db.scalars(select(ClinicSession).where(ClinicSession.id.in_({r.session_id for r in rows})))
    }
    doctor_ids = {s.doctor_id for s in sessions.values()} | {r.booked_doctor_id for r in rows}
    doctors = _names(db, UserAccount, doctor_ids, "display_name")
    departments = _names(db, Department, {s.department_id for s in sessions.values()})
    campuses = _names(db, Campus, {s.campus_id for s in sessions.values() if s.campus_id is not None})
    visitors = {
        v.id: v for v in db.scalars(select(Visitor).where(Visitor.id.in_({r.visitor_id for r in rows})))
    }
    bills = _names(db, Bill, {r.bill_id for r in rows if r.bill_id is not None}, "status")
    evidence = {
        e.id: e
        for e in db.scalars(
            select(EligibilityEvidence).where(EligibilityEvidence.id.in_({r.evidence_id for r in rows}))
        )
    }
    upload_ids = {e.upload_id for e in evidence.values() if e.upload_id is not None}
    uploads = _names(db, EvidenceUpload, upload_ids, "status")
    phones: dict[int, str | None] = {}
    if admin:
        phones = {
            a.id: a.phone
            for a in db.scalars(
                select(UserAccount)
                .options(undefer(UserAccount.phone))
                .where(UserAccount.id.in_({r.account_id for r in rows}))
            )
        }
    now = utcnow()
    today = now.astimezone(HOSPITAL_TZ).date()
    result = []
    for r in rows:
        s = sessions[r.session_id]
        v = visitors[r.visitor_id]
        e = evidence[r.evidence_id]
        live = r.status in LIVE_STATUSES
        result.append(
            RegistrationAdminOut(
                id=r.id,
                number=r.number,
                status=r.status,
                created_at=r.created_at,
                session=SessionBrief(
                    id=s.id,
                    doctor_id=s.doctor_id,
                    doctor_name=doctors.get(s.doctor_id, ""),
                    department_id=s.department_id,
                    department_name=departments.get(s.department_id, ""),
                    campus_name=campuses.get(s.campus_id) if s.campus_id is not None else None,
                    start_at=s.start_at,
                    end_at=s.end_at,
                    mode=s.mode,
                    status=s.status,
                    original_doctor_name=doctors.get(r.booked_doctor_id)
                    if r.booked_doctor_id != s.doctor_id
                    else None,
                ),
                visitor=VisitorBrief(
                    id=v.id,
                    name_masked=mask_name(v.name) or "",
                    under_six=idnumbers.age_facts(v.birth_date, today=today).under_six,
                ),
                amount_fen=r.amount_fen,
                bill_id=r.bill_id,
                bill_status=bills.get(r.bill_id) if r.bill_id is not None else None,
                pay_deadline=r.pay_deadline if r.status == PENDING_PAYMENT else None,
                queue_number=r.queue_number,
                confirmed_at=r.confirmed_at,
                cancelled_at=r.cancelled_at,
                cancel_kind=r.cancel_kind,
                cancel_reason=r.cancel_reason,
                guardian_accompanied=r.guardian_accompanied,
                can_cancel=live and s.start_at > now,
                can_pay=r.status == PENDING_PAYMENT and r.pay_deadline > now,
                evidence=EvidenceBrief(
                    id=e.id,
                    source=e.source,
                    upload_status=uploads.get(e.upload_id) if e.upload_id is not None else None,
                ),
                patient_phone_masked=mask_phone(phones.get(r.account_id)) if admin else None,
            )
        )
    return result


def patient_out(db: Session, row: Registration) -> RegistrationOut:
    return RegistrationOut.model_validate(outs(db, [row])[0].model_dump(exclude={"patient_phone_masked"}))


def detail(db: Session, row: Registration, *, admin: bool = False) -> RegistrationDetailOut:
    """One registration with the refunds of its bill (status, channel, expected arrival; BJ 5.4.2)."""
    base = outs(db, [row], admin=admin)[0].model_dump(exclude=set() if admin else {"patient_phone_masked"})
    bill = db.get(Bill, row.bill_id) if row.bill_id is not None else None
    refunds = [RefundOut.of(r) for r in refunds_of(db, bill)] if bill is not None else []
    return RegistrationDetailOut.model_validate({**base, "refunds": refunds})


# --- the patient's own ---------------------------------------------------------------------------


def mine(
    db: Session, actor: Actor, status: str | None, *, offset: int, limit: int
) -> tuple[list[Registration], int]:
    conditions = [
        Registration.institution_id == actor.institution_id,
        Registration.account_id == actor.user_id,
    ]
    if status:
        conditions.append(Registration.status == status)
    total = db.scalar(select(func.count()).select_from(Registration).where(*conditions)) or 0
    rows = db.scalars(
        select(Registration)
        .where(*conditions)
        .order_by(Registration.created_at.desc(), Registration.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


# --- the doctor's waiting list ---------------------------------------------------------------------


def waiting_list(db: Session, actor: Actor, session_id: int) -> list[WaitingListEntry]:
    """The doctor's own session: paid registrations by queue number (BJ 5.2.1); the read is audited."""
    session = db.scalar(
        select(ClinicSession).where(
            ClinicSession.id == session_id,
            ClinicSession.institution_id == actor.institution_id,
            ClinicSession.doctor_id == actor.user_id,
        )
    )
    if session is None:
        raise NotFound("出诊时段不存在", "Session not found")
    rows = db.execute(
        select(Registration, Visitor)
        .join(Visitor, Visitor.id == Registration.visitor_id)
        .where(Registration.session_id == session_id, Registration.queue_number.is_not(None))
        .order_by(Registration.queue_number)
    ).all()
    today = dt.datetime.now(HOSPITAL_TZ).date()
    entries = [
        WaitingListEntry(
            registration_id=r.id,
            number=r.number,
            queue_number=r.queue_number or 0,
            visitor_name=v.name,
            visitor_sex=v.sex,
            visitor_age=idnumbers.age_facts(v.birth_date, today=today).age,
            status=r.status,
            confirmed_at=r.confirmed_at,
            guardian_accompanied=r.guardian_accompanied,
        )
        for r, v in rows
    ]
    audit.record(
        db,
        actor.audit(),
        "registration.waiting_list.read",
        resource_type="clinic_session",
        resource_id=session_id,
        detail={"registrations": [e.registration_id for e in entries]},
    )
    return entries


# --- operations ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationFilter:
    department_id: int | None = None
    doctor_id: int | None = None
    session_id: int | None = None
    status: str | None = None
    date_from: dt.date | None = None  # visit date, hospital-local
    date_to: dt.date | None = None


def _conditions(actor: Actor, f: RegistrationFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.institution_id == actor.institution_id]
    if f.department_id:
        conditions.append(Registration.department_id == f.department_id)
    if f.doctor_id:
        conditions.append(ClinicSession.doctor_id == f.doctor_id)
    if f.session_id:
        conditions.append(Registration.session_id == f.session_id)
    if f.status:
        conditions.append(Registration.status == f.status)
    if f.date_from:
        conditions.append(ClinicSession.service_date >= f.date_from)
    if f.date_to:
        conditions.append(ClinicSession.service_date <= f.date_to)
    return conditions


def search(
    db: Session, actor: Actor, f: RegistrationFilter, *, offset: int, limit: int
) -> tuple[list[Registration], int]:
    conditions = _conditions(actor, f)
    base = (
        select(Registration)
        .join(ClinicSession, ClinicSession.id == Registration.session_id)
        .where(*conditions)
    )
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.scalars(
        base.order_by(Registration.created_at.desc(), Registration.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), int(total)


def get_admin(db: Session, actor: Actor, registration_id: int) -> Registration:
    row = db.scalar(
        select(Registration).where(
            Registration.id == registration_id, Registration.institution_id == actor.institution_id
        )
    )
    if row is None:
        raise NotFound("预约不存在", "Registration not found")
    return row


EXPORT_LIMIT = 50_000
EXPORT_HEADER = (
    "预约号",
    "状态",
    "就诊日期",
    "开始时间",
    "科室",
    "医生",
    "方式",
    "就诊人",
    "排队号",
    "金额(元)",
    "取消原因",
)


def export(db: Session, actor: Actor, f: RegistrationFilter, fmt: str) -> tuple[bytes, str]:
    """The filtered registrations as xlsx or csv (names masked); the export is audited."""
    rows, total = search(db, actor, f, offset=0, limit=EXPORT_LIMIT)
    table = [
        (
            o.number,
            STATUS_NAMES.get(o.status, o.status),
            o.session.start_at.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d"),
            o.session.start_at.astimezone(HOSPITAL_TZ).strftime("%H:%M"),
            o.session.department_name,
            o.session.doctor_name,
            MODE_NAMES.get(o.session.mode, o.session.mode),
            o.visitor.name_masked,
            o.queue_number or "",
            f"{o.amount_fen / 100:.2f}",
            o.cancel_reason or "",
        )
        for o in outs(db, rows)
    ]
    audit.record(
        db,
        actor.audit(),
        "registration.export",
        resource_type=RESOURCE,
        detail={
            "rows": len(table),
            "total": total,
            "format": fmt,
            "filter": {k: str(v) for k, v in f.__dict__.items() if v},
        },
    )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_HEADER)
        writer.writerows(table)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    from openpyxl import Workbook  # on first use: ~12 MB the API process rarely needs

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "挂号记录"
    sheet.append(EXPORT_HEADER)
    for line in table:
        sheet.append(list(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
