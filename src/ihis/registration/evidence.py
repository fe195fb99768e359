"""Eligibility checks against the HIS, the evidence they leave, patient uploads, department policy.

The HIS call happens outside any unit of work (``load_inputs`` in a read unit, ``fetch_history``
with none, ``record_check`` in a write unit), so SQLite's write lock is never held while the HIS
thinks. Reads of HIS data are personal health data: each is audited with ``patient_id`` = the
visitor (DOMAIN §10). A patient reaches only their own visitors; anything else is a 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity import visitor_service
from ihis.identity.access import Actor
from ihis.integrations.his.protocol import HisGateway
from ihis.organization.models import Department
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.platform.storage import JPEG, PDF, PNG, FileStorage, accept_upload
from ihis.registration.eligibility import Decision, DepartmentRule, Granularity, HisHistory, normalize_code
from ihis.registration.models import DepartmentEligibilityPolicy, EligibilityEvidence, EvidenceUpload
from ihis.settings import Settings

UPLOAD_TYPES = frozenset({PNG, JPEG, PDF})
# The HIS is asked for a year more than the window, so that a patient whose last visit is just
# outside it is told when that visit was, rather than "no visit".
EXTRA_HISTORY_DAYS = 365


@dataclass(frozen=True)
class CheckInputs:
    visitor_id: int
    id_number: str
    department: DepartmentRule


# --- department policy -------------------------------------------------------------------------


def _department(db: Session, actor: Actor, department_id: int, *, enabled_only: bool) -> Department:
    query = select(Department).where(
        Department.id == department_id, Department.institution_id == actor.institution_id
    )
    if enabled_only:
        query = query.where(Department.enabled.is_(True))
    dept = db.scalar(query)
    if dept is None:
        raise NotFound("科室不存在", "Department not found")
    return dept


def _policy(db: Session, department_id: int) -> DepartmentEligibilityPolicy | None:
    return db.scalar(
        select(DepartmentEligibilityPolicy).where(DepartmentEligibilityPolicy.department_id == department_id)
    )


def _codes(raw: str | None) -> tuple[str, ...]:
    return tuple(c for c in (raw or "").split(",") if c)


def department_rule(db: Session, dept: Department, settings: Settings) -> DepartmentRule:
    """The department as the rules see it: the policy's window, else the institution default."""
    policy = _policy(db, dept.id)
    return DepartmentRule(
        department_id=dept.id,
        name=dept.name,
        subject_code=dept.subject_code,
        lookback_days=policy.lookback_days if policy else settings.eligibility_lookback_days,
        his_department_codes=_codes(policy.his_department_codes if policy else None),
        min_age_years=policy.min_age_years if policy else None,
        max_age_years=policy.max_age_years if policy else None,
    )


def get_policy(db: Session, actor: Actor, department_id: int, settings: Settings) -> DepartmentRule:
    """A department's effective rule (operations view)."""
    return department_rule(db, _department(db, actor, department_id, enabled_only=False), settings)


def set_policy(
    db: Session,
    actor: Actor,
    department_id: int,
    settings: Settings,
    *,
    lookback_days: int,
    his_department_codes: tuple[str, ...],
    min_age_years: int | None = None,
    max_age_years: int | None = None,
) -> DepartmentRule:
    """Set a department's look-back window, HIS department codes and age range; audited."""
    dept = _department(db, actor, department_id, enabled_only=False)
    if min_age_years is not None and max_age_years is not None and min_age_years > max_age_years:
        raise InvalidInput.field(
            "body.max_age_years", "age_range_inverted", "最大年龄不能小于最小年龄", "Max age is below min age"
        )
    codes = ",".join(his_department_codes) or None
    values = {
        "lookback_days": lookback_days,
        "his_department_codes": codes,
        "min_age_years": min_age_years,
        "max_age_years": max_age_years,
        "updated_by": actor.user_id,
    }
    changed = db.execute(
        update(DepartmentEligibilityPolicy)
        .where(DepartmentEligibilityPolicy.department_id == dept.id)
        .values(**values, updated_at=utcnow())
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        try:
            with db.begin_nested():
                db.add(
                    DepartmentEligibilityPolicy(
                        institution_id=actor.institution_id, department_id=dept.id, **values
                    )
                )
                db.flush()
        except IntegrityError:  # a concurrent first save: the unique department row exists now
            db.execute(
                update(DepartmentEligibilityPolicy)
                .where(DepartmentEligibilityPolicy.department_id == dept.id)
                .values(**values, updated_at=utcnow())
            )
    audit.record(
        db,
        actor.audit(),
        "eligibility_policy.set",
        resource_type="department",
        resource_id=dept.id,
        detail={
            "lookback_days": lookback_days,
            "his_department_codes": list(his_department_codes),
            "age_range": [min_age_years, max_age_years],
        },
    )
    return department_rule(db, dept, settings)


# --- the check ---------------------------------------------------------------------------------


def load_inputs(
    db: Session, actor: Actor, visitor_id: int, department_id: int, settings: Settings
) -> CheckInputs:
    """The caller's visitor (404 if not theirs) and the open department (404 if not open)."""
    visitor = visitor_service.get_visitor(db, actor, visitor_id, audited=False)
    dept = _department(db, actor, department_id, enabled_only=True)
    return CheckInputs(visitor.id, visitor.id_number, department_rule(db, dept, settings))


def fetch_history(his: HisGateway, id_number: str, since: dt.date) -> HisHistory:
    """Everything the HIS holds for this ID number since ``since`` (raises ``HisUnavailable``)."""
    patients = tuple(his.find_patients(id_number))
    encounters, diagnoses = [], []
    person = normalize_code(id_number)
    # Only the same person's records are read: a HIS that answers with someone else (a fuzzy
    # match, a merged record) must not make us fetch that person's health data.
    for patient in (p for p in patients if p.id_number and normalize_code(p.id_number) == person):
        encounters.extend(his.encounters(patient.record_id, since))
        diagnoses.extend(his.diagnoses(patient.record_id, since))
    return HisHistory(patients, tuple(encounters), tuple(diagnoses))


def history_since(today: dt.date, rule: DepartmentRule) -> dt.date:
    return today - dt.timedelta(days=rule.lookback_days + EXTRA_HISTORY_DAYS)


def record_check(
    db: Session, actor: Actor, inputs: CheckInputs, history: HisHistory, decision: Decision
) -> EligibilityEvidence | None:
    """Audit the HIS read and the decision; store the evidence when the visitor is eligible."""
    audit.record(
        db,
        actor.audit(),
        "his.records.read",
        resource_type="visitor",
        resource_id=inputs.visitor_id,
        patient_id=inputs.visitor_id,
        detail={
            "his_patient_ids": [p.record_id for p in history.patients],
            "encounters": len(history.encounters),
            "conditions": len(history.diagnoses),
        },
    )
    row = None
    if decision.eligible:
        row = EligibilityEvidence(
            institution_id=actor.institution_id,
            source="his",
            account_id=actor.user_id,
            visitor_id=inputs.visitor_id,
            department_id=inputs.department.department_id,
            his_patient_ids=json.dumps(list(decision.his_patient_ids)),
            his_encounter_ids=json.dumps(sorted({e.encounter_id for e in decision.evidence})),
            his_condition_ids=json.dumps([e.condition_id for e in decision.evidence]),
            icd10_codes=json.dumps([e.icd10_code for e in decision.evidence]),
            tags=json.dumps(list(decision.tags)),
            lookback_days=decision.lookback_days,
            granularity=decision.granularity.value,
            checked_at=utcnow(),
        )
        db.add(row)
        db.flush()
    audit.record(
        db,
        actor.audit(),
        "eligibility.check",
        resource_type="eligibility_evidence" if row else "visitor",
        resource_id=row.id if row else inputs.visitor_id,
        patient_id=inputs.visitor_id,
        outcome="success" if decision.eligible else "denied",
        detail={
            "department_id": inputs.department.department_id,
            "reasons": [r.code for r in decision.reasons],
            "his_condition_ids": [e.condition_id for e in decision.evidence],
            "tags": list(decision.tags),
        },
    )
    return row


# --- use by the booking ------------------------------------------------------------------------


def evidence_for_booking(
    db: Session, actor: Actor, evidence_id: int, visitor_id: int, department_id: int
) -> EligibilityEvidence:
    """The caller's unused evidence for this visitor and department (404 otherwise; 409 if rejected)."""
    row = db.scalar(
        select(EligibilityEvidence).where(
            EligibilityEvidence.id == evidence_id,
            EligibilityEvidence.institution_id == actor.institution_id,
            EligibilityEvidence.account_id == actor.user_id,
            EligibilityEvidence.visitor_id == visitor_id,
            EligibilityEvidence.department_id == department_id,
            EligibilityEvidence.registration_id.is_(None),
        )
    )
    if row is None:
        raise NotFound("复诊依据不存在或已使用，请重新核验", "Eligibility evidence not found or already used")
    if row.upload_id is not None:
        status = db.scalar(select(EvidenceUpload.status).where(EvidenceUpload.id == row.upload_id))
        if status == "rejected":
            raise Conflict("上传的病历未通过医生确认", "The uploaded record was rejected by a doctor")
    return row


def link_to_registration(db: Session, evidence_id: int, registration_id: int) -> None:
    """Tie the evidence (and its upload) to the registration it admitted; once only (409 otherwise)."""
    linked = db.execute(
        update(EligibilityEvidence)
        .where(EligibilityEvidence.id == evidence_id, EligibilityEvidence.registration_id.is_(None))
        .values(registration_id=registration_id)
        .returning(EligibilityEvidence.upload_id)
    ).first()
    if linked is None:
        raise Conflict("复诊依据已被使用", "The eligibility evidence is already used")
    if linked.upload_id is not None:
        db.execute(
            update(EvidenceUpload)
            .where(EvidenceUpload.id == linked.upload_id, EvidenceUpload.registration_id.is_(None))
            .values(registration_id=registration_id, updated_at=utcnow())
        )


# --- uploads -----------------------------------------------------------------------------------


def add_upload(
    db: Session,
    actor: Actor,
    storage: FileStorage,
    *,
    visitor_id: int,
    department_id: int,
    data: bytes,
    filename: str | None,
    settings: Settings,
) -> tuple[EvidenceUpload, bool]:
    """Store an earlier record (PNG/JPEG/PDF) pending a doctor's confirmation; (row, created)."""
    visitor = visitor_service.get_visitor(db, actor, visitor_id, audited=False)
    dept = _department(db, actor, department_id, enabled_only=True)
    digest = hashlib.sha256(data).hexdigest()
    existing = db.scalar(
        select(EvidenceUpload).where(
            EvidenceUpload.visitor_id == visitor.id,
            EvidenceUpload.department_id == dept.id,
            EvidenceUpload.sha256 == digest,
        )
    )
    if existing is not None:  # the same file again (a retried upload): one row, one file
        if existing.status != "rejected" and not _has_unused_evidence(db, existing.id):
            # Its evidence admitted a registration that was cancelled or closed: the record may
            # admit the next booking (each booking keeps its own evidence row and link).
            _add_upload_evidence(
                db, actor, existing, department_rule(db, dept, settings).lookback_days, settings
            )
        return existing, False
    stored = accept_upload(
        db, storage, data, allowed=UPLOAD_TYPES, max_bytes=settings.max_upload_bytes, field="body.file"
    )
    upload = EvidenceUpload(
        institution_id=actor.institution_id,
        account_id=actor.user_id,
        visitor_id=visitor.id,
        department_id=dept.id,
        file_key=stored.key,
        content_type=stored.content_type,
        size_bytes=stored.size,
        sha256=digest,
        filename=_display_name(filename),
        status="pending_doctor_confirmation",
    )
    db.add(upload)
    db.flush()
    _add_upload_evidence(db, actor, upload, department_rule(db, dept, settings).lookback_days, settings)
    audit.record(
        db,
        actor.audit(),
        "evidence.upload",
        resource_type="evidence_upload",
        resource_id=upload.id,
        patient_id=visitor.id,
        detail={"department_id": dept.id, "content_type": stored.content_type, "size": stored.size},
    )
    return upload, True


def _has_unused_evidence(db: Session, upload_id: int) -> bool:
    return (
        db.scalar(
            select(EligibilityEvidence.id).where(
                EligibilityEvidence.upload_id == upload_id, EligibilityEvidence.registration_id.is_(None)
            )
        )
        is not None
    )


def _add_upload_evidence(
    db: Session, actor: Actor, upload: EvidenceUpload, lookback_days: int, settings: Settings
) -> None:
    db.add(
        EligibilityEvidence(
            institution_id=actor.institution_id,
            source="upload",
            account_id=actor.user_id,
            visitor_id=upload.visitor_id,
            department_id=upload.department_id,
            upload_id=upload.id,
            lookback_days=lookback_days,
            granularity=Granularity(settings.eligibility_icd_granularity).value,
            checked_at=utcnow(),
        )
    )
    db.flush()


def _display_name(filename: str | None) -> str | None:
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable())[:128] or None


def _mine(actor: Actor) -> ColumnElement[bool]:
    """Uploads of the caller's account in the caller's institution (principle 5)."""
    return and_(
        EvidenceUpload.institution_id == actor.institution_id, EvidenceUpload.account_id == actor.user_id
    )


def list_uploads(db: Session, actor: Actor) -> list[EvidenceUpload]:
    """The caller's uploads, newest first; each read audited."""
    rows = list(db.scalars(select(EvidenceUpload).where(_mine(actor)).order_by(EvidenceUpload.id.desc())))
    for row in rows:
        _audit_read(db, actor, row)
    return rows


def get_upload(db: Session, actor: Actor, upload_id: int) -> EvidenceUpload:
    """One of the caller's uploads, or 404."""
    row = db.scalar(select(EvidenceUpload).where(EvidenceUpload.id == upload_id, _mine(actor)))
    if row is None:
        raise NotFound("资料不存在", "Evidence not found")
    _audit_read(db, actor, row)
    return row


def upload_file(db: Session, actor: Actor, storage: FileStorage, upload_id: int) -> tuple[bytes, str]:
    """The bytes and sniffed type of one of the caller's uploads (404 if not theirs)."""
    row = get_upload(db, actor, upload_id)
    return storage.get(row.file_key), row.content_type


def _audit_read(db: Session, actor: Actor, row: EvidenceUpload) -> None:
    audit.record(
        db,
        actor.audit(),
        "evidence.read",
        resource_type="evidence_upload",
        resource_id=row.id,
        patient_id=row.visitor_id,
    )


def evidence_ids_of_uploads(db: Session, upload_ids: list[int]) -> dict[int, int]:
    """The unused evidence row of each upload (what the next booking names as ``evidence_id``)."""
    if not upload_ids:
        return {}
    rows = db.execute(
        select(EligibilityEvidence.upload_id, EligibilityEvidence.id).where(
            EligibilityEvidence.upload_id.in_(upload_ids), EligibilityEvidence.registration_id.is_(None)
        )
    )
    return {row[0]: row[1] for row in rows if row[0] is not None}


def decide_upload(
    db: Session, actor: Actor, upload_id: int, *, confirmed: bool, note: str | None
) -> EvidenceUpload:
    """The doctor confirms or rejects an uploaded earlier record (once; 409 if already decided)."""
    now = utcnow()
    moved = db.execute(
        update(EvidenceUpload)
        .where(
            EvidenceUpload.id == upload_id,
            EvidenceUpload.institution_id == actor.institution_id,
            EvidenceUpload.status == "pending_doctor_confirmation",
        )
        .values(
            status="confirmed" if confirmed else "rejected",
            decided_by=actor.user_id,
            decided_at=now,
            decision_note=(note or "").strip()[:500] or None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("该病历已确认或已驳回", "The uploaded record was already decided")
    row = db.get(EvidenceUpload, upload_id, populate_existing=True)
    assert row is not None
    audit.record(
        db,
        actor.audit(),
        "evidence.upload.confirm" if confirmed else "evidence.upload.reject",
        resource_type="evidence_upload",
        resource_id=upload_id,
        patient_id=row.visitor_id,
        detail={"note": row.decision_note},
    )
    return row
