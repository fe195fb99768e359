"""Consultation endpoints: the doctor's workstation (``/workstation/...``) and the patient's view
(``/me/consultations``)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.consultation import preview as previews
from ihis.consultation import service
from ihis.consultation.models import Consultation, MedicalRecord
from ihis.consultation.schemas import (
    ConsultationDetailOut,
    ConsultationOut,
    ConsultationStatus,
    PreviewOut,
    RejectIn,
    SessionSummary,
    StopIn,
    TimelineOut,
    UploadDecisionIn,
    UploadOut,
    WaitingPatient,
    Workbench,
)
from ihis.identity import idnumbers
from ihis.identity.consent import ConsentedPatient
from ihis.identity.models import UserAccount, Visitor
from ihis.integrations.his.client import FhirHisClient, HisConfig
from ihis.organization.models import Department
from ihis.platform import audit, jobs
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import NotFound
from ihis.platform.http import AppSettings, Db, ReadDb, Storage, get_database
from ihis.registration import evidence as evidence_service
from ihis.registration.models import EligibilityEvidence, EvidenceUpload, Registration
from ihis.scheduling.api import DoctorActor
from ihis.scheduling.models import ClinicSession

router = APIRouter(tags=["consultation"])
WS = "/workstation"


def outs(db: Session, rows: list[Consultation]) -> list[ConsultationOut]:
    """API shapes of consultations (names and states in a fixed number of queries)."""
    if not rows:
        return []
    people = {
        row[0]: row[1]
        for row in db.execute(
            select(UserAccount.id, UserAccount.display_name).where(
                UserAccount.id.in_({c.doctor_id for c in rows})
            )
        )
    }
    visitors = {
        row[0]: row[1]
        for row in db.execute(
            select(Visitor.id, Visitor.name).where(Visitor.id.in_({c.visitor_id for c in rows}))
        )
    }
    departments = {
        row[0]: row[1]
        for row in db.execute(
            select(Department.id, Department.name).where(Department.id.in_({c.department_id for c in rows}))
        )
    }
    numbers = {
        row[0]: row[1]
        for row in db.execute(
            select(Registration.id, Registration.number).where(
                Registration.id.in_({c.registration_id for c in rows})
            )
        )
    }
    modes = {
        row[0]: row[1]
        for row in db.execute(
            select(ClinicSession.id, ClinicSession.mode).where(
                ClinicSession.id.in_({c.session_id for c in rows})
            )
        )
    }
    records: dict[int, str] = {}
    for consultation_id, status in db.execute(
        select(MedicalRecord.consultation_id, MedicalRecord.status)
        .where(MedicalRecord.consultation_id.in_({c.id for c in rows}))
        .order_by(MedicalRecord.version)
    ):
        records[consultation_id] = status  # the latest version decides
    return [
        ConsultationOut(
            id=c.id,
            registration_id=c.registration_id,
            registration_number=numbers.get(c.registration_id, ""),
            session_id=c.session_id,
            status=c.status,
            started_at=c.started_at,
            ended_at=c.ended_at,
            reason=c.reason,
            advice=c.advice,
            room_id=c.room_id,
            doctor_id=c.doctor_id,
            doctor_name=people.get(c.doctor_id, ""),
            department_name=departments.get(c.department_id, ""),
            visitor_name=visitors.get(c.visitor_id, ""),
            mode=modes.get(c.session_id, ""),
            record_status=records.get(c.id, "none"),
        )
        for c in rows
    ]


def _detail(db: Session, consultation: Consultation) -> ConsultationDetailOut:
    base = outs(db, [consultation])[0]
    events = [
        TimelineOut(
            kind=e.kind,
            actor_role=e.actor_role,
            occurred_at=e.occurred_at,
            detail=json.loads(e.detail) if e.detail else None,
        )
        for e in service.timeline(db, consultation.registration_id)
    ]
    return ConsultationDetailOut(**base.model_dump(), timeline=events)


# --- the workstation -----------------------------------------------------------------------------------


@router.get(f"{WS}/today", response_model=Workbench)
def workbench(actor: DoctorActor, db: ReadDb, settings: AppSettings) -> Workbench:
    """Today's sessions (and any already open for early start) with their counts and the patients
    waiting, by queue number (BJ 5.2.1)."""
    sessions = service.todays_sessions(db, actor, settings)
    waiting = service.waiting(db, actor, [s.id for s in sessions])
    states = Counter(
        (c.session_id, c.status)
        for c in db.scalars(select(Consultation).where(Consultation.session_id.in_([s.id for s in sessions])))
    )
    waiting_per_session = Counter(r.session_id for r, _ in waiting)
    evidence = {
        row[0]: (row[1], row[2])
        for row in db.execute(
            select(Registration.id, EligibilityEvidence.source, EvidenceUpload.status)
            .join(
                EligibilityEvidence,
                EligibilityEvidence.id == Registration.evidence_id,
            )
            .outerjoin(EvidenceUpload, EvidenceUpload.id == EligibilityEvidence.upload_id)
            .where(Registration.id.in_([r.id for r, _ in waiting]))
        )
    }
    now = utcnow()
    starts = {s.id: s.start_at for s in sessions}
    today = local_today()
    return Workbench(
        today=today,
        sessions=[
            SessionSummary(
                id=s.id,
                start_at=s.start_at,
                end_at=s.end_at,
                mode=s.mode,
                status=s.status,
                capacity=s.capacity,
                booked=s.booked,
                waiting=waiting_per_session[s.id],
                in_progress=states[(s.id, "in_progress")],
                completed=states[(s.id, "completed")],
            )
            for s in sessions
        ],
        waiting=[
            WaitingPatient(
                registration_id=r.id,
                session_id=r.session_id,
                queue_number=r.queue_number or 0,
                visitor_name=v.name,
                visitor_sex=v.sex,
                visitor_age=idnumbers.age_facts(v.birth_date, today=today).age,
                under_six=idnumbers.age_facts(v.birth_date, today=today).under_six,
                guardian_accompanied=r.guardian_accompanied,
                confirmed_at=r.confirmed_at,
                # Waiting counts from the later of payment and the session's start.
                waiting_minutes=max(
                    0, int((now - max(r.confirmed_at or now, starts[r.session_id])).total_seconds() // 60)
                ),
                evidence_source=evidence[r.id][0],
                evidence_pending=evidence[r.id][1] == "pending_doctor_confirmation",
            )
            for r, v in waiting
        ],
    )


@router.get(f"{WS}/registrations/{{registration_id}}/preview", response_model=PreviewOut)
def preview(registration_id: int, actor: DoctorActor, request: Request, settings: AppSettings) -> PreviewOut:
    """The patient before accepting: details as permitted, evidence, earlier visits, HIS history, uploads.

    The read is audited; the HIS is asked with no transaction open.
    """
    database = get_database(request)
    with database.unit_of_work(write=False) as db:
        out, id_number = previews.load(db, actor, registration_id)
    previews.add_his_history(
        out, id_number, FhirHisClient(jobs.runtime().http, HisConfig.from_settings(settings))
    )
    with database.unit_of_work(write=True) as db:
        audit.record(
            db,
            actor.audit(),
            "consultation.preview",
            resource_type="registration",
            resource_id=registration_id,
            patient_id=out.visitor_id,
            detail={"his_encounters": len(out.his_encounters), "uploads": len(out.uploads)},
        )
    return out


@router.get(f"{WS}/registrations/{{registration_id}}/uploads/{{upload_id}}/file", response_class=Response)
def preview_upload_file(
    registration_id: int, upload_id: int, actor: DoctorActor, db: ReadDb, storage: Storage
) -> Response:
    """A file the previewed patient uploaded as an earlier record (shown inline, never cached); audited."""
    row = previews.upload(db, actor, registration_id, upload_id)
    headers = {"Content-Disposition": "inline", "Cache-Control": "no-store"}
    return Response(content=storage.get(row.file_key), media_type=row.content_type, headers=headers)


@router.post(f"{WS}/uploads/{{upload_id}}/decision", response_model=UploadOut)
def decide_upload(upload_id: int, body: UploadDecisionIn, actor: DoctorActor, db: Db) -> UploadOut:
    """Confirm or reject a patient's uploaded earlier record, for a patient waiting in own sessions."""
    upload = db.scalar(
        select(EvidenceUpload)
        .join(Registration, Registration.visitor_id == EvidenceUpload.visitor_id)
        .join(ClinicSession, ClinicSession.id == Registration.session_id)
        .where(
            EvidenceUpload.id == upload_id,
            EvidenceUpload.institution_id == actor.institution_id,
            ClinicSession.doctor_id == actor.user_id,
            Registration.department_id == EvidenceUpload.department_id,
        )
        .limit(1)
    )
    if upload is None:
        raise NotFound("上传的病历不存在", "Uploaded record not found")
    decided = evidence_service.decide_upload(db, actor, upload_id, confirmed=body.confirm, note=body.note)
    return UploadOut.model_validate(decided, from_attributes=True)


@router.post(f"{WS}/registrations/{{registration_id}}/accept", response_model=ConsultationOut)
def accept(registration_id: int, actor: DoctorActor, db: Db, settings: AppSettings) -> ConsultationOut:
    """接诊: the consultation starts and its chat room opens."""
    return outs(db, [service.accept(db, actor, registration_id, settings)])[0]


@router.post(f"{WS}/registrations/{{registration_id}}/reject", response_model=ConsultationOut)
def reject(registration_id: int, body: RejectIn, actor: DoctorActor, db: Db) -> ConsultationOut:
    """Not a follow-up: refund the fee and tell the patient why (reason required)."""
    return outs(db, [service.reject(db, actor, registration_id, body.reason)])[0]


@router.get(f"{WS}/consultations", response_model=list[ConsultationOut])
def doctor_consultations(
    actor: DoctorActor,
    db: ReadDb,
    status: ConsultationStatus | None = None,
    date: Annotated[dt.date | None, Query(description="Hospital-local day the consultation started")] = None,
) -> list[ConsultationOut]:
    """The doctor's consultations: in progress, completed, rejected or stopped."""
    return outs(db, service.doctor_consultations(db, actor, service.ConsultationFilter(status, date)))


@router.get(f"{WS}/consultations/{{consultation_id}}", response_model=ConsultationDetailOut)
def doctor_consultation(consultation_id: int, actor: DoctorActor, db: ReadDb) -> ConsultationDetailOut:
    """One consultation with its full timeline."""
    return _detail(db, service.doctor_consultation(db, actor, consultation_id))


@router.post(f"{WS}/consultations/{{consultation_id}}/stop", response_model=ConsultationOut)
def stop(consultation_id: int, body: StopIn, actor: DoctorActor, db: Db) -> ConsultationOut:
    """中止复诊: reason and advice required; the fee is refunded and the patient told to go offline."""
    return outs(db, [service.stop(db, actor, consultation_id, body.reason, body.advice)])[0]


@router.post(f"{WS}/consultations/{{consultation_id}}/complete", response_model=ConsultationOut)
def complete(consultation_id: int, actor: DoctorActor, db: Db) -> ConsultationOut:
    """End the consultation (the medical record must be signed first)."""
    signed = (
        db.scalar(
            select(MedicalRecord.id).where(
                MedicalRecord.consultation_id == consultation_id, MedicalRecord.status == "signed"
            )
        )
        is not None
    )
    return outs(db, [service.complete(db, actor, consultation_id, record_signed=signed)])[0]


# --- the patient --------------------------------------------------------------------------------------


@router.get("/me/consultations", response_model=list[ConsultationOut])
def my_consultations(actor: ConsentedPatient, db: ReadDb) -> list[ConsultationOut]:
    """The caller's consultations, newest first."""
    return outs(db, service.mine(db, actor))


@router.get("/me/consultations/{consultation_id}", response_model=ConsultationDetailOut)
def my_consultation(consultation_id: int, actor: ConsentedPatient, db: ReadDb) -> ConsultationDetailOut:
    """One own consultation with its timeline (anyone else's: 404)."""
    return _detail(db, service.my_consultation(db, actor, consultation_id))
