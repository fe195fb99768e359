"""Medical-record endpoints: the doctor writes and signs (``/workstation/consultations/{id}/record``),
the patient reads every signed version and downloads the PDF (``/me/records``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.consultation import preview as previews
from ihis.consultation import records, service
from ihis.consultation.models import Consultation, MedicalRecord
from ihis.identity.access import Actor
from ihis.identity.consent import ConsentedPatient
from ihis.identity.models import UserAccount
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.organization.models import Department
from ihis.platform.errors import NotFound
from ihis.platform.http import AppSettings, Db, ReadDb, get_database
from ihis.registration.models import Registration
from ihis.scheduling.api import DoctorActor
from ihis.signing import service as signing
from ihis.signing.models import SignedDocument

router = APIRouter(tags=["medical records"])
KIND = "emr"
PATIENT_ROUTE = "/records/{id}"


class DiagnosisIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    system: Literal["icd10", "tcm-disease", "tcm-syndrome"] = "icd10"
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=128, description="Ignored: the code table's name is kept")


class RecordIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    chief_complaint: str = Field(default="", max_length=records.MAX_TEXT)
    present_illness: str = Field(default="", max_length=records.MAX_TEXT)
    past_history: str = Field(default="", max_length=records.MAX_TEXT)
    allergy_history: str = Field(default="", max_length=records.MAX_TEXT)
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=20)
    advice: str = Field(default="", max_length=records.MAX_TEXT)


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(min_length=1, max_length=64, description="The doctor's signing PIN (not the password)")


class DiagnosisOut(BaseModel):
    system: str
    edition: str | None = None
    code: str
    name: str


class SignatureOut(BaseModel):
    document_id: int
    digest_algorithm: str
    digest_hex: str
    signature_algorithm: str
    certificate_serial: str
    signed_at: dt.datetime
    timestamped_at: dt.datetime
    verification_code: str


class RecordOut(BaseModel):
    id: int
    consultation_id: int
    version: int
    status: Literal["draft", "signed"]
    amends_id: int | None
    chief_complaint: str
    present_illness: str
    past_history: str
    allergy_history: str
    diagnoses: list[DiagnosisOut]
    advice: str
    author_name: str
    department_name: str
    visit_started_at: dt.datetime
    signed_at: dt.datetime | None
    signature: SignatureOut | None


def _outs(db: Session, rows: list[MedicalRecord]) -> list[RecordOut]:
    if not rows:
        return []
    consultations = {
        c.id: c
        for c in db.scalars(
            select(Consultation).where(Consultation.id.in_({r.consultation_id for r in rows}))
        )
    }
    authors = {
        row[0]: row[1]
        for row in db.execute(
            select(UserAccount.id, UserAccount.display_name).where(
                UserAccount.id.in_({r.author_id for r in rows})
            )
        )
    }
    departments = {
        row[0]: row[1]
        for row in db.execute(
            select(Department.id, Department.name).where(
                Department.id.in_({c.department_id for c in consultations.values()})
            )
        )
    }
    signed_ids = [r.signed_document_id for r in rows if r.signed_document_id is not None]
    documents = {d.id: d for d in db.scalars(select(SignedDocument).where(SignedDocument.id.in_(signed_ids)))}
    out = []
    for r in rows:
        c = consultations[r.consultation_id]
        d = documents.get(r.signed_document_id) if r.signed_document_id is not None else None
        out.append(
            RecordOut(
                id=r.id,
                consultation_id=r.consultation_id,
                version=r.version,
                status=r.status,
                amends_id=r.amends_id,
                chief_complaint=r.chief_complaint,
                present_illness=r.present_illness,
                past_history=r.past_history,
                allergy_history=r.allergy_history,
                diagnoses=[DiagnosisOut(**x) for x in json.loads(r.diagnoses)],
                advice=r.advice,
                author_name=authors.get(r.author_id, ""),
                department_name=departments.get(c.department_id, ""),
                visit_started_at=c.started_at,
                signed_at=r.signed_at,
                signature=SignatureOut(
                    document_id=d.id,
                    digest_algorithm=d.digest_algorithm,
                    digest_hex=d.digest_hex,
                    signature_algorithm=d.signature_algorithm,
                    certificate_serial=d.certificate_serial,
                    signed_at=d.signed_at,
                    timestamped_at=d.timestamped_at,
                    verification_code=d.verification_code,
                )
                if d
                else None,
            )
        )
    return out


def _draft_in(body: RecordIn) -> records.RecordDraft:
    return records.RecordDraft(
        chief_complaint=body.chief_complaint,
        present_illness=body.present_illness,
        past_history=body.past_history,
        allergy_history=body.allergy_history,
        diagnoses=tuple(records.Diagnosis(d.system, d.code, d.name) for d in body.diagnoses),
        advice=body.advice,
    )


# --- the doctor ---------------------------------------------------------------------------------------


@router.get("/workstation/consultations/{consultation_id}/record", response_model=list[RecordOut])
def record_versions(consultation_id: int, actor: DoctorActor, db: ReadDb) -> list[RecordOut]:
    """Every version of the consultation's record (signed ones and the current draft), oldest first."""
    service.doctor_consultation(db, actor, consultation_id)
    return _outs(db, records.versions(db, consultation_id))


@router.get(
    "/workstation/registrations/{registration_id}/earlier/{consultation_id}/record",
    response_model=list[RecordOut],
)
def earlier_record(
    registration_id: int, consultation_id: int, actor: DoctorActor, db: ReadDb
) -> list[RecordOut]:
    """The signed record versions of the previewed patient's earlier consultation (any doctor's); audited."""
    return _outs(db, previews.earlier_record(db, actor, registration_id, consultation_id))


@router.put("/workstation/consultations/{consultation_id}/record", response_model=RecordOut)
def save_record(consultation_id: int, body: RecordIn, actor: DoctorActor, db: Db) -> RecordOut:
    """Write the draft: the first version, or a correction of the signed one (a new version)."""
    return _outs(db, [records.save_draft(db, actor, consultation_id, _draft_in(body))])[0]


@router.post("/workstation/consultations/{consultation_id}/record/sign", response_model=RecordOut)
def sign_record(consultation_id: int, body: SignIn, actor: DoctorActor, request: Request) -> RecordOut:
    """Sign the draft with the signing PIN: signature + time stamp; the version is archived.

    No transaction is open while the CA and the TSA answer (``signing.sign_document``).
    """
    database = get_database(request)
    with database.unit_of_work(write=False) as db:
        draft, payload = records.draft_for_signing(db, actor, consultation_id)
        record_id = draft.id
    document = signing.sign_document(database, actor, body.pin, KIND, str(record_id), payload)
    with database.unit_of_work(write=True) as db:
        record = records.mark_signed(db, actor, record_id, document.id)
        _announce(db, actor, record)
        return _outs(db, [record])[0]


def _announce(db: Session, actor: Actor, record: MedicalRecord) -> None:
    consultation = db.get(Consultation, record.consultation_id)
    assert consultation is not None
    registration = db.get(Registration, consultation.registration_id)
    assert registration is not None
    service.record_event(
        db,
        actor,
        registration,
        "record_signed",
        consultation_id=consultation.id,
        detail={"version": record.version},
    )
    content = records.content(db, consultation, record)
    notify(
        db,
        institution_id=record.institution_id,
        recipient_account_id=record.account_id,
        event=Event.RECORD_SIGNED,
        variables={
            "patient_name": content["patient"]["name"],
            "doctor_name": content["doctor"]["name"],
            "department": content["department"],
            "version": str(record.version),
        },
        link=Link("medical_record", record.id, PATIENT_ROUTE.format(id=record.id)),
    )


# --- the patient --------------------------------------------------------------------------------------


@router.get("/me/records", response_model=list[RecordOut])
def my_records(actor: ConsentedPatient, db: ReadDb) -> list[RecordOut]:
    """The caller's signed records (every version), newest first."""
    return _outs(db, records.patient_records(db, actor))


@router.get("/me/records/{record_id}", response_model=RecordOut)
def my_record(record_id: int, actor: ConsentedPatient, db: ReadDb) -> RecordOut:
    """One signed version (anyone else's: 404); the read is audited."""
    return _outs(db, [records.patient_record(db, actor, record_id)])[0]


@router.get("/me/records/{record_id}/pdf", response_class=Response)
def my_record_pdf(record_id: int, actor: ConsentedPatient, db: ReadDb, settings: AppSettings) -> Response:
    """The PDF with the signature and time-stamp details and a verification QR code."""
    record = records.patient_record(db, actor, record_id)
    document = db.get(SignedDocument, record.signed_document_id) if record.signed_document_id else None
    if document is None:
        raise NotFound("病历签名不存在", "Signature not found")
    consultation = db.get(Consultation, record.consultation_id)
    assert consultation is not None
    content = records.content(db, consultation, record)
    signer = db.get(UserAccount, document.signer_id)
    report = signing.verify(db, document)  # the PDF states what a verification finds now
    # Loaded with the first download: reportlab and qrcode are ~20 MB the API rarely needs.
    from ihis.consultation import record_pdf

    facts = record_pdf.SignatureFacts(
        signer=signer.display_name if signer else "",
        certificate_subject=report.certificate_subject or "",
        certificate_serial=document.certificate_serial,
        digest_algorithm=document.digest_algorithm,
        digest_hex=document.digest_hex,
        signed_at=document.signed_at,
        timestamp_time=report.timestamped_at,
        timestamp_authority=report.tsa_subject,
        verify_url=settings.public_url(f"/app/verify/{document.verification_code}"),
    )
    pdf = record_pdf.render(content, facts, font_path=settings.pdf_font_path)
    name = f"medical-record-{record.consultation_id}-v{record.version}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
