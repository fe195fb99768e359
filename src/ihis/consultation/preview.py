"""What the doctor sees before accepting (BJ 5.2.1): the visitor as permitted, the follow-up evidence,
earlier consultations here, the HIS history through the adapter, and the patient's uploads. The
doctor may open the uploaded files (``upload``) and the signed records of earlier consultations by
any doctor of the institution (``earlier_record``) while the patient is registered with them; each
read is audited with the patient.

The HIS is asked with no unit of work open: ``load`` reads (and snapshots plain values, since the
read unit's rollback expires its rows), ``add_his_history`` calls out, the API audits afterwards.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from ihis.consultation.models import Consultation, MedicalRecord
from ihis.consultation.schemas import (
    EarlierVisitOut,
    HisDiagnosisOut,
    HisEncounterOut,
    PreviewOut,
    UploadOut,
)
from ihis.consultation.service import doctor_registration
from ihis.identity import idnumbers
from ihis.identity.access import Actor
from ihis.identity.models import UserAccount, Visitor
from ihis.integrations.his.protocol import HisGateway, HisUnavailable
from ihis.platform import audit
from ihis.platform.clock import local_today
from ihis.platform.errors import NotFound
from ihis.registration.evidence import fetch_history
from ihis.registration.models import EligibilityEvidence, EvidenceUpload

HIS_LOOKBACK_DAYS = 3 * 365  # the doctor sees three years of offline history


def load(db: Session, actor: Actor, registration_id: int) -> tuple[PreviewOut, str]:
    """The preview without the HIS part, and the visitor's ID number for the HIS search (never shown)."""
    registration, _session = doctor_registration(db, actor, registration_id)
    visitor = db.scalar(
        select(Visitor)
        .options(undefer(Visitor.id_number))
        .where(Visitor.id == registration.visitor_id)
        .execution_options(populate_existing=True)
    )
    assert visitor is not None
    facts = idnumbers.age_facts(visitor.birth_date, today=local_today())
    evidence = db.get(EligibilityEvidence, registration.evidence_id)
    assert evidence is not None
    uploads = db.scalars(
        select(EvidenceUpload)
        .where(
            EvidenceUpload.visitor_id == visitor.id,
            EvidenceUpload.department_id == registration.department_id,
        )
        .order_by(EvidenceUpload.id.desc())
    ).all()
    earlier = db.execute(
        select(Consultation, UserAccount.display_name)
        .join(UserAccount, UserAccount.id == Consultation.doctor_id)
        .where(
            Consultation.visitor_id == visitor.id,
            Consultation.institution_id == actor.institution_id,
            Consultation.registration_id != registration.id,
        )
        .order_by(Consultation.started_at.desc())
        .limit(20)
    ).all()
    signed = {
        row[0]: row[1]
        for row in db.execute(
            select(MedicalRecord.consultation_id, MedicalRecord.id)
            .where(
                MedicalRecord.consultation_id.in_([c.id for c, _ in earlier]),
                MedicalRecord.status == "signed",
            )
            .order_by(MedicalRecord.version)
        )
    }
    out = PreviewOut(
        registration_id=registration.id,
        registration_number=registration.number,
        queue_number=registration.queue_number,
        status=registration.status,
        visitor_id=visitor.id,
        visitor_name=visitor.name,
        visitor_sex=visitor.sex,
        visitor_age=facts.age,
        under_six=facts.under_six,
        guardian_accompanied=registration.guardian_accompanied,
        evidence_source=evidence.source,
        evidence_codes=list(json.loads(evidence.icd10_codes or "[]")),
        evidence_his_encounter_ids=list(json.loads(evidence.his_encounter_ids or "[]")),
        uploads=[UploadOut.model_validate(u, from_attributes=True) for u in uploads],
        earlier=[
            EarlierVisitOut(
                consultation_id=c.id,
                started_at=c.started_at,
                status=c.status,
                doctor_name=name,
                signed_record_id=signed.get(c.id),
            )
            for c, name in earlier
        ],
        his_encounters=[],
        his_diagnoses=[],
        his_error=None,
    )
    return out, visitor.id_number


def add_his_history(out: PreviewOut, id_number: str, his: HisGateway) -> None:
    """The offline history of the same person (ID match) from the HIS; an outage is shown, not fatal."""
    since = local_today() - dt.timedelta(days=HIS_LOOKBACK_DAYS)
    try:
        history = fetch_history(his, id_number, since)
    except HisUnavailable as exc:
        out.his_error = exc.reason[:120]
        return
    out.his_encounters = [
        HisEncounterOut(
            record_id=e.record_id,
            start=e.start,
            encounter_class=e.encounter_class,
            department_name=e.department_name,
        )
        for e in sorted(history.encounters, key=lambda e: e.start, reverse=True)
    ]
    out.his_diagnoses = [
        HisDiagnosisOut(
            record_id=d.record_id, icd10_code=d.icd10_code, name=d.name, recorded_on=d.recorded_on
        )
        for d in sorted(history.diagnoses, key=lambda d: d.recorded_on, reverse=True)
    ]


def upload(db: Session, actor: Actor, registration_id: int, upload_id: int) -> EvidenceUpload:
    """An upload of the previewed patient for the registration's department (404 otherwise); audited."""
    registration, _session = doctor_registration(db, actor, registration_id)
    row = db.scalar(
        select(EvidenceUpload).where(
            EvidenceUpload.id == upload_id,
            EvidenceUpload.institution_id == actor.institution_id,
            EvidenceUpload.visitor_id == registration.visitor_id,
            EvidenceUpload.department_id == registration.department_id,
        )
    )
    if row is None:
        raise NotFound("上传的病历不存在", "Uploaded record not found")
    audit.record(
        db,
        actor.audit(),
        "evidence.read",
        resource_type="evidence_upload",
        resource_id=row.id,
        patient_id=row.visitor_id,
        detail={"registration_id": registration_id},
    )
    return row


def earlier_record(
    db: Session, actor: Actor, registration_id: int, consultation_id: int
) -> list[MedicalRecord]:
    """The signed record versions of an earlier consultation of the previewed patient (any doctor of the
    institution), oldest first; drafts are never shown. 404 if it is not the same patient's; audited."""
    registration, _session = doctor_registration(db, actor, registration_id)
    consultation = db.scalar(
        select(Consultation).where(
            Consultation.id == consultation_id,
            Consultation.institution_id == actor.institution_id,
            Consultation.visitor_id == registration.visitor_id,
            Consultation.registration_id != registration.id,
        )
    )
    if consultation is None:
        raise NotFound("接诊记录不存在", "Consultation not found")
    rows = list(
        db.scalars(
            select(MedicalRecord)
            .where(MedicalRecord.consultation_id == consultation.id, MedicalRecord.status == "signed")
            .order_by(MedicalRecord.version)
        )
    )
    audit.record(
        db,
        actor.audit(),
        "consultation.record.read_earlier",
        resource_type="consultation",
        resource_id=consultation.id,
        patient_id=consultation.visitor_id,
        detail={"registration_id": registration_id, "versions": len(rows)},
    )
    return rows
