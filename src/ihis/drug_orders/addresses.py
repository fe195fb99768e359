"""The patient's address book (收货地址): at most 20, one default; phone and detail encrypted at rest."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.drug_orders.models import MAX_ADDRESSES, PatientAddress
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.errors import Conflict, InvalidInput, NotFound

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _check(recipient: str, phone: str, region: str, detail: str) -> tuple[str, str, str, str]:
    recipient, phone, region, detail = recipient.strip(), phone.strip(), region.strip(), detail.strip()
    if not 1 <= len(recipient) <= 32:
        raise InvalidInput.field(
            "body.recipient", "recipient_invalid", "请填写收货人（1-32字）", "Recipient 1-32"
        )
    if not MOBILE.match(phone):
        raise InvalidInput.field("body.phone", "phone_invalid", "手机号格式不正确", "Invalid phone number")
    if not 2 <= len(region) <= 128:
        raise InvalidInput.field("body.region", "region_invalid", "请选择省市区", "Region 2-128 characters")
    if not 2 <= len(detail) <= 200:
        raise InvalidInput.field("body.detail", "detail_invalid", "请填写详细地址（2-200字）", "Detail 2-200")
    return recipient, phone, region, detail


def own_addresses(db: Session, actor: Actor) -> list[PatientAddress]:
    return list(
        db.scalars(
            select(PatientAddress)
            .where(
                PatientAddress.account_id == actor.user_id,
                PatientAddress.institution_id == actor.institution_id,
                PatientAddress.removed.is_(False),
            )
            .order_by(PatientAddress.is_default.desc(), PatientAddress.id)
        )
    )


def _own(db: Session, actor: Actor, address_id: int) -> PatientAddress:
    row = db.scalar(
        select(PatientAddress).where(
            PatientAddress.id == address_id,
            PatientAddress.account_id == actor.user_id,
            PatientAddress.institution_id == actor.institution_id,
            PatientAddress.removed.is_(False),
        )
    )
    if row is None:
        raise NotFound("地址不存在", "Address not found")
    return row


def _make_default(db: Session, actor: Actor, address_id: int) -> None:
    db.execute(
        update(PatientAddress)
        .where(PatientAddress.account_id == actor.user_id, PatientAddress.id != address_id)
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )
    db.execute(
        update(PatientAddress)
        .where(PatientAddress.id == address_id)
        .values(is_default=True)
        .execution_options(synchronize_session=False)
    )


def _audit(db: Session, actor: Actor, action: str, address_id: int) -> None:
    audit.record(
        db,
        actor.audit(),
        f"patient_address.{action}",
        resource_type="patient_address",
        resource_id=address_id,
    )


def create(
    db: Session, actor: Actor, *, recipient: str, phone: str, region: str, detail: str, is_default: bool
) -> PatientAddress:
    """Add an address; the first one (or one asked for) becomes the default."""
    recipient, phone, region, detail = _check(recipient, phone, region, detail)
    count = db.scalar(
        select(func.count())
        .select_from(PatientAddress)
        .where(PatientAddress.account_id == actor.user_id, PatientAddress.removed.is_(False))
    )
    if (count or 0) >= MAX_ADDRESSES:
        raise Conflict(f"地址簿最多{MAX_ADDRESSES}条", f"At most {MAX_ADDRESSES} addresses")
    row = PatientAddress(
        institution_id=actor.institution_id,
        account_id=actor.user_id,
        recipient=recipient,
        phone=phone,
        region=region,
        detail=detail,
        is_default=False,
        removed=False,
    )
    db.add(row)
    db.flush()
    if is_default or not count:
        _make_default(db, actor, row.id)
    _audit(db, actor, "create", row.id)
    db.refresh(row)
    return row


def change(
    db: Session,
    actor: Actor,
    address_id: int,
    *,
    recipient: str,
    phone: str,
    region: str,
    detail: str,
    is_default: bool,
) -> PatientAddress:
    """Replace an address's fields."""
    recipient, phone, region, detail = _check(recipient, phone, region, detail)
    row = _own(db, actor, address_id)
    row.recipient, row.phone, row.region, row.detail = recipient, phone, region, detail
    db.flush()
    if is_default:
        _make_default(db, actor, row.id)
    _audit(db, actor, "change", row.id)
    db.refresh(row)
    return row


def remove(db: Session, actor: Actor, address_id: int) -> None:
    """Remove from the book (kept for orders that were sent there)."""
    row = _own(db, actor, address_id)
    db.execute(
        update(PatientAddress)
        .where(PatientAddress.id == row.id, PatientAddress.removed.is_(False))
        .values(removed=True, is_default=False)
        .execution_options(synchronize_session=False)
    )
    _audit(db, actor, "remove", row.id)
