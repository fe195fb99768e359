"""Signing endpoints: own PIN and certificate, enrolment by IT, verification (staff and public).

Routers to mount under ``/api/v1``: ``router`` (staff) and ``public_router`` (anonymous QR check).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from ihis.identity.access import Actor, Permission, StaffActor, require
from ihis.platform import audit
from ihis.platform.db import Database
from ihis.platform.http import AppSettings, ReadDb, get_database
from ihis.signing import credentials, service
from ihis.signing.schemas import (
    EnrolIn,
    EnrolmentOut,
    PublicVerificationOut,
    SigningCertificateOut,
    SigningPinIn,
    VerificationOut,
)
from ihis.signing.verification import verify_document

router = APIRouter(tags=["signing"])
public_router = APIRouter(tags=["public"])
DatabaseDep = Annotated[Database, Depends(get_database)]
StaffManager = Annotated[Actor, Depends(require(Permission.STAFF_MANAGE))]


@router.put("/me/signing-pin", response_model=SigningCertificateOut)
def put_signing_pin(body: SigningPinIn, actor: StaffActor, database: DatabaseDep) -> SigningCertificateOut:
    """Set the first signing PIN (the certificate is issued) or change it with the old PIN."""
    # No unit of work here: the CA is called between short units (credentials.set_pin).
    cred = credentials.set_pin(database, actor, body.new_pin, body.old_pin, body.purpose)
    return SigningCertificateOut.of(cred)


@router.get("/me/signing-certificate", response_model=SigningCertificateOut)
def get_signing_certificate(
    actor: StaffActor, db: ReadDb, purpose: Annotated[Literal["personal", "seal"], Query()] = "personal"
) -> SigningCertificateOut:
    """The caller's signing certificate (or the seal they keep): status, subject, serial, validity."""
    return SigningCertificateOut.of(credentials.my_credential(db, actor, purpose), purpose)


@router.post("/admin/signers/{user_id}/enrol", response_model=EnrolmentOut, status_code=201)
def enrol_signer(
    user_id: Annotated[int, Path(ge=1)],
    actor: StaffManager,
    database: DatabaseDep,
    body: EnrolIn | None = None,
) -> EnrolmentOut:
    """Enrol a doctor or pharmacist at the CA, or the hospital seal with this person as keeper
    (``{"purpose": "seal"}``); re-enrolling revokes the old certificate."""
    purpose = body.purpose if body is not None else "personal"
    cred = credentials.enrol(database, actor, user_id, purpose)
    return EnrolmentOut(
        credential_id=cred.id,
        user_id=cred.user_id,
        purpose=cred.purpose,
        signer_kind=cred.signer_kind,
        status=cred.status,
    )


@router.get("/signatures/{document_id}/verify", response_model=VerificationOut)
def verify_signature(
    document_id: Annotated[int, Path(ge=1)], actor: StaffActor, db: ReadDb, settings: AppSettings
) -> VerificationOut:
    """Verify a signed document of the caller's institution: content, signature, certificate, time stamp."""
    doc = service.document(db, actor, document_id)
    report = verify_document(db, doc, settings)
    audit.record(
        db,
        actor.audit(),
        "signing.document.verify",
        resource_type="signed_document",
        resource_id=doc.id,
        outcome="success" if report.valid else "failure",
        detail={"failures": report.failures},
    )
    return VerificationOut.of(report)


@public_router.get("/public/verify/{code}", response_model=PublicVerificationOut)
def public_verify(
    code: Annotated[str, Path(min_length=16, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")],
    db: ReadDb,
    settings: AppSettings,
) -> PublicVerificationOut:
    """Verify by the opaque code printed as a QR code; the answer holds no personal data."""
    return PublicVerificationOut.of(verify_document(db, service.document_by_code(db, code), settings))
