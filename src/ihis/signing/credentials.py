"""Signing credentials: enrolment by IT, the person's own PIN, wrong-PIN counting and locks.

Flow (docs/signing.md §3): an administrator with ``staff.manage`` enrols a doctor or pharmacist
(the CA registers the signer; no key exists yet, status ``pending_pin``). The person then sets a
PIN on ``PUT /me/signing-pin``: the CA makes the key pair, wraps it under the PIN-derived key and
issues the certificate (status ``active``). Changing the PIN needs the old one. An administrator can
never learn or set a PIN: re-enrolling revokes the old certificate (its key is destroyed) and starts
again at ``pending_pin``.

Calls to the CA go out with no unit of work open (SQLite's write lock is not held while waiting);
each function opens short units of its own, like the real-name and payment flows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import RoleAssignment, UserAccount
from ihis.integrations.ca.client import CaConfig, CloudCaClient
from ihis.integrations.ca.config import signing_settings
from ihis.integrations.ca.protocol import (
    CaError,
    CaRejected,
    CaUnavailable,
    PinLocked,
    SignerSubject,
    WrongPin,
)
from ihis.platform import audit, jobs
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, IhisError, InvalidInput, NotFound, RateLimited, UpstreamFailed
from ihis.signing import policy
from ihis.signing.models import SigningCredential
from ihis.tenancy.models import Institution


def ca_client(database: Database) -> CloudCaClient:
    """The CA client of this process (sandbox CA in sandbox mode)."""
    try:
        config = CaConfig.from_settings(database.settings)
    except CaUnavailable:
        raise ca_unavailable() from None
    return CloudCaClient(jobs.runtime().http, config)


def ca_unavailable() -> UpstreamFailed:
    return UpstreamFailed("签名服务暂不可用，请稍后再试", "The signing service is unavailable")


def ca_refused(exc: CaError) -> IhisError:
    """A CA refusal as an IHIS error (codes are safe to show)."""
    if isinstance(exc, CaUnavailable):
        return ca_unavailable()
    return Conflict(
        "签名服务拒绝了请求",
        f"The signing service refused the request ({exc.code})",
        extra={"ca_code": exc.code},
    )


def live_credential(
    db: Session, institution_id: int, user_id: int, purpose: str = "personal"
) -> SigningCredential | None:
    """The person's credential of ``purpose`` (personal, or the seal they keep) that is not revoked."""
    return db.scalar(
        select(SigningCredential).where(
            SigningCredential.institution_id == institution_id,
            SigningCredential.user_id == user_id,
            SigningCredential.purpose == purpose,
            SigningCredential.status != "revoked",
        )
    )


def live_seal(db: Session, institution_id: int) -> SigningCredential | None:
    """The institution's hospital seal that is not revoked, whoever keeps it."""
    return db.scalar(
        select(SigningCredential).where(
            SigningCredential.institution_id == institution_id,
            SigningCredential.purpose == "seal",
            SigningCredential.status != "revoked",
        )
    )


def _detached(db: Session, cred: SigningCredential | None) -> SigningCredential | None:
    if cred is not None:
        db.expunge(cred)
    return cred


def detached_credential(
    db: Session, institution_id: int, user_id: int, purpose: str = "personal"
) -> SigningCredential | None:
    """``live_credential`` detached from ``db``, readable after the (read) unit ends."""
    return _detached(db, live_credential(db, institution_id, user_id, purpose))


def locked_error(until: dt.datetime) -> RateLimited:
    seconds = max(1, int((until - utcnow()).total_seconds()))
    return RateLimited(
        seconds,
        "签名 PIN 错误次数过多，签名已暂时锁定",
        "Too many wrong signing PINs: signing is locked for now",
    )


def check_not_locked(cred: SigningCredential) -> None:
    """Refuse while the credential's wrong-PIN lock lasts."""
    if cred.locked_until is not None and cred.locked_until > utcnow():
        raise locked_error(cred.locked_until)


def record_wrong_pin(
    database: Database, actor: Actor, cred: SigningCredential, field: str, exc: CaError
) -> IhisError:
    """Count a wrong PIN (guarded update, own unit), audit it, and return the error to raise."""
    conf = signing_settings(database.settings)
    now = utcnow()
    until: dt.datetime | None = exc.until if isinstance(exc, PinLocked) else None
    with database.unit_of_work() as db:
        row = db.get(SigningCredential, cred.id)
        assert row is not None
        seen = row.failed_pin_attempts
        failed = seen + 1
        values: dict[str, object] = {"failed_pin_attempts": failed}
        if until is not None or failed >= conf.pin_max_attempts:
            until = until or now + dt.timedelta(minutes=conf.pin_lock_minutes)
            values = {"failed_pin_attempts": 0, "locked_until": until}
        db.execute(
            update(SigningCredential)
            .where(SigningCredential.id == row.id, SigningCredential.failed_pin_attempts == seen)
            .values(**values)
        )
        audit.record(
            db,
            actor.audit(),
            "signing.pin.locked" if until is not None else "signing.pin.wrong",
            resource_type="signing_credential",
            resource_id=row.id,
            outcome="failure",
            detail={"attempts": failed, "locked_until": until.isoformat() if until else None},
        )
    if until is not None:
        return locked_error(until)
    remaining = max(0, conf.pin_max_attempts - failed)
    error = InvalidInput.field(field, "pin_wrong", "签名 PIN 不正确", "Wrong signing PIN")
    error.extra["remaining_attempts"] = remaining
    return error


def enrol(database: Database, actor: Actor, user_id: int, purpose: str = "personal") -> SigningCredential:
    """Enrol (or re-enrol: revoke, then enrol anew) a doctor or pharmacist of the actor's institution,
    or (``purpose="seal"``) the hospital seal with ``user_id`` as its keeper (any active staff)."""
    with database.unit_of_work(write=False) as db:
        person = db.scalar(
            select(UserAccount).where(
                UserAccount.id == user_id,
                UserAccount.institution_id == actor.institution_id,
                UserAccount.kind == "staff",
            )
        )
        if person is None:
            raise NotFound()
        roles = set(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == user_id)))
        kind = "seal" if purpose == "seal" else policy.signer_kind(roles)
        if kind is None or person.status != "active":
            raise Conflict(
                "仅在职的医师和药师可申请签名证书",
                "Only active doctors and pharmacists can hold a signing certificate",
            )
        institution = db.get(Institution, actor.institution_id)
        assert institution is not None
        if purpose == "seal":
            old = _detached(db, live_seal(db, actor.institution_id))
            # The seal's certificate names the institution (统一社会信用代码 as its serialNumber).
            subject = SignerSubject(
                kind=kind,
                name=institution.name,
                staff_no=institution.credit_code or institution.code,
                institution_code=institution.code,
                institution_name=institution.name,
            )
        else:
            old = detached_credential(db, actor.institution_id, user_id)
            subject = SignerSubject(
                kind=kind,
                name=person.display_name,
                staff_no=person.staff_no or f"U{person.id}",
                institution_code=institution.code,
                institution_name=institution.name,
            )
    client = ca_client(database)
    try:
        if old is not None:
            try:
                client.revoke(old.ca_signer_ref, "superseded")
            except CaRejected as exc:
                if exc.code != "signer_unknown":
                    raise
        enrolment = client.enrol(subject)
    except CaError as exc:
        raise ca_refused(exc) from exc
    now = utcnow()
    with database.unit_of_work() as db:
        if old is not None:
            db.execute(
                update(SigningCredential)
                .where(SigningCredential.id == old.id, SigningCredential.status != "revoked")
                .values(status="revoked", revoked_at=now, updated_at=now)
            )
            audit.record(
                db,
                actor.audit(),
                "signing.signer.revoke",
                resource_type="signing_credential",
                resource_id=old.id,
            )
        cred = SigningCredential(
            institution_id=actor.institution_id,
            user_id=user_id,
            signer_kind=kind,
            purpose=purpose,
            ca_signer_ref=enrolment.signer_ref,
            status="pending_pin",
            failed_pin_attempts=0,
            enrolled_by=actor.user_id,
        )
        db.add(cred)
        try:
            db.flush()
        except IntegrityError:
            raise Conflict(
                "该人员的签名证书正在办理", "An enrolment for this person is already in progress"
            ) from None
        audit.record(
            db,
            actor.audit(),
            "signing.signer.enrol",
            resource_type="signing_credential",
            resource_id=cred.id,
            detail={"user_id": user_id, "kind": kind, "purpose": purpose},
        )
        return cred


def set_pin(
    database: Database, actor: Actor, new_pin: str, old_pin: str | None, purpose: str = "personal"
) -> SigningCredential:
    """The person sets the first PIN (certificate issued) or changes it (old PIN required);
    ``purpose="seal"``: the PIN of the hospital seal the actor keeps."""
    problem = policy.pin_problem(new_pin)
    if problem is not None:
        raise InvalidInput.field("body.new_pin", *problem)
    with database.unit_of_work(write=False) as db:
        cred = detached_credential(db, actor.institution_id, actor.user_id, purpose)
    if cred is None:
        raise NotFound(
            "尚未办理签名证书，请联系信息科", "No signing certificate enrolled: ask the IT department"
        )
    first = cred.status == "pending_pin"
    if not first:
        check_not_locked(cred)
        if not old_pin:
            raise InvalidInput.field(
                "body.old_pin", "required", "请输入原签名 PIN", "Enter the current signing PIN"
            )
        if old_pin == new_pin:
            raise InvalidInput.field(
                "body.new_pin",
                "pin_unchanged",
                "新 PIN 不能与原 PIN 相同",
                "The new PIN must differ from the old",
            )
    client = ca_client(database)
    try:
        issued = client.set_pin(cred.ca_signer_ref, new_pin, None if first else old_pin)
    except (WrongPin, PinLocked) as exc:
        raise record_wrong_pin(database, actor, cred, "body.old_pin", exc) from None
    except CaError as exc:
        raise ca_refused(exc) from exc
    now = utcnow()
    with database.unit_of_work() as db:
        values: dict[str, object] = {"failed_pin_attempts": 0, "locked_until": None, "updated_at": now}
        if first:
            values |= {
                "status": "active",
                "certificate_pem": issued.certificate_pem,
                "certificate_serial": issued.serial_hex,
                "subject": issued.subject,
                "not_before": issued.not_before,
                "not_after": issued.not_after,
            }
        done = db.execute(
            update(SigningCredential)
            .where(SigningCredential.id == cred.id, SigningCredential.status == cred.status)
            .values(**values)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                "签名证书状态已变化，请重试", "The signing certificate changed meanwhile: try again"
            )
        audit.record(
            db,
            actor.audit(),
            "signing.pin.set" if first else "signing.pin.change",
            resource_type="signing_credential",
            resource_id=cred.id,
        )
        row = db.get(SigningCredential, cred.id)
        assert row is not None
        db.refresh(row)
        return row


def my_credential(db: Session, actor: Actor, purpose: str = "personal") -> SigningCredential | None:
    """The actor's live credential of ``purpose`` (None when not enrolled)."""
    return live_credential(db, actor.institution_id, actor.user_id, purpose)
