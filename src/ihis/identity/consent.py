"""Informed consent (知情同意书): versioned documents, acceptances, and the ``ConsentedPatient`` gate.

BJ 5.5.1.1 / DOMAIN §1: no online service before the patient signed the informed consent; the
version and the hash of its text are stored with the acceptance. The document in force is the
newest *effective* version of kind ``internet_service`` of the patient's institution; a newer
effective version voids earlier acceptances until the patient accepts it too.

Later domains put the gate on every service endpoint::

    def book(body: BookingIn, actor: ConsentedPatient, db: Db) -> RegistrationOut: ...

Versions are immutable: there is no update or delete path, and the acceptance keeps its own copy
of the version and the text hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, patient_actor
from ihis.identity.models import ConsentAcceptance, ConsentDocument
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, Forbidden, InvalidInput, NotFound

INTERNET_SERVICE = "internet_service"


class ConsentRequired(Forbidden):
    """The patient has not accepted the consent document in force (BJ 5.5.1.1)."""

    code = "consent_required"


def text_hash(body: str) -> str:
    """SHA-256 of the document text (UTF-8), hex."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def current_document(
    db: Session, institution_id: int, kind: str = INTERNET_SERVICE, *, now: dt.datetime | None = None
) -> ConsentDocument | None:
    """The newest version already in effect, or None if the institution has none."""
    return db.scalar(
        select(ConsentDocument)
        .where(
            ConsentDocument.institution_id == institution_id,
            ConsentDocument.kind == kind,
            ConsentDocument.effective_at <= (now or utcnow()),
        )
        .order_by(ConsentDocument.effective_at.desc(), ConsentDocument.id.desc())
        .limit(1)
    )


def acceptance_of(db: Session, account_id: int, document_id: int) -> ConsentAcceptance | None:
    return db.scalar(
        select(ConsentAcceptance).where(
            ConsentAcceptance.account_id == account_id, ConsentAcceptance.document_id == document_id
        )
    )


def _required(document: ConsentDocument | None) -> ConsentRequired:
    consent = None if document is None else {"document_id": document.id, "version": document.version}
    return ConsentRequired(
        "请先阅读并签署最新版《知情同意书》",
        "Accept the current informed consent first",
        extra={"consent": consent},
    )


def require_consent(db: Session, actor: Actor, kind: str = INTERNET_SERVICE) -> None:
    """Raise ``ConsentRequired`` unless the patient accepted the document in force."""
    document = current_document(db, actor.institution_id, kind)
    if document is None or acceptance_of(db, actor.user_id, document.id) is None:
        raise _required(document)


def accept(db: Session, actor: Actor, document_id: int, version: str) -> ConsentAcceptance:
    """Record the patient's acceptance of the document in force (idempotent); stale -> 409."""
    document = current_document(db, actor.institution_id)
    if document is None:
        raise NotFound("暂无需要签署的知情同意书", "There is no consent document to accept")
    if document.id != document_id or document.version != version:
        raise Conflict(
            "知情同意书已更新，请阅读最新版本后再签署",
            "The consent document has a newer version; read it and accept that one",
            extra={"current": {"document_id": document.id, "version": document.version}},
        )
    digest = text_hash(document.body)
    if digest != document.body_hash:
        # The stored text no longer matches its recorded hash: never let anyone sign it.
        raise Conflict("知情同意书文本校验失败", "The consent text failed its integrity check")
    existing = acceptance_of(db, actor.user_id, document.id)
    if existing is not None:
        return existing
    row = ConsentAcceptance(
        institution_id=actor.institution_id,
        account_id=actor.user_id,
        document_id=document.id,
        version=document.version,
        text_hash=digest,
        accepted_at=utcnow(),
        ip=actor.ip,
        user_agent=actor.user_agent,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:  # a concurrent double tap: the first acceptance stands
        found = acceptance_of(db, actor.user_id, document.id)
        assert found is not None
        return found
    audit.record(
        db,
        actor.audit(),
        "consent.accept",
        resource_type="consent_document",
        resource_id=document.id,
        detail={"version": document.version, "text_hash": digest},
    )
    return row


# --- administration ---------------------------------------------------------------------------


def list_documents(db: Session, institution_id: int) -> list[ConsentDocument]:
    """Every version of the institution, newest first."""
    return list(
        db.scalars(
            select(ConsentDocument)
            .where(ConsentDocument.institution_id == institution_id)
            .order_by(ConsentDocument.effective_at.desc(), ConsentDocument.id.desc())
        )
    )


def publish(
    db: Session,
    actor: Actor,
    *,
    kind: str,
    version: str,
    title: str,
    body: str,
    effective_at: dt.datetime | None,
) -> ConsentDocument:
    """Add a new version (effective now, or scheduled); earlier versions stay as they were."""
    now = utcnow()
    effective = effective_at or now
    latest = db.scalar(
        select(ConsentDocument.effective_at)
        .where(ConsentDocument.institution_id == actor.institution_id, ConsentDocument.kind == kind)
        .order_by(ConsentDocument.effective_at.desc())
        .limit(1)
    )
    if latest is not None and effective <= latest:
        # An older effective date would never become the version in force.
        raise InvalidInput.field(
            "body.effective_at",
            "effective_at_not_after_latest",
            "生效时间须晚于现行版本的生效时间",
            "The effective time must be later than the latest version's",
        )
    document = ConsentDocument(
        institution_id=actor.institution_id,
        kind=kind,
        version=version,
        title=title,
        body=body,
        body_hash=text_hash(body),
        effective_at=effective,
        created_by=actor.user_id,
        created_at=now,
    )
    try:
        with db.begin_nested():
            db.add(document)
            db.flush()
    except IntegrityError:
        raise Conflict(f"版本 {version} 已存在", f"Version {version} already exists") from None
    audit.record(
        db,
        actor.audit(),
        "consent.publish",
        resource_type="consent_document",
        resource_id=document.id,
        detail={"version": version, "kind": kind, "body_hash": document.body_hash},
    )
    return document


# --- the gate ---------------------------------------------------------------------------------


def consented_patient(request: Request) -> Actor:
    """A signed-in patient who accepted the consent in force; otherwise 403 ``consent_required``."""
    actor = patient_actor(request)
    if getattr(request.state, "consent_checked", None) == actor.session_id:
        return actor
    database: Database = request.app.state.db
    # Its own short read unit: the endpoint's writing unit (and SQLite's write lock) is not opened
    # just to be refused.
    with database.unit_of_work(write=False) as db:
        require_consent(db, actor)
    request.state.consent_checked = actor.session_id
    return actor


ConsentedPatient = Annotated[Actor, Depends(consented_patient)]
