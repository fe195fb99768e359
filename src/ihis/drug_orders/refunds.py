"""Drug refunds (BJ 5.4.2.1): before courier handover on the patient's request with the hospital's
approval (the reserved stock is released); after handover only through a recorded special process."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle, ordering, payment
from ihis.drug_orders.lifecycle import OrderChanged
from ihis.drug_orders.models import (
    BEFORE_HANDOVER,
    DELIVERED,
    HANDED_OVER,
    READY_FOR_PICKUP,
    REFUND_REQUESTED,
    SIGNED_OFF,
    DrugOrder,
)
from ihis.identity.access import Actor
from ihis.platform.errors import InvalidInput

AFTER_HANDOVER = (HANDED_OVER, READY_FOR_PICKUP, DELIVERED, SIGNED_OFF)


def _reason(reason: str, field: str = "body.reason") -> str:
    text = reason.strip()
    if not 2 <= len(text) <= 500:
        raise InvalidInput.field(
            field, "reason_invalid", "请填写2-500字的原因", "Give a reason of 2-500 characters"
        )
    return text


def request(db: Session, actor: Actor, order_id: int, reason: str) -> DrugOrder:
    """The patient asks for a refund before handover; the pharmacy decides."""
    text = _reason(reason)
    order = ordering.own_order(db, actor, order_id)
    if order.status not in BEFORE_HANDOVER:
        raise OrderChanged(order.status)
    lifecycle.must_move(
        db,
        order,
        (order.status,),
        REFUND_REQUESTED,
        kind="refund_requested",
        actor=actor,
        detail={"from": order.status},
        refund_from=order.status,
        refund_reason=text,
    )
    return order


def decide(db: Session, actor: Actor, order_id: int, approve: bool, note: str | None) -> DrugOrder:
    """Approve (stock released, full refund by the original channel) or refuse (the work resumes)."""
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.status != REFUND_REQUESTED:
        raise OrderChanged(order.status)
    if approve:
        if not payment.refund_order(
            db,
            order,
            (REFUND_REQUESTED,),
            order.refund_reason or "患者申请退款",
            kind="refund_approved",
            actor=actor,
        ):
            raise OrderChanged(lifecycle.load(db, order.id).status)
        return order
    if not note or not note.strip():
        raise InvalidInput.field(
            "body.note", "note_required", "拒绝退款需说明原因", "Say why the refund is refused"
        )
    back = order.refund_from or BEFORE_HANDOVER[0]
    lifecycle.must_move(
        db,
        order,
        (REFUND_REQUESTED,),
        back,
        kind="refund_refused",
        actor=actor,
        detail={"note": note.strip()},
    )
    return order


def special(db: Session, actor: Actor, order_id: int, reason: str, parties: list[str]) -> DrugOrder:
    """After handover: a refund only for quality reasons or by the recorded multi-party process."""
    text = _reason(reason)
    names = [p.strip() for p in parties if p.strip()]
    if not 1 <= len(names) <= 10 or any(len(n) > 64 for n in names):
        raise InvalidInput.field(
            "body.parties", "parties_invalid", "请列出参与各方（1-10个）", "Name the parties (1-10)"
        )
    order = lifecycle.scoped(db, actor.institution_id, order_id)
    if order.status not in AFTER_HANDOVER:
        raise OrderChanged(order.status)
    if not payment.refund_order(db, order, AFTER_HANDOVER, text, kind="special_refund", actor=actor):
        raise OrderChanged(lifecycle.load(db, order.id).status)
    lifecycle.record_event(db, order, "special_refund_parties", actor, {"parties": names})
    return order
