"""Informed consent: the patient reads and accepts the version in force; operations publish versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ihis.identity import consent
from ihis.identity.access import Actor, PatientActor, Permission, require
from ihis.identity.models import ConsentDocument
from ihis.identity.schemas_patient import (
    ConsentAcceptanceOut,
    ConsentAcceptIn,
    ConsentDocumentIn,
    ConsentDocumentOut,
    ConsentStatusOut,
)
from ihis.platform.http import Db, ReadDb

router = APIRouter()

ConsentManager = Annotated[Actor, Depends(require(Permission.CONSENT_MANAGE))]


def _document_out(document: ConsentDocument) -> ConsentDocumentOut:
    return ConsentDocumentOut.model_validate(document, from_attributes=True)


@router.get("/me/consent", response_model=ConsentStatusOut, tags=["consent"])
def get_my_consent(actor: PatientActor, db: ReadDb) -> ConsentStatusOut:
    """The consent document in force (text, version, effective date, hash) and whether it is accepted."""
    document = consent.current_document(db, actor.institution_id)
    if document is None:
        return ConsentStatusOut(document=None, accepted=False, accepted_at=None)
    acceptance = consent.acceptance_of(db, actor.user_id, document.id)
    return ConsentStatusOut(
        document=_document_out(document),
        accepted=acceptance is not None,
        accepted_at=acceptance.accepted_at if acceptance else None,
    )


@router.post("/me/consent", response_model=ConsentAcceptanceOut, status_code=201, tags=["consent"])
def accept_consent(body: ConsentAcceptIn, actor: PatientActor, db: Db) -> ConsentAcceptanceOut:
    """Accept the version in force (409 if a newer version replaced the one the patient read)."""
    row = consent.accept(db, actor, body.document_id, body.version)
    return ConsentAcceptanceOut(
        document_id=row.document_id, version=row.version, text_hash=row.text_hash, accepted_at=row.accepted_at
    )


@router.get("/admin/consents", response_model=list[ConsentDocumentOut], tags=["consent"])
def list_consent_documents(actor: ConsentManager, db: ReadDb) -> list[ConsentDocumentOut]:
    """Every consent version of the institution, newest first."""
    return [_document_out(d) for d in consent.list_documents(db, actor.institution_id)]


@router.post("/admin/consents", response_model=ConsentDocumentOut, status_code=201, tags=["consent"])
def publish_consent_document(body: ConsentDocumentIn, actor: ConsentManager, db: Db) -> ConsentDocumentOut:
    """Publish a new version (immutable once created); patients re-accept once it is in effect."""
    document = consent.publish(
        db,
        actor,
        kind=body.kind,
        version=body.version,
        title=body.title,
        body=body.body,
        effective_at=body.effective_at,
    )
    return _document_out(document)
