"""A paid drug order: stock reserved at the routed pharmacy (all or nothing), the 医保 part settled, a
partner supplier's order pushed with no transaction open, and full refunds when the drugs cannot be
supplied (BJ 5.3.8, 5.4.2) — every refund also reverses the insurance settlement (``settlement``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing import refunds
from ihis.billing import service as billing
from ihis.billing.models import Bill
from ihis.drug_orders import lifecycle, ordering, settlement
from ihis.drug_orders.lifecycle import system_context
from ihis.drug_orders.models import AWAITING_PAYMENT, CANCELLED, EXPIRED, PAID, REFUNDED, DrugOrder
from ihis.formulary import stock
from ihis.formulary.models import Pharmacy
from ihis.identity.access import Actor
from ihis.identity.models import Visitor
from ihis.integrations.supplier.protocol import OrderLine, SupplierStockShort
from ihis.notifications.service import notify
from ihis.notifications.templates import Event
from ihis.platform.audit import AuditContext
from ihis.platform.db import Database

CHANNEL_NAMES = {"wechat": "微信支付", "alipay": "支付宝"}


def stock_ref(order: DrugOrder) -> str:
    return f"order:{order.id}"


def supplier_ref(order: DrugOrder) -> str:
    return f"I{order.institution_id}-order-{order.id}"


def patient_name(db: Session, order: DrugOrder) -> str:
    return db.scalar(select(Visitor.name).where(Visitor.id == order.visitor_id)) or ""


def refund_in_full(db: Session, order: DrugOrder, reason: str) -> bool:
    """Ask for the whole drug payment back by the original channel and tell the patient."""
    bill = db.get(Bill, order.bill_id, populate_existing=True) if order.bill_id else None
    if bill is None or bill.status not in ("paid", "partially_refunded"):
        return False
    refund = refunds.request_refund(
        db, bill.id, bill.amount_fen - bill.refunded_fen, reason, institution_id=order.institution_id
    )
    notify(
        db,
        institution_id=order.institution_id,
        recipient_account_id=order.account_id,
        event=Event.REFUND_PROGRESS,
        variables={
            "patient_name": patient_name(db, order),
            "item": "药品费",
            "amount_yuan": lifecycle.yuan(refund.amount_fen),
            "refund_status": "已受理",
            "refund_channel": CHANNEL_NAMES.get(refund.channel, refund.channel),
            "refund_arrival": refund.expected_arrival,
        },
        link=lifecycle.link(order),
    )
    return True


def refund_order(
    db: Session,
    order: DrugOrder,
    sources: tuple[str, ...],
    reason: str,
    *,
    kind: str,
    actor: Actor | None,
    ctx: AuditContext | None = None,
) -> bool:
    """Move to refunded, give the reserved stock back, refund the self-pay payment by its channel and
    reverse the insurance settlement (outbox, after commit); True if this call did."""
    if not lifecycle.move(
        db,
        order,
        sources,
        REFUNDED,
        kind=kind,
        actor=actor,
        ctx=ctx,
        detail={"reason": reason},
        refund_reason=reason,
    ):
        return False
    stock.release(db, order.institution_id, stock_ref(order))
    refund_in_full(db, order, reason)
    settlement.request_reversal(db, order)
    return True


def mark_paid(db: Session, reference_id: str, bill_id: int) -> int | None:
    """The drug bill is paid: reserve the stock; short -> refunded in full. Returns the order id when a
    partner supplier still has to be told (after commit), else None."""
    order = db.get(DrugOrder, ordering.order_id_of_reference(reference_id), populate_existing=True)
    if order is None:
        return None
    ctx = system_context(order.institution_id, "billing.bill_paid")
    if order.bill_id != bill_id or order.status != AWAITING_PAYMENT:
        if order.status == PAID and order.bill_id == bill_id:  # delivered again: maybe the push is left
            return _push_pending(db, order)
        if order.bill_id == bill_id and order.status in (EXPIRED, CANCELLED):  # the money goes back
            refund_in_full(db, order, "订单已失效，支付款原路退回")
        return None
    if not lifecycle.move(
        db, order, (AWAITING_PAYMENT,), PAID, kind="paid", actor=None, ctx=ctx, detail={"bill_id": bill_id}
    ):
        return None
    return _reserve(db, order, ctx)


def mark_paid_by_insurance(db: Session, order_id: int) -> int | None:
    """An order all covered by insurance (self-pay 0, no bill) is paid: as ``mark_paid`` from there."""
    order = db.get(DrugOrder, order_id, populate_existing=True)
    if order is None or order.bill_id is not None or order.insurance_state != settlement.PENDING:
        return None
    ctx = system_context(order.institution_id, "drug_orders.paid_by_insurance")
    if not lifecycle.move(
        db, order, (AWAITING_PAYMENT,), PAID, kind="paid", actor=None, ctx=ctx, detail={"bill_id": None}
    ):
        return None
    return _reserve(db, order, ctx)


def _reserve(db: Session, order: DrugOrder, ctx: AuditContext) -> int | None:
    """Reserve the stock of a just-paid order (short -> refunded in full), then settle its insurance."""
    assert order.pharmacy_id is not None, "a confirmed order is routed"
    lines = [(line.drug_id, line.quantity) for line in ordering.lines_of(db, order.id)]
    try:
        with db.begin_nested():
            stock.reserve(db, order.institution_id, order.pharmacy_id, stock_ref(order), lines)
    except stock.OutOfStock:
        refund_order(db, order, (PAID,), "药品库存不足，全额退款", kind="stock_short", actor=None, ctx=ctx)
        return None
    lifecycle.record_event(db, order, "stock_reserved", None, {"pharmacy_id": order.pharmacy_id})
    settlement.request_settlement(db, order)
    return _push_pending(db, order)


def _push_pending(db: Session, order: DrugOrder) -> int | None:
    pharmacy = db.get(Pharmacy, order.pharmacy_id) if order.pharmacy_id else None
    if pharmacy is None or pharmacy.kind != "supplier" or order.supplier_order_no:
        return None
    return order.id


def push_to_supplier(database: Database, order_id: int) -> None:
    """Hand a paid order to its partner supplier: read in one unit, call with none open, record in another.
    A supplier that cannot fill it -> refunded in full; unreachable -> raises (the outbox retries)."""
    with database.unit_of_work() as db:
        order = lifecycle.load(db, order_id)
        pharmacy = db.get(Pharmacy, order.pharmacy_id)
        assert pharmacy is not None
        gateway = stock.supplier_gateway(pharmacy)
        lines = [OrderLine(line.drug_code, line.quantity) for line in ordering.lines_of(db, order.id)]
        ref = supplier_ref(order)
        if order.status != PAID or order.supplier_order_no:
            return
    try:
        accepted = gateway.push_order(ref, lines)
    except SupplierStockShort:
        with database.unit_of_work() as db:
            order = lifecycle.load(db, order_id)
            refund_order(
                db,
                order,
                (PAID,),
                "合作药房库存不足，全额退款",
                kind="stock_short",
                actor=None,
                ctx=system_context(order.institution_id, "supplier.push"),
            )
        return
    with database.unit_of_work() as db:
        moved = db.execute(
            update(DrugOrder)
            .where(DrugOrder.id == order_id, DrugOrder.supplier_order_no.is_(None))
            .values(supplier_order_no=accepted.supplier_order_no)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            order = lifecycle.load(db, order_id)
            lifecycle.record_event(
                db, order, "pushed_to_supplier", None, {"supplier_order_no": accepted.supplier_order_no}
            )


def refund_settled(db: Session, reference_id: str, refund_id: int) -> None:
    """Tell the patient their drug payment came back (BJ 5.4.1.1)."""
    order = db.get(DrugOrder, ordering.order_id_of_reference(reference_id), populate_existing=True)
    if order is None or order.bill_id is None:
        return
    bill = db.get(Bill, order.bill_id)
    refund = next((r for r in billing.refunds_of(db, bill) if r.id == refund_id), None) if bill else None
    if refund is None:
        return
    lifecycle.record_event(db, order, "refund_settled", None, {"refund_id": refund_id})
    notify(
        db,
        institution_id=order.institution_id,
        recipient_account_id=order.account_id,
        event=Event.REFUND_PROGRESS,
        variables={
            "patient_name": patient_name(db, order),
            "item": "药品费",
            "amount_yuan": lifecycle.yuan(refund.amount_fen),
            "refund_status": "已退款成功",
            "refund_channel": CHANNEL_NAMES.get(refund.channel, refund.channel),
            "refund_arrival": refund.expected_arrival,
        },
        link=lifecycle.link(order),
    )
