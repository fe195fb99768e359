"""Drug-order jobs: reactions to prescribing, billing and courier events (outbox handlers, each
idempotent through guarded moves), and the periodic expiry with the prescription's validity."""

from __future__ import annotations

from typing import Any

import structlog
from huey import crontab

from ihis.billing.service import BILL_CLOSED, BILL_PAID, REFUND_SETTLED, event_topic
from ihis.drug_orders import courier, ordering, payment, settlement
from ihis.drug_orders.ordering import REFERENCE_TYPE
from ihis.platform import outbox
from ihis.platform.jobs import huey, runtime

log = structlog.get_logger(__name__)


@outbox.handler("prescribing.prescription_approved")
def prescription_approved(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """An approved prescription gets its drug order, awaiting the patient's confirmation."""
    with ctx.database.unit_of_work() as db:
        ordering.create_for_prescription(db, int(payload["prescription_id"]))


@outbox.handler(event_topic(BILL_PAID, REFERENCE_TYPE))
def drug_bill_paid(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Paid: reserve stock at the routed pharmacy (short -> full refund), then tell a partner supplier."""
    with ctx.database.unit_of_work() as db:
        push = payment.mark_paid(db, str(payload["reference_id"]), int(payload["bill_id"]))
    if push is not None:
        payment.push_to_supplier(ctx.database, push)


@outbox.handler(ordering.PAID_BY_INSURANCE)
def drug_order_paid_by_insurance(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Self-pay 0 (all covered by insurance): paid without a bill, then as any paid order."""
    with ctx.database.unit_of_work() as db:
        push = payment.mark_paid_by_insurance(db, int(payload["order_id"]))
    if push is not None:
        payment.push_to_supplier(ctx.database, push)


@outbox.handler(settlement.SETTLE_TOPIC)
def drug_order_insurance_settle(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """医保 settlement (2207) of a paid order; the platform down -> raises, the outbox retries."""
    settlement.settle(ctx.database, ctx.settings, int(payload["order_id"]))


@outbox.handler(settlement.CANCEL_TOPIC)
def drug_order_insurance_cancel(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """医保 reversal (2208) of a refunded order; the platform down -> raises, the outbox retries."""
    settlement.cancel(ctx.database, ctx.settings, int(payload["order_id"]))


@outbox.handler(event_topic(BILL_CLOSED, REFERENCE_TYPE))
def drug_bill_closed(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Unpaid in time: back to awaiting confirmation (a new bill on the next confirmation)."""
    with ctx.database.unit_of_work() as db:
        ordering.bill_closed(db, str(payload["reference_id"]), int(payload["bill_id"]))


@outbox.handler(event_topic(REFUND_SETTLED, REFERENCE_TYPE))
def drug_refund_settled(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """The drug payment came back: tell the patient."""
    with ctx.database.unit_of_work() as db:
        payment.refund_settled(db, str(payload["reference_id"]), int(payload["refund_id"]))


def _courier_handler(status: str) -> None:
    @outbox.handler(f"logistics.shipment.{status}")
    def shipment_status(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
        with ctx.database.unit_of_work() as db:
            courier.apply(db, status, payload)

    shipment_status.__name__ = f"shipment_{status}"


for _status in courier.STATUSES:
    _courier_handler(_status)


def expire_unpaid_orders() -> int:
    """Orders whose prescription's validity passed before payment expire."""
    ctx = runtime()
    with ctx.database.unit_of_work() as db:
        count = ordering.expire_orders(db)
    if count:
        log.info("drug_orders_expired", count=count)
    return count


@huey.periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def drug_order_expiry() -> None:
    """Every ten minutes: expire orders of prescriptions past their validity (DOMAIN §5)."""
    expire_unpaid_orders()
