"""Courier tracking events (``logistics.shipment.<status>``) on the order: each status once on the
timeline, ``delivered`` moves the order; duplicates and late events change nothing."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle
from ihis.drug_orders.lifecycle import system_context
from ihis.drug_orders.models import DELIVERED, HANDED_OVER, DrugOrder, DrugOrderEvent
from ihis.drug_orders.pharmacy import tell

PREFIX: Final = "drug-order-"
# What the patient is told beyond the timeline (delivered: the courier asks for the pickup code).
TOLD: Final = {
    "out_for_delivery": "正在派送，请准备好取药码",
    "failed": "派送未成功，快递将再次派送或联系您",
    "returned": "已被快递退回药房，药房将与您联系",
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


def _order(db: Session, payload: dict[str, Any]) -> DrugOrder | None:
    ref = str(payload.get("ref", ""))
    if not ref.startswith(PREFIX) or not ref.removeprefix(PREFIX).isdigit():
        return None  # another domain's shipment
    return db.scalar(
        select(DrugOrder)
        .where(
            DrugOrder.id == int(ref.removeprefix(PREFIX)),
            DrugOrder.institution_id == int(payload["institution_id"]),
        )
        .execution_options(populate_existing=True)
    )


def apply(db: Session, status: str, payload: dict[str, Any]) -> bool:
    """Record one courier status on its order; True if anything changed."""
    order = _order(db, payload)
    if order is None:
        return False
    kind = f"courier.{status}"
    detail = {"waybill_no": payload.get("waybill_no"), "occurred_at": payload.get("occurred_at")}
    if status == DELIVERED:
        return lifecycle.move(
            db,
            order,
            (HANDED_OVER,),
            DELIVERED,
            kind=kind,
            actor=None,
            ctx=system_context(order.institution_id, "logistics.shipment"),
            detail=detail,
        )
    seen = db.scalar(
        select(DrugOrderEvent.id).where(DrugOrderEvent.order_id == order.id, DrugOrderEvent.kind == kind)
    )
    if seen is not None:
        return False
    lifecycle.record_event(db, order, kind, None, detail)
    if status in TOLD:
        tell(db, order, TOLD[status])
    return True
