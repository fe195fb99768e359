"""The outpatient electronic medical record (门诊电子病历; DOMAIN §4, 《电子病历应用管理规范》).

A consultation's record is written as a draft, signed by the doctor with the signing PIN (signature
+ time stamp through the signing domain), and then archived: it never changes. A correction is a
new draft version that, once signed, amends the previous one; every version stays visible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.coding import service as coding
from ihis.consultation.models import COMPLETED, DRAFT, IN_PROGRESS, SIGNED, Consultation, MedicalRecord
from ihis.consultation.service import doctor_consultation
from ihis.identity import idnumbers
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.organization.models import Department
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.tenancy.models import Institution

RESOURCE = "medical_record"
SYSTEMS = ("icd10", "tcm-disease", "tcm-syndrome")
TEXT_FIELDS = ("chief_complaint", "present_illness", "past_history", "allergy_history", "advice")
MAX_TEXT = 4000


@dataclass(frozen=True)
class Diagnosis:
    system: str
    code: str
    name: str


@dataclass(frozen=True)
class RecordDraft:
    chief_complaint: str
    present_illness: str
    past_history: str
    allergy_history: str
    diagnoses: tuple[Diagnosis, ...]
    advice: str


def check_diagnoses(diagnoses: tuple[Diagnosis, ...]) -> None:
    """Systems known, codes given, no duplicates (field errors by index); existence: the code table."""
    seen: set[tuple[str, str]] = set()
    for i, d in enumerate(diagnoses):
        field = f"body.diagnoses.{i}"
        if d.system not in SYSTEMS:
            raise InvalidInput.field(
                f"{field}.system", "system_unknown", "诊断编码体系不正确", "Unknown system"
            )
        if not d.code.strip():
            raise InvalidInput.field(
                f"{field}.code", "code_required", "请填写诊断编码", "The code is required"
            )
        key = (d.system, d.code.upper())
        if key in seen:
            raise InvalidInput.field(f"{field}.code", "duplicate", "诊断重复", "Duplicate diagnosis")
        seen.add(key)


def versions(db: Session, consultation_id: int) -> list[MedicalRecord]:
    """Every version of a consultation's record, oldest first."""
    return list(
        db.scalars(
            select(MedicalRecord)
            .where(MedicalRecord.consultation_id == consultation_id)
            .order_by(MedicalRecord.version)
        )
    )


def _draft(db: Session, consultation_id: int) -> MedicalRecord | None:
    return db.scalar(
        select(MedicalRecord).where(
            MedicalRecord.consultation_id == consultation_id, MedicalRecord.status == DRAFT
        )
    )


def save_draft(db: Session, actor: Actor, consultation_id: int, data: RecordDraft) -> MedicalRecord:
    """Write the draft (the first version, or a correction of the last signed one)."""
    consultation = doctor_consultation(db, actor, consultation_id)
    if consultation.status not in (IN_PROGRESS, COMPLETED):
        raise Conflict(
            "该接诊已被拒绝或中止，不能书写病历", "No record for a rejected or stopped consultation"
        )
    check_diagnoses(data.diagnoses)
    # Codes must exist, enabled, in the current edition of their system; names come from the table.
    resolved = coding.resolve_diagnoses(
        db, consultation.institution_id, [(d.system, d.code) for d in data.diagnoses], "body.diagnoses"
    )
    for name in TEXT_FIELDS:
        if len(getattr(data, name)) > MAX_TEXT:
            raise InvalidInput.field(
                f"body.{name}", "too_long", f"不超过{MAX_TEXT}字", f"At most {MAX_TEXT} chars"
            )
    values: dict[str, Any] = {name: getattr(data, name).strip() for name in TEXT_FIELDS}
    values["diagnoses"] = json.dumps(
        [{"system": d.system, "edition": d.edition, "code": d.code, "name": d.name} for d in resolved],
        ensure_ascii=False,
    )
    draft = _draft(db, consultation.id)
    if draft is None:
        existing = versions(db, consultation.id)
        last_signed = next((r for r in reversed(existing) if r.status == SIGNED), None)
        draft = MedicalRecord(
            institution_id=consultation.institution_id,
            consultation_id=consultation.id,
            visitor_id=consultation.visitor_id,
            account_id=consultation.account_id,
            version=(existing[-1].version + 1) if existing else 1,
            status=DRAFT,
            amends_id=last_signed.id if last_signed else None,
            author_id=actor.user_id,
            **values,
        )
        try:
            with db.begin_nested():
                db.add(draft)
                db.flush()
        except IntegrityError:
            raise Conflict("病历正在被另一处编辑，请刷新", "The record changed meanwhile; reload") from None
    else:
        for key, value in values.items():
            setattr(draft, key, value)
        draft.author_id = actor.user_id
        db.flush()
    audit.record(
        db,
        actor.audit(),
        "medical_record.draft",
        resource_type=RESOURCE,
        resource_id=draft.id,
        patient_id=consultation.visitor_id,
        detail={"version": draft.version},
    )
    return draft


def draft_for_signing(
    db: Session, actor: Actor, consultation_id: int
) -> tuple[MedicalRecord, dict[str, Any]]:
    """The draft and the canonical content to sign: the record with who, whom, where and when."""
    consultation = doctor_consultation(db, actor, consultation_id)
    draft = _draft(db, consultation.id)
    if draft is None:
        raise Conflict("没有待签署的病历草稿", "There is no draft to sign")
    if not json.loads(draft.diagnoses):
        raise InvalidInput.field(
            "diagnoses", "diagnosis_required", "签署前请填写诊断", "Add a diagnosis first"
        )
    if not draft.chief_complaint:
        raise InvalidInput.field(
            "chief_complaint", "required", "签署前请填写主诉", "Add the chief complaint first"
        )
    return draft, content(db, consultation, draft)


def content(db: Session, consultation: Consultation, record: MedicalRecord) -> dict[str, Any]:
    """What a signature covers (no ID numbers: name, sex and age identify the patient on the record)."""
    visitor = db.get(Visitor, consultation.visitor_id)
    doctor = db.get(UserAccount, consultation.doctor_id)
    department = db.get(Department, consultation.department_id)
    institution = db.get(Institution, consultation.institution_id)
    assert visitor and doctor and department and institution
    facts = idnumbers.age_facts(
        visitor.birth_date, today=consultation.started_at.astimezone(HOSPITAL_TZ).date()
    )
    return {
        "type": "outpatient_record",
        "institution": {"code": institution.code, "name": institution.name},
        "department": department.name,
        "doctor": {"id": doctor.id, "name": doctor.display_name, "staff_no": doctor.staff_no},
        "patient": {"name": visitor.name, "sex": visitor.sex, "age": facts.age},
        "consultation_id": consultation.id,
        "visit_time": consultation.started_at.astimezone(HOSPITAL_TZ).isoformat(),
        "record_id": record.id,
        "version": record.version,
        "amends_record_id": record.amends_id,
        "chief_complaint": record.chief_complaint,
        "present_illness": record.present_illness,
        "past_history": record.past_history,
        "allergy_history": record.allergy_history,
        "diagnoses": json.loads(record.diagnoses),
        "advice": record.advice,
    }


def mark_signed(db: Session, actor: Actor, record_id: int, signed_document_id: int) -> MedicalRecord:
    """The draft becomes the signed, archived version (guarded: a draft signed twice is refused)."""
    record = db.get(MedicalRecord, record_id, populate_existing=True)
    if record is None or record.status != DRAFT:
        raise Conflict("病历已签署或已变化", "The record was signed or changed meanwhile")
    record.status = SIGNED
    record.signed_at = utcnow()
    record.signed_document_id = signed_document_id
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "medical_record.sign",
        resource_type=RESOURCE,
        resource_id=record.id,
        patient_id=record.visitor_id,
        detail={"version": record.version, "signed_document_id": signed_document_id},
    )
    return record


# --- reading -----------------------------------------------------------------------------------------


def patient_records(db: Session, actor: Actor) -> list[MedicalRecord]:
    """The caller's signed records, newest first (every version)."""
    return list(
        db.scalars(
            select(MedicalRecord)
            .where(
                MedicalRecord.institution_id == actor.institution_id,
                MedicalRecord.account_id == actor.user_id,
                MedicalRecord.status == SIGNED,
            )
            .order_by(MedicalRecord.signed_at.desc(), MedicalRecord.id.desc())
        )
    )


def patient_record(db: Session, actor: Actor, record_id: int) -> MedicalRecord:
    row = db.scalar(
        select(MedicalRecord).where(
            MedicalRecord.id == record_id,
            MedicalRecord.institution_id == actor.institution_id,
            MedicalRecord.account_id == actor.user_id,
            MedicalRecord.status == SIGNED,
        )
    )
    if row is None:
        raise NotFound("病历不存在", "Record not found")
    audit.record(
        db,
        actor.audit(),
        "medical_record.read",
        resource_type=RESOURCE,
        resource_id=row.id,
        patient_id=row.visitor_id,
    )
    return row
