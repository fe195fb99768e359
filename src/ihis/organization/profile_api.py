"""Staff profile endpoints: the hospital's management and review, and a staff member's own profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from ihis.organization import document_service, profile_service, review_service
from ihis.organization.deps import OrgManager, ProfileOwner, Reviewer, StaffReader
from ihis.organization.document_service import Upload
from ihis.organization.models import DocumentKind, QualificationDocument, ReviewStatus
from ihis.organization.schemas import (
    AdminProfileIn,
    DocumentOut,
    OwnProfileIn,
    RejectIn,
    StaffProfileDetailOut,
    StaffProfilePage,
)
from ihis.organization.titles import Profession
from ihis.organization.views import profile_detail, profile_outs
from ihis.platform.http import AppSettings, Db, ReadDb, Storage
from ihis.platform.storage import read_limited

router = APIRouter(tags=["staff-profiles"])

Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}


def _download(doc: QualificationDocument, data: bytes) -> Response:
    ext = _EXTENSIONS.get(doc.content_type, "bin")
    return Response(
        content=data,
        media_type=doc.content_type,
        headers={
            # Never rendered inline as our origin: an uploaded PDF cannot script the console.
            "Content-Disposition": f'attachment; filename="document-{doc.id}.{ext}"',
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
        },
    )


# --- the hospital's side ---------------------------------------------------------------------


@router.get("/admin/profiles", response_model=StaffProfilePage)
def search_profiles(
    actor: StaffReader,
    db: ReadDb,
    status: ReviewStatus | None = None,
    profession: Profession | None = None,
    department_id: int | None = None,
    keyword: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> StaffProfilePage:
    """Staff profiles of the institution (search by name, staff number or licence number)."""
    rows, total = profile_service.search_profiles(
        db,
        actor,
        status=status,
        profession=profession,
        department_id=department_id,
        keyword=keyword.strip() if keyword else None,
        limit=limit,
        offset=offset,
    )
    return StaffProfilePage(items=profile_outs(db, rows), total=total, limit=limit, offset=offset)


@router.get("/admin/profiles/{profile_id}", response_model=StaffProfileDetailOut)
def get_profile(profile_id: int, actor: StaffReader, db: ReadDb) -> StaffProfileDetailOut:
    """One profile with documents and review history."""
    return profile_detail(db, profile_service.get_profile(db, actor, profile_id))


@router.put("/admin/profiles/{profile_id}", response_model=StaffProfileDetailOut)
def update_profile(profile_id: int, body: AdminProfileIn, actor: OrgManager, db: Db) -> StaffProfileDetailOut:
    """Set title, department, prescription right, service modes with price overrides, service on/off."""
    return profile_detail(db, profile_service.admin_update_profile(db, actor, profile_id, body))


@router.get("/admin/qualification-reviews", response_model=StaffProfilePage)
def review_queue(actor: Reviewer, db: ReadDb, limit: Limit = 50, offset: Offset = 0) -> StaffProfilePage:
    """Profiles awaiting review, oldest submission first."""
    rows, total = profile_service.search_profiles(
        db, actor, status=ReviewStatus.SUBMITTED, limit=limit, offset=offset, oldest_submitted_first=True
    )
    return StaffProfilePage(items=profile_outs(db, rows), total=total, limit=limit, offset=offset)


@router.get("/admin/profiles/{profile_id}/documents/{document_id}")
def download_document(
    profile_id: int, document_id: int, actor: Reviewer, db: ReadDb, storage: Storage
) -> Response:
    """A submitted scan, for the reviewer (audited)."""
    doc, data = document_service.document_for_reviewer(db, actor, storage, profile_id, document_id)
    return _download(doc, data)


@router.post("/admin/profiles/{profile_id}/approve", response_model=StaffProfileDetailOut)
def approve(profile_id: int, actor: Reviewer, db: Db, settings: AppSettings) -> StaffProfileDetailOut:
    """Approve a submitted profile (minimum practice years enforced); the applicant is notified."""
    return profile_detail(db, review_service.approve(db, actor, profile_id, settings))


@router.post("/admin/profiles/{profile_id}/reject", response_model=StaffProfileDetailOut)
def reject(profile_id: int, body: RejectIn, actor: Reviewer, db: Db) -> StaffProfileDetailOut:
    """Reject a submitted profile with a reason; the applicant is notified."""
    profile = review_service.reject(
        db, actor, profile_id, body.reason, close_application=body.close_application
    )
    return profile_detail(db, profile)


# --- the owner's side ------------------------------------------------------------------------


@router.get("/me/staff-profile", response_model=StaffProfileDetailOut)
def get_own_profile(actor: ProfileOwner, db: ReadDb) -> StaffProfileDetailOut:
    """The caller's profile (404 until they save one)."""
    return profile_detail(db, profile_service.own_profile(db, actor))


@router.put("/me/staff-profile", response_model=StaffProfileDetailOut)
def save_own_profile(body: OwnProfileIn, actor: ProfileOwner, db: Db) -> StaffProfileDetailOut:
    """Create or update the caller's profile; reviewed fields are frozen while under review."""
    return profile_detail(db, profile_service.save_own_profile(db, actor, body))


@router.post("/me/staff-profile/documents", response_model=DocumentOut, status_code=201)
def upload_document(
    actor: ProfileOwner,
    db: Db,
    storage: Storage,
    settings: AppSettings,
    kind: Annotated[DocumentKind, Form()],
    file: Annotated[UploadFile, File()],
) -> DocumentOut:
    """Upload a licence scan (PNG/JPEG/PDF) or a photo (PNG/JPEG), at most ``max_upload_bytes``."""
    data = read_limited(file.file, settings.max_upload_bytes, "body.file")
    doc = document_service.add_document(
        db, actor, storage, kind, Upload(data, file.filename), settings.max_upload_bytes
    )
    return DocumentOut.model_validate(doc)


@router.delete("/me/staff-profile/documents/{document_id}", status_code=204)
def delete_document(document_id: int, actor: ProfileOwner, db: Db, storage: Storage) -> Response:
    """Remove an uploaded document while the profile is a draft or rejected."""
    document_service.delete_document(db, actor, storage, document_id)
    return Response(status_code=204)


@router.post("/me/staff-profile/submit", response_model=StaffProfileDetailOut)
def submit(actor: ProfileOwner, db: Db, settings: AppSettings) -> StaffProfileDetailOut:
    """Send the profile for review (draft or rejected -> submitted)."""
    return profile_detail(db, review_service.submit(db, actor, settings))
