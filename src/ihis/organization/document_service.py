"""Qualification documents: uploads of the profile owner, downloads for reviewers.

Scans are stored under random keys (``ihis.platform.storage``); types are sniffed from the bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.organization.models import DocumentKind, QualificationDocument, StaffProfile
from ihis.organization.profile_service import EDITABLE_STATES, get_profile, locked, own_profile
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.db import on_commit
from ihis.platform.errors import InvalidInput, NotFound
from ihis.platform.storage import JPEG, PDF, PNG, FileStorage, accept_upload

DOCUMENT_TYPES = frozenset({PNG, JPEG, PDF})
PHOTO_TYPES = frozenset({PNG, JPEG})
MAX_DOCUMENTS_PER_PROFILE = 20


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None


def add_document(
    db: Session, actor: Actor, storage: FileStorage, kind: DocumentKind, upload: Upload, max_bytes: int
) -> QualificationDocument:
    """Store a licence scan (PNG/JPEG/PDF) or a photo (PNG/JPEG) for the caller's profile."""
    profile = own_profile(db, actor)
    is_photo = kind is DocumentKind.PHOTO
    if not is_photo:
        # Guarded like an edit: documents under review or approved stay as the reviewer saw them.
        result = db.execute(
            update(StaffProfile)
            .where(StaffProfile.id == profile.id, StaffProfile.review_status.in_(EDITABLE_STATES))
            .values(updated_at=utcnow())
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise locked()
    count = db.scalar(select(func.count()).where(QualificationDocument.profile_id == profile.id)) or 0
    if count >= MAX_DOCUMENTS_PER_PROFILE:
        raise InvalidInput.field(
            "body.file",
            "too_many_documents",
            "上传的材料过多，请先删除不需要的文件",
            "Too many documents; remove some first",
        )
    stored = accept_upload(
        db,
        storage,
        upload.data,
        allowed=PHOTO_TYPES if is_photo else DOCUMENT_TYPES,
        max_bytes=max_bytes,
        field="body.file",
    )
    doc = QualificationDocument(
        institution_id=actor.institution_id,
        profile_id=profile.id,
        kind=kind.value,
        file_key=stored.key,
        content_type=stored.content_type,
        size_bytes=stored.size,
        sha256=hashlib.sha256(upload.data).hexdigest(),
        filename=_display_name(upload.filename),
        uploaded_by=actor.user_id,
        uploaded_at=utcnow(),
    )
    if is_photo:
        _drop_previous_photos(db, storage, profile.id)
        db.execute(
            update(StaffProfile)
            .where(StaffProfile.id == profile.id)
            .values(photo_key=stored.key, photo_content_type=stored.content_type, updated_at=utcnow())
        )
    db.add(doc)
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "qualification_document.upload",
        resource_type="qualification_document",
        resource_id=doc.id,
        detail={"kind": kind.value, "size": stored.size},
    )
    return doc


def _drop_previous_photos(db: Session, storage: FileStorage, profile_id: int) -> None:
    """A profile has one photo: a new one replaces the old (its file goes after commit)."""
    photos = select(QualificationDocument).where(
        QualificationDocument.profile_id == profile_id,
        QualificationDocument.kind == DocumentKind.PHOTO.value,
    )
    for previous in db.scalars(photos).all():
        _delete_file_after_commit(db, storage, previous.file_key)
        db.delete(previous)
    db.flush()


def _delete_file_after_commit(db: Session, storage: FileStorage, key: str) -> None:
    """The file goes only once the row pointing at it is gone for good."""
    on_commit(db, lambda: storage.delete(key))


def _display_name(filename: str | None) -> str | None:
    """The client's file name, reduced to a harmless label (never used as a path)."""
    if not filename:
        return None
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')
    return cleaned[:128] or None


def delete_document(db: Session, actor: Actor, storage: FileStorage, document_id: int) -> None:
    """Remove one of the caller's documents while the profile is still editable."""
    profile = own_profile(db, actor)
    doc = db.scalar(
        select(QualificationDocument).where(
            QualificationDocument.id == document_id, QualificationDocument.profile_id == profile.id
        )
    )
    if doc is None:
        raise NotFound("材料不存在", "Document not found")
    result = db.execute(
        update(StaffProfile)
        .where(StaffProfile.id == profile.id, StaffProfile.review_status.in_(EDITABLE_STATES))
        .values(updated_at=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise locked()
    if profile.photo_key == doc.file_key:
        db.execute(update(StaffProfile).where(StaffProfile.id == profile.id).values(photo_key=None))
    _delete_file_after_commit(db, storage, doc.file_key)
    db.delete(doc)
    db.flush()
    audit.record(
        db,
        actor.audit(),
        "qualification_document.delete",
        resource_type="qualification_document",
        resource_id=document_id,
    )


def document_count(db: Session, profile_id: int) -> int:
    """Qualification documents of a profile (the photo does not count)."""
    return (
        db.scalar(
            select(func.count()).where(
                QualificationDocument.profile_id == profile_id,
                QualificationDocument.kind != DocumentKind.PHOTO.value,
            )
        )
        or 0
    )


def document_for_reviewer(
    db: Session, actor: Actor, storage: FileStorage, profile_id: int, document_id: int
) -> tuple[QualificationDocument, bytes]:
    """A document's bytes for a reviewer; the read is audited (scans carry personal data)."""
    profile = get_profile(db, actor, profile_id)
    doc = db.scalar(
        select(QualificationDocument).where(
            QualificationDocument.id == document_id, QualificationDocument.profile_id == profile.id
        )
    )
    if doc is None:
        raise NotFound("材料不存在", "Document not found")
    data = storage.get(doc.file_key)
    audit.record(
        db,
        actor.audit(),
        "qualification_document.read",
        resource_type="qualification_document",
        resource_id=doc.id,
    )
    return doc, data
