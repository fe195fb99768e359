"""Pharmacy work on a paid order (BJ 5.3.8-5.3.9): dispense, a pharmacist's re-check by another person,
pack, then hand over to the courier (delivery) or set out for pickup (window / partner pharmacy).
The stock reservation is consumed when the drugs leave the shelf for good (handover / ready)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from ihis.drug_orders import lifecycle, pickup
from ihis.drug_orders.lifecycle import OrderChanged
from ihis.drug_orders.models import (
    DELIVERY,
    DISPENSED,
    DISPENSING,
    HANDED_OVER,
    PACKED,
    PAID,
    READY_FOR_PICKUP,
    RETURNED,
    STATUSES,
    DrugOrder,
    DrugOrderEvent,
    PatientAddress,
)
from ihis.drug_orders.payment import patient_name, stock_ref
from ihis.formulary import stock
from ihis.formulary.models import Pharmacy
from ihis.identity.access import Actor
from ihis.integrations.logistics import service as logistics
from ihis.integrations.logistics.protocol import Party
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from ihis.prescribing.models import Prescription
from ihis.settings import Settings
from ihis.tenancy.models import Institution

# A returned parcel waits for the pharmacy too (inspection, then reship or refund).
WORK_QUEUE = (PAID, DISPENSING, DISPENSED, PACKED, RETURNED)
RESHIPPED = "return_reshipped"  # the timeline kind of a reship after a return (returns.py)
# What the patient's QR code encodes (GET /me/drug-orders/{id}/qr): the prescription number,
# ``CF`` + issue date + the row id of at least 8 digits (prescribing.drafts.number_for).
PRESCRIPTION_NUMBER = re.compile(r"^CF\d{16,30}$")


def queue(db: Session, actor: Actor, status: str | None) -> list[DrugOrder]:
    """The pharmacy's orders, oldest first (default: everything still to be worked on)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput.field("query.status", "status_invalid", "状态不正确", "Unknown status")
    statuses = (status,) if status else WORK_QUEUE
    return list(
        db.scalars(
            select(DrugOrder)
            .where(DrugOrder.institution_id == actor.institution_id, DrugOrder.status.in_(statuses))
            .order_by(DrugOrder.id)
            .limit(200)
        )
    )


def by_number(db: Session, actor: Actor, number: str) -> DrugOrder:
    """取药核验: the order of a prescription number scanned from the patient's QR code or typed at the
    window (malformed 422; not an order of this institution 404)."""
    if not PRESCRIPTION_NUMBER.fullmatch(number):
        raise InvalidInput.field(
            "path.number", "number_invalid", "处方编号格式不正确", "Not a prescription number"
        )
    # Through the prescription's unique (institution_id, number) key: one order per prescription.
    order = db.scalar(
        select(DrugOrder)
        .join(Prescription, Prescription.id == DrugOrder.prescription_id)
        .where(
            Prescription.institution_id == actor.institution_id,
            Prescription.number == number,
            DrugOrder.institution_id == actor.institution_id,
        )
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("该处方没有药品订单", "No drug order for this prescription number")
    return order


def dispense(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    """调配: the dispenser takes the drugs off the shelf."""
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    lifecycle.must_move(
        db, order, (PAID,), DISPENSING, kind="dispensed", actor=actor, dispensed_by=actor.user_id
    )
    return order


def recheck(db: Session, actor: Actor, order_id: int, note: str | None) -> DrugOrder:
    """核对: a pharmacist other than the dispenser re-checks suitability (双人核对)."""
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.status == DISPENSING and order.dispensed_by == actor.user_id:
        raise Forbidden(
            "复核药师不能是调配人", "The re-check must be done by someone other than the dispenser"
        )
    lifecycle.must_move(
        db,
        order,
        (DISPENSING,),
        DISPENSED,
        kind="rechecked",
        actor=actor,
        detail={"note": note} if note else None,
        rechecked_by=actor.user_id,
    )
    return order


def pack(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    """包装."""
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    lifecycle.must_move(db, order, (DISPENSED,), PACKED, kind="packed", actor=actor)
    return order


def tell(db: Session, order: DrugOrder, status_text: str) -> None:
    """Tell the patient how their order is doing (in-app, SMS, WeChat per the template)."""
    notify(
        db,
        institution_id=order.institution_id,
        recipient_account_id=order.account_id,
        event=Event.DRUG_ORDER_PROGRESS,
        variables={
            "patient_name": patient_name(db, order),
            "number": order.number,
            "order_status": status_text,
        },
        link=lifecycle.link(order),
    )


def ready(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    """Window or partner pharmacy: the parcel waits for the patient, who gets a pickup code."""
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.pickup == DELIVERY:
        raise OrderChanged(order.status)
    code, digest = pickup.new_code(order.id)
    lifecycle.must_move(
        db,
        order,
        (PACKED,),
        READY_FOR_PICKUP,
        kind="ready_for_pickup",
        actor=actor,
        pickup_code_hash=digest,
        pickup_code=code,
        pickup_attempts=0,
    )
    stock.consume(db, order.institution_id, stock_ref(order))
    tell(db, order, "已备好，请到药房凭取药码取药")
    return order


def shipment_ref(order: DrugOrder) -> str:
    """The courier ref of the order's current parcel (after a return, each reship has its own)."""
    db = object_session(order)
    if db is not None and order.waybill_no:
        ref = logistics.ref_of_waybill(db, order.institution_id, order.waybill_no)
        if ref is not None:
            return ref
    return f"drug-order-{order.id}"


def _next_ref(db: Session, order: DrugOrder) -> str:
    """``drug-order-<id>``, then ``-2``, ``-3`` per reship: the courier issues one waybill per ref, and
    the same ref again (a retried handover) answers the same waybill."""
    reships = db.scalar(
        select(func.count())
        .select_from(DrugOrderEvent)
        .where(DrugOrderEvent.order_id == order.id, DrugOrderEvent.kind == RESHIPPED)
    )
    base = f"drug-order-{order.id}"
    return base if not reships else f"{base}-{reships + 1}"


def _sender(db: Session, order: DrugOrder) -> Party:
    pharmacy = db.get(Pharmacy, order.pharmacy_id)
    institution = db.get(Institution, order.institution_id)
    assert pharmacy is not None and institution is not None
    phone = institution.phone or ""
    address = pharmacy.address or institution.address or ""
    if not phone or not address:  # the courier needs them; a configuration gap, not the courier's fault
        raise Conflict("药房发件电话或地址未配置", "The pharmacy's sender phone or address is not configured")
    return Party(f"{institution.name}{pharmacy.name}", phone, address)


def handover(database: Database, actor: Actor, order_id: int, settings: Settings) -> int:
    """Delivery: book the courier with no transaction open, then record the waybill and hand over."""
    with database.unit_of_work() as db:
        order = lifecycle.scoped(db, actor.institution_id, order_id)
        if order.status != PACKED or order.pickup != DELIVERY:
            raise OrderChanged(order.status)
        address = db.get(PatientAddress, order.address_id)
        assert address is not None, "a delivery order has an address (CHECK)"
        receiver = Party(address.recipient, address.phone, f"{address.region}{address.detail}")
        sender = _sender(db, order)
        ref = _next_ref(db, order)
    view = logistics.book_shipment(
        database, actor.institution_id, ref, sender=sender, receiver=receiver, description="药品 1 件"
    )
    with database.unit_of_work() as db:
        order = lifecycle.scoped(db, actor.institution_id, order_id)
        code, digest = pickup.new_code(order.id)
        lifecycle.must_move(
            db,
            order,
            (PACKED,),
            HANDED_OVER,
            kind="handed_over",
            actor=actor,
            detail={"waybill_no": view.waybill_no},
            waybill_no=view.waybill_no,
            pickup_code_hash=digest,
            pickup_code=code,
            pickup_attempts=0,
        )
        stock.consume(db, order.institution_id, stock_ref(order))
        tell(db, order, f"已交快递配送，运单号{view.waybill_no}")
    return order_id
