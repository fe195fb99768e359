"""Signing and verifying documents: the one door every signed document of IHIS goes through.

Public functions (docs/signing.md):

``sign_document(database, actor, pin, kind, ref_id, payload, *, seal=False) -> SignedDocument``
    Canonicalise ``payload`` (``canonical.canonical_bytes``: sorted keys, NFC strings, integers
    only), hash it (SHA-256 in ``intl``, SM3 in ``gm``), have the CA sign the digest with the
    actor's key opened by ``pin``, time-stamp the signature at the TSA (RFC 3161), and store the
    next version of (``kind``, ``ref_id``) in the actor's institution. Call it with NO unit of work
    open: it calls the CA and TSA over HTTP between short units of its own and commits the row
    before returning (then link the returned ``id`` from your own record in your unit). Raises
    ``InvalidInput`` (``body.pin`` wrong: ``pin_wrong`` with ``remaining_attempts``; payload not
    canonicalisable: ``body.payload``), ``RateLimited`` (locked after N wrong PINs), ``Conflict``
    (no active certificate / PIN not set), ``UpstreamFailed`` (CA or TSA unreachable).
    ``seal=True`` signs with the hospital seal the actor keeps (its own PIN) instead of their own key.

``verify(db, document) -> VerificationReport``
    Re-check the stored content's digest, the signature with the stored certificate's key, the
    certificate's chain to the CA root and validity at signing time, and the time-stamp token
    (imprint = hash of our signature, TSA signature, TSA chain, genTime). Never raises for a bad
    document: ``report.valid`` and ``report.failures`` (stable codes, ``report.MESSAGES`` zh/en).

``document(db, actor, document_id)``, ``document_by_code(db, code)``, ``versions(db, actor, kind, ref_id)``
    Reads, institution-scoped (the public code lookup is the only unscoped read).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.integrations.ca import pki
from ihis.integrations.ca.protocol import CaError, PinLocked, WrongPin
from ihis.integrations.tsa.client import TsaClient, TsaError, tsa_url
from ihis.integrations.tsa.verify import verify_token
from ihis.platform import audit, jobs
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, InvalidInput, NotFound, UpstreamFailed
from ihis.signing import canonical, credentials, policy
from ihis.signing.models import SignedDocument
from ihis.signing.report import VerificationReport
from ihis.signing.verification import trust_anchors, verify_document

__all__ = ["document", "document_by_code", "sign_document", "verify", "versions"]


def _check_names(kind: str, ref_id: str) -> None:
    if not policy.KIND_PATTERN.match(kind):
        raise InvalidInput.field("kind", "kind_invalid", "文书类型无效", "Invalid document kind")
    if not ref_id or len(ref_id) > policy.REF_ID_MAX:
        raise InvalidInput.field("ref_id", "ref_id_invalid", "文书编号无效", "Invalid document reference")


def _tsa_unavailable() -> UpstreamFailed:
    return UpstreamFailed("时间戳服务暂不可用，请稍后再试", "The time-stamp service is unavailable")


def sign_document(
    database: Database, actor: Actor, pin: str, kind: str, ref_id: str, payload: Any, *, seal: bool = False
) -> SignedDocument:
    """Sign and time-stamp ``payload`` as the next version of (kind, ref_id); see the module docstring."""
    _check_names(kind, ref_id)
    try:
        content = canonical.canonical_bytes(payload)
    except canonical.NotCanonicalisable as exc:
        raise InvalidInput.field(
            "body.payload",
            "payload_not_canonical",
            f"文书内容无法规范化：{exc.path}",
            f"Payload not canonical: {exc}",
        ) from None
    settings = database.settings
    hash_name = canonical.hash_name_of_suite(settings.crypto_suite.value)
    digest = canonical.digest(hash_name, content)
    with database.unit_of_work(write=False) as db:
        purpose = "seal" if seal else "personal"
        cred = credentials.detached_credential(db, actor.institution_id, actor.user_id, purpose)
        if cred is None or cred.status != "active" or cred.certificate_serial is None:
            raise Conflict(
                "尚无可用的签名证书（未办理或未设置签名 PIN）",
                "No usable signing certificate (not enrolled, or the signing PIN is not set)",
                extra={"signing_status": cred.status if cred else "not_enrolled"},
            )
        credentials.check_not_locked(cred)
        if cred.not_after is not None and cred.not_after <= utcnow():
            # An expired certificate makes signatures that fail verification: refuse up front.
            raise Conflict(
                "签名证书已过期，请联系信息科重新办理",
                "The signing certificate has expired: ask the IT department to re-enrol you",
                extra={"signing_status": "expired"},
            )
        _, tsa_root = trust_anchors(db, settings)
    http = jobs.runtime().http
    try:
        signed = credentials.ca_client(database).sign_digest(cred.ca_signer_ref, digest, hash_name, pin)
    except (WrongPin, PinLocked) as exc:
        raise credentials.record_wrong_pin(database, actor, cred, "body.pin", exc) from None
    except CaError as exc:
        raise credentials.ca_refused(exc) from exc
    cert = pki.load_cert(signed.certificate_pem)
    # The CA must have used the key of the certificate we enrolled (defence against a mix-up).
    if format(cert.serial_number, "x") != cred.certificate_serial or not pki.verify_digest(
        cert, signed.signature, digest, hash_name
    ):
        raise UpstreamFailed("签名服务返回的签名无效", "The signing service returned an invalid signature")
    imprint = canonical.digest(hash_name, signed.signature)
    try:
        token = TsaClient(http, tsa_url(settings)).timestamp(imprint, hash_name)
    except TsaError as exc:
        raise _tsa_unavailable() from exc
    stamp = verify_token(token, imprint, tsa_root)
    if not stamp.ok or stamp.gen_time is None:
        raise UpstreamFailed(
            "时间戳服务返回的时间戳无效", f"The time-stamp service returned a bad token ({stamp.code})"
        )
    with database.unit_of_work() as db:
        version = (
            db.scalar(
                select(func.max(SignedDocument.version)).where(
                    SignedDocument.institution_id == actor.institution_id,
                    SignedDocument.kind == kind,
                    SignedDocument.ref_id == ref_id,
                )
            )
            or 0
        ) + 1
        doc = SignedDocument(
            institution_id=actor.institution_id,
            kind=kind,
            ref_id=ref_id,
            version=version,
            content=content.decode("utf-8"),
            digest_algorithm=hash_name,
            digest_hex=digest.hex(),
            signature_algorithm=signed.algorithm,
            signature_b64=base64.b64encode(signed.signature).decode(),
            certificate_pem=signed.certificate_pem,
            certificate_serial=cred.certificate_serial,
            tsa_token_b64=base64.b64encode(token).decode(),
            timestamped_at=stamp.gen_time,
            signed_at=utcnow(),
            signer_id=actor.user_id,
            credential_id=cred.id,
            verification_code=secrets.token_urlsafe(16),
        )
        db.add(doc)
        try:
            db.flush()
        except IntegrityError:
            raise Conflict(
                "同一文书正在被另一次签名保存，请重试", "Another signature of this document was saved: retry"
            ) from None
        if cred.failed_pin_attempts:
            db.execute(
                update(type(cred))
                .where(type(cred).id == cred.id)
                .values(failed_pin_attempts=0, locked_until=None)
            )
        audit.record(
            db,
            actor.audit(),
            "signing.document.sign",
            resource_type="signed_document",
            resource_id=doc.id,
            detail={"kind": kind, "ref_id": ref_id, "version": version, "seal": seal},
        )
        return doc


def verify(db: Session, document: SignedDocument) -> VerificationReport:
    """All four checks of a stored signed document; see the module docstring."""
    return verify_document(db, document, jobs.runtime().settings)


def document(db: Session, actor: Actor, document_id: int) -> SignedDocument:
    """A signed document of the actor's institution (another institution's is a 404)."""
    doc = db.scalar(
        select(SignedDocument).where(
            SignedDocument.id == document_id, SignedDocument.institution_id == actor.institution_id
        )
    )
    if doc is None:
        raise NotFound()
    return doc


def document_by_code(db: Session, code: str) -> SignedDocument:
    """The document a public verification code points at (404 for an unknown code)."""
    doc = db.scalar(select(SignedDocument).where(SignedDocument.verification_code == code))
    if doc is None:
        raise NotFound()
    return doc


def versions(db: Session, actor: Actor, kind: str, ref_id: str) -> list[SignedDocument]:
    """Every signed version of (kind, ref_id) in the actor's institution, oldest first."""
    return list(
        db.scalars(
            select(SignedDocument)
            .where(
                SignedDocument.institution_id == actor.institution_id,
                SignedDocument.kind == kind,
                SignedDocument.ref_id == ref_id,
            )
            .order_by(SignedDocument.version)
        )
    )
