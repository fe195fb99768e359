"""A parcel the courier brought back (issue 5 §4: "stock returns where the drugs come back").

The courier's ``returned`` event moves ``handed_over -> returned`` (``courier.py``). Then, at the
pharmacy (a pharmacist: returned drugs go back to stock only on a pharmacist's quality check):

1. **Receipt with inspection** (验收), once per returned parcel: ``intact`` (seal unbroken, packaging
   whole) -> the consumed stock goes back on the shelf, held for the order (``stock.restock``);
   ``damaged`` (opened, broken, wet, seal gone) -> written off with the reason, nothing restocked.
2. **Resolution**, after the pharmacy has contacted the patient and recorded their choice in the note:
   ``reship`` (intact parcels only; optionally to another address of the patient's book) -> back to
   ``packed`` for a new courier handover with a new waybill; or ``refund`` -> refunded in full by the
   original channel (the held stock is released). A damaged parcel can only be refunded: new drugs
   would be a new dispensing, and the prescription's validity (max 3 days, DOMAIN §5) has passed or
   soon will; the patient renews the prescription (续方) instead.

Every step is on the order's timeline and audited; each is guarded so a double click changes nothing.
"""

from __future__ import annotations

import json
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle, ordering, payment
from ihis.drug_orders.lifecycle import OrderChanged
from ihis.drug_orders.models import DELIVERY, PACKED, RETURNED, DrugOrder, DrugOrderEvent, PatientAddress
from ihis.drug_orders.payment import stock_ref
from ihis.drug_orders.pharmacy import RESHIPPED, tell
from ihis.formulary import stock
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput

INTACT: Final = "intact"
DAMAGED: Final = "damaged"
CONDITIONS: Final = (INTACT, DAMAGED)
RESHIP: Final = "reship"
REFUND: Final = "refund"
CHOICES: Final = (RESHIP, REFUND)
RECEIVED: Final = "return_received"
WRITTEN_OFF: Final = "return_written_off"


def _text(value: str | None, field: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text and not required:
        return None
    if not 2 <= len(text) <= 500:
        raise InvalidInput.field(
            field, "note_invalid", "请填写2-500字的说明", "Write a note of 2-500 characters"
        )
    return text


def inspection(db: Session, order: DrugOrder) -> str | None:
    """The condition recorded at receipt of the order's current (returned) parcel, None if not yet."""
    details = db.scalars(
        select(DrugOrderEvent.detail).where(
            DrugOrderEvent.order_id == order.id, DrugOrderEvent.kind == RECEIVED
        )
    )
    for raw in details:
        detail = json.loads(raw or "{}")
        if detail.get("waybill_no") == order.waybill_no:
            return str(detail["condition"])
    return None


def _claim(db: Session, order: DrugOrder) -> None:
    """Optimistic guard on the order row: of two concurrent receipts only one passes."""
    result = db.execute(
        update(DrugOrder)
        .where(DrugOrder.id == order.id, DrugOrder.status == RETURNED, DrugOrder.version == order.version)
        .values(version=DrugOrder.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise OrderChanged(lifecycle.load(db, order.id).status)
    db.refresh(order)


def receive(db: Session, actor: Actor, order_id: int, condition: str, note: str | None) -> DrugOrder:
    """验收 of a returned parcel: intact -> restocked (held for the order); damaged -> written off."""
    if condition not in CONDITIONS:
        raise InvalidInput.field("body.condition", "condition_invalid", "验收结果不正确", "Unknown condition")
    text = _text(note, "body.note", required=condition == DAMAGED)  # a write-off states its reason
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.status != RETURNED:
        raise OrderChanged(order.status)
    if inspection(db, order) is not None:
        raise Conflict("该退回包裹已验收", "This returned parcel has already been received")
    _claim(db, order)
    restocked = (
        stock.restock(db, order.institution_id, stock_ref(order), actor=actor.audit())
        if condition == INTACT
        else 0
    )
    detail: dict[str, object] = {
        "waybill_no": order.waybill_no,
        "condition": condition,
        "restocked_lines": restocked,
    }
    if text:
        detail["note"] = text
    lifecycle.record_event(db, order, RECEIVED, actor, detail)
    if condition == DAMAGED:
        lines = [
            {"drug_id": line.drug_id, "quantity": line.quantity} for line in ordering.lines_of(db, order.id)
        ]
        lifecycle.record_event(db, order, WRITTEN_OFF, actor, {"reason": text, "lines": lines})
    audit.record(
        db,
        actor.audit(),
        f"drug_order.{RECEIVED}",
        resource_type=lifecycle.RESOURCE,
        resource_id=order.id,
        patient_id=order.visitor_id,
        detail=detail,
    )
    return order


def _address(db: Session, order: DrugOrder, address_id: int) -> int:
    found = db.scalar(
        select(PatientAddress.id).where(
            PatientAddress.id == address_id,
            PatientAddress.account_id == order.account_id,
            PatientAddress.institution_id == order.institution_id,
            PatientAddress.removed.is_(False),
        )
    )
    if found is None:
        raise InvalidInput.field(
            "body.address_id",
            "address_invalid",
            "不是该患者地址簿中的地址",
            "Not an address of the patient's book",
        )
    return found


def resolve(
    db: Session, actor: Actor, order_id: int, choice: str, note: str, address_id: int | None = None
) -> DrugOrder:
    """The patient's choice as the pharmacy recorded it: reship (intact only) or refund in full."""
    if choice not in CHOICES:
        raise InvalidInput.field("body.choice", "choice_invalid", "处理方式不正确", "Unknown choice")
    text = _text(note, "body.note", required=True)
    assert text is not None
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.status != RETURNED:
        raise OrderChanged(order.status)
    condition = inspection(db, order)
    if condition is None:
        raise Conflict("请先验收退回的包裹", "Receive and inspect the returned parcel first")
    if choice == REFUND:
        if not payment.refund_order(
            db, order, (RETURNED,), f"快递退回：{text}", kind="return_refunded", actor=actor
        ):
            raise OrderChanged(lifecycle.load(db, order.id).status)
        return order
    if condition != INTACT or order.pickup != DELIVERY:
        raise Conflict("包裹验收不合格，只能退款", "A damaged parcel cannot be reshipped; refund it")
    values = {"address_id": _address(db, order, address_id)} if address_id is not None else {}
    lifecycle.must_move(
        db,
        order,
        (RETURNED,),
        PACKED,
        kind=RESHIPPED,
        actor=actor,
        detail={"waybill_no": order.waybill_no, "note": text, "address_changed": bool(values)},
        **values,
    )
    tell(db, order, "退回的药品已重新打包，将重新交快递配送")
    return order
