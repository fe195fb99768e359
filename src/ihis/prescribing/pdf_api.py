"""Prescription PDF (处方笺) downloads: the patient (``/me``), the prescribing doctor (``/workstation``)
and a reviewing pharmacist of the institution (``/pharmacy``). Approved prescriptions only (409
before); anyone else's is 404. Every download is audited (personal health data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, Permission, require
from ihis.identity.consent import ConsentedPatient
from ihis.platform import audit
from ihis.platform.errors import NotFound
from ihis.platform.http import AppSettings, ReadDb
from ihis.prescribing import drafts, review
from ihis.prescribing.models import DRAFT, WITHDRAWN, Prescription
from ihis.scheduling.api import DoctorActor
from ihis.settings import Settings

router = APIRouter(tags=["prescriptions"])
Reviewer = Annotated[Actor, Depends(require(Permission.RX_REVIEW))]


def _download(db: Session, actor: Actor, rx: Prescription, settings: Settings) -> Response:
    # Loaded with the first download: reportlab and qrcode are ~20 MB the API rarely needs.
    from ihis.prescribing import rx_pdf

    pdf = rx_pdf.approved_pdf(db, rx, settings)
    audit.record(
        db,
        actor.audit(),
        "prescription.pdf",
        resource_type="prescription",
        resource_id=rx.id,
        patient_id=rx.visitor_id,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="prescription-{rx.number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/prescriptions/{rx_id}/pdf", response_class=Response)
def my_prescription_pdf(rx_id: int, actor: ConsentedPatient, db: ReadDb, settings: AppSettings) -> Response:
    """The patient's own approved prescription as a PDF with both signatures and verification QR codes."""
    rx = db.scalar(
        select(Prescription).where(
            Prescription.id == rx_id,
            Prescription.institution_id == actor.institution_id,
            Prescription.account_id == actor.user_id,
            Prescription.status.not_in((DRAFT, WITHDRAWN)),  # drafts are the doctor's (as /me/prescriptions)
        )
    )
    if rx is None:
        raise NotFound("处方不存在", "Prescription not found")
    return _download(db, actor, rx, settings)


@router.get("/workstation/prescriptions/{rx_id}/pdf", response_class=Response)
def doctor_prescription_pdf(rx_id: int, actor: DoctorActor, db: ReadDb, settings: AppSettings) -> Response:
    """The prescribing doctor's PDF of an approved prescription."""
    return _download(db, actor, drafts.doctor_prescription(db, actor, rx_id), settings)


@router.get("/pharmacy/reviews/{rx_id}/pdf", response_class=Response)
def review_prescription_pdf(rx_id: int, actor: Reviewer, db: ReadDb, settings: AppSettings) -> Response:
    """A pharmacist's PDF of an approved prescription of the institution."""
    return _download(db, actor, review.reviewable(db, actor, rx_id), settings)
