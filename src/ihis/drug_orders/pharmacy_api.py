"""Pharmacy endpoints (``pharmacy.dispense``): the order queue, dispense, re-check (a pharmacist other
than the dispenser), pack, courier handover or ready for pickup, sign-off, refund decisions, and a
returned parcel's receipt and resolution (a pharmacist)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ihis.drug_orders import lifecycle, pharmacy, pickup, refunds, returns, views
from ihis.drug_orders.schemas import (
    PharmacyOrderOut,
    RecheckIn,
    RefundDecisionIn,
    SignOffIn,
    SpecialRefundIn,
)
from ihis.identity.access import Actor, Permission, require
from ihis.platform import audit
from ihis.platform.errors import InvalidInput
from ihis.platform.http import AppSettings, Db, ReadDb, get_database

router = APIRouter(prefix="/pharmacy/orders", tags=["pharmacy"])

Dispenser = Annotated[Actor, Depends(require(Permission.PHARMACY_DISPENSE))]
# The re-check is a pharmacist's act (审方 licence): pharmacy staff may dispense and pack, not re-check.
Pharmacist = Annotated[Actor, Depends(require(Permission.PHARMACY_DISPENSE, Permission.RX_REVIEW))]
CODE = re.compile(r"^\d{6}$")


class ReturnReceiptIn(BaseModel):
    """验收 of a returned parcel: ``intact`` or ``damaged`` (then ``note`` is the write-off reason)."""

    condition: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=500)


class ReturnResolutionIn(BaseModel):
    """The patient's choice after the pharmacy contacted them: ``reship`` or ``refund``, with the note."""

    choice: str = Field(max_length=16)
    note: str = Field(max_length=500)
    address_id: int | None = None  # reship to another address of the patient's book


def _out(db: Db | ReadDb, actor: Actor, order_id: int) -> PharmacyOrderOut:
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    return views.pharmacy_out(db, order)


@router.get("", response_model=list[PharmacyOrderOut])
def order_queue(actor: Dispenser, db: ReadDb, status: str | None = None) -> list[PharmacyOrderOut]:
    """Orders to work on (default: paid to packed), oldest first."""
    rows = pharmacy.queue(db, actor, status)
    audit.record(
        db, actor.audit(), "drug_order.queue", resource_type="drug_order", detail={"count": len(rows)}
    )
    return [views.pharmacy_out(db, o) for o in rows]


@router.get("/by-number/{number}", response_model=PharmacyOrderOut)
def order_by_number(number: str, actor: Dispenser, db: ReadDb) -> PharmacyOrderOut:
    """取药核验: the order of a prescription number (the patient's QR code or typed at the window)."""
    order = pharmacy.by_number(db, actor, number)
    audit.record(
        db,
        actor.audit(),
        "drug_order.read",
        resource_type="drug_order",
        resource_id=order.id,
        patient_id=order.visitor_id,
        detail={"by": "number"},
    )
    return views.pharmacy_out(db, order)


@router.get("/{order_id}", response_model=PharmacyOrderOut)
def order_detail(order_id: int, actor: Dispenser, db: ReadDb) -> PharmacyOrderOut:
    """One order with its timeline (audited)."""
    out = _out(db, actor, order_id)
    audit.record(db, actor.audit(), "drug_order.read", resource_type="drug_order", resource_id=order_id)
    return out


@router.post("/{order_id}/dispense", response_model=PharmacyOrderOut)
def dispense(order_id: int, actor: Dispenser, db: Db) -> PharmacyOrderOut:
    """The dispenser takes the order."""
    return views.pharmacy_out(db, pharmacy.dispense(db, actor, order_id))


@router.post("/{order_id}/recheck", response_model=PharmacyOrderOut)
def recheck(order_id: int, body: RecheckIn, actor: Pharmacist, db: Db) -> PharmacyOrderOut:
    """A pharmacist other than the dispenser re-checks suitability."""
    return views.pharmacy_out(db, pharmacy.recheck(db, actor, order_id, body.note))


@router.post("/{order_id}/pack", response_model=PharmacyOrderOut)
def pack(order_id: int, actor: Dispenser, db: Db) -> PharmacyOrderOut:
    """Packed."""
    return views.pharmacy_out(db, pharmacy.pack(db, actor, order_id))


@router.post("/{order_id}/handover", response_model=PharmacyOrderOut)
def handover(order_id: int, actor: Dispenser, request: Request, settings: AppSettings) -> PharmacyOrderOut:
    """Delivery: book the courier (waybill), hand the parcel over; the patient gets the pickup code."""
    database = get_database(request)
    pharmacy.handover(database, actor, order_id, settings)
    with database.unit_of_work(write=False) as db:
        return _out(db, actor, order_id)


@router.post("/{order_id}/ready", response_model=PharmacyOrderOut)
def ready(order_id: int, actor: Dispenser, db: Db) -> PharmacyOrderOut:
    """Window or partner pharmacy: ready for pickup; the patient gets the pickup code."""
    return views.pharmacy_out(db, pharmacy.ready(db, actor, order_id))


@router.post("/{order_id}/sign-off", response_model=PharmacyOrderOut)
def sign_off(order_id: int, body: SignOffIn, actor: Dispenser, request: Request) -> PharmacyOrderOut:
    """签收 by the pickup code (window, partner pharmacy, or the courier's confirmation) or an ID check."""
    if body.id_check:
        if not body.id_last4 or len(body.id_last4) != 4:
            raise InvalidInput.field(
                "body.id_last4", "id_last4_invalid", "请输入证件号后4位", "Last 4 of the ID"
            )
    elif not body.code or not CODE.fullmatch(body.code):
        raise InvalidInput.field(
            "body.code", "code_invalid", "取药码为6位数字", "The pickup code has 6 digits"
        )
    database = get_database(request)
    pickup.sign_off(database, actor, order_id, code=body.code, id_check=body.id_check, id_last4=body.id_last4)
    with database.unit_of_work(write=False) as db:
        return _out(db, actor, order_id)


@router.post("/{order_id}/refund-decision", response_model=PharmacyOrderOut)
def refund_decision(order_id: int, body: RefundDecisionIn, actor: Dispenser, db: Db) -> PharmacyOrderOut:
    """Approve (stock released, full refund) or refuse (with a note) a patient's refund request."""
    return views.pharmacy_out(db, refunds.decide(db, actor, order_id, body.approve, body.note))


@router.post("/{order_id}/special-refund", response_model=PharmacyOrderOut)
def special_refund(order_id: int, body: SpecialRefundIn, actor: Pharmacist, db: Db) -> PharmacyOrderOut:
    """After handover: a refund recorded with its reason and the parties of the special process."""
    return views.pharmacy_out(db, refunds.special(db, actor, order_id, body.reason, body.parties))


@router.post("/{order_id}/return-receipt", response_model=PharmacyOrderOut)
def return_receipt(order_id: int, body: ReturnReceiptIn, actor: Pharmacist, db: Db) -> PharmacyOrderOut:
    """A returned parcel is received and inspected: intact -> back to stock, damaged -> written off."""
    return views.pharmacy_out(db, returns.receive(db, actor, order_id, body.condition, body.note))


@router.post("/{order_id}/return-resolution", response_model=PharmacyOrderOut)
def return_resolution(order_id: int, body: ReturnResolutionIn, actor: Pharmacist, db: Db) -> PharmacyOrderOut:
    """The patient's choice for a received return: reship (back to packed) or a full refund."""
    order = returns.resolve(db, actor, order_id, body.choice, body.note, body.address_id)
    return views.pharmacy_out(db, order)
