"""Courier tracking events (``logistics.shipment.<status>``) on the order: each status once per waybill
on the timeline; ``delivered`` and ``returned`` of the order's current waybill move the order (guarded);
duplicates, late events and events of an earlier parcel (before a reship) move nothing."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle
from ihis.drug_orders.lifecycle import system_context
from ihis.drug_orders.models import DELIVERED, HANDED_OVER, RETURNED, DrugOrder, DrugOrderEvent
from ihis.drug_orders.pharmacy import tell

# ``drug-order-<id>`` for the first parcel, ``drug-order-<id>-<n>`` for the n-th after returns.
REF: Final = re.compile(r"^drug-order-(\d+)(?:-\d+)?$")
# What the patient is told beyond the timeline (delivered: the courier asks for the pickup code).
TOLD: Final = {
    "out_for_delivery": "正在派送，请准备好取药码",
    "failed": "派送未成功，快递将再次派送或联系您",
    "returned": "已被快递退回药房，药房将与您联系重新配送或退款",
}
STATUSES: Final = (
    "created",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failed",
    "returned",
)
# Only a parcel still with the courier moves. A delivered parcel is not "returned" afterwards: the
# courier's delivered and returned are terminal peers (logistics protocol STATUS_RANK), and drugs that
# reached the patient come back only through the special refund (BJ 5.4.2.1), never onto the shelf.
MOVES: Final[dict[str, str]] = {DELIVERED: DELIVERED, RETURNED: RETURNED}


def _order(db: Session, payload: dict[str, Any]) -> DrugOrder | None:
    match = REF.match(str(payload.get("ref", "")))
    if match is None:
        return None  # another domain's shipment
    return db.scalar(
        select(DrugOrder)
        .where(
            DrugOrder.id == int(match.group(1)), DrugOrder.institution_id == int(payload["institution_id"])
        )
        .execution_options(populate_existing=True)
    )


def _seen(db: Session, order: DrugOrder, kind: str, waybill_no: object) -> bool:
    details = db.scalars(
        select(DrugOrderEvent.detail).where(DrugOrderEvent.order_id == order.id, DrugOrderEvent.kind == kind)
    )
    return any(json.loads(d or "{}").get("waybill_no") == waybill_no for d in details)


def apply(db: Session, status: str, payload: dict[str, Any]) -> bool:
    """Record one courier status on its order; True if anything changed."""
    order = _order(db, payload)
    if order is None:
        return False
    kind = f"courier.{status}"
    waybill_no = payload.get("waybill_no")
    detail = {"waybill_no": waybill_no, "occurred_at": payload.get("occurred_at")}
    if status in MOVES and waybill_no is not None and waybill_no == order.waybill_no:
        # A returned parcel's pickup code dies with it; a reship issues a new one.
        cleared: dict[str, Any] = (
            {"pickup_code": None, "pickup_code_hash": None} if status == RETURNED else {}
        )
        if lifecycle.move(
            db,
            order,
            (HANDED_OVER,),
            MOVES[status],
            kind=kind,
            actor=None,
            ctx=system_context(order.institution_id, "logistics.shipment"),
            detail=detail,
            **cleared,
        ):
            if status in TOLD:
                tell(db, order, TOLD[status])
            return True
    if _seen(db, order, kind, waybill_no):
        return False
    lifecycle.record_event(db, order, kind, None, detail)
    if status in TOLD and status not in MOVES:
        tell(db, order, TOLD[status])
    return True
