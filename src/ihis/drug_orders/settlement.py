"""医保 settlement of a drug order (infno 2207) once the self-pay part is paid, and its reversal (2208)
on every refund. DOMAIN §7; docs/drug-orders.md "Insurance".

Both run from the outbox (``jobs.py``), so a platform outage is retried with the outbox's backoff. Each
reads the order in one unit, calls the platform with **no transaction open**, and records the answer
in another unit with a guarded ``UPDATE … WHERE insurance_state = :from``, so a re-delivered message,
a double notify or a double refund settles or reverses once. The platform deduplicates by our bill
ref (``bill_ref``), so a call repeated after a crash answers the same settlement.

``drug_order.insurance_state``: ``pending`` (pre-settled at confirmation, not yet settled) →
``settled`` → ``cancelled``; or ``pending`` → ``cancelled`` when the order is refunded before the
settlement happened. A settlement that lands after such a refund is reversed at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle
from ihis.drug_orders.lifecycle import system_context
from ihis.drug_orders.models import BEFORE_HANDOVER, REFUNDED, DrugOrder, DrugOrderLine
from ihis.formulary.models import Drug
from ihis.identity import visitor_service
from ihis.integrations.insurance import service as insurance
from ihis.integrations.insurance.protocol import InsuranceError, InsuranceGateway, InsuranceItemQuery
from ihis.platform import audit, outbox
from ihis.platform.db import Database
from ihis.platform.errors import InvalidInput
from ihis.settings import Settings

log = structlog.get_logger(__name__)

PENDING = "pending"
SETTLED = "settled"
CANCELLED = "cancelled"
SETTLE_TOPIC = "drug_orders.insurance_settle"
CANCEL_TOPIC = "drug_orders.insurance_cancel"
# Refusals after which settling again cannot succeed (the others are retried by the outbox).
FINAL_REFUSALS = frozenset({"psn_not_insured", "bill_ref_reused", "param_error", "signature_rejected"})


def bill_ref(order: DrugOrder) -> str:
    """Our bill ref at the platform: one per confirmation (a re-confirmed order settles anew)."""
    return f"I{order.institution_id}-drug-{order.id}-{order.bill_attempt}"


def insurance_items(db: Session, order: DrugOrder) -> list[InsuranceItemQuery]:
    """The order's lines as the insurance platform reads them (the drug's national insurance code)."""
    codes: dict[int, str | None] = dict(
        db.execute(
            select(Drug.id, Drug.insurance_code).where(Drug.institution_id == order.institution_id)
        ).all()
    )
    return [
        InsuranceItemQuery(codes.get(line.drug_id) or "", line.drug_name, line.quantity, line.unit_price_fen)
        for line in _lines(db, order.id)
    ]


@dataclass(frozen=True)
class SplitRequest:
    """What the pre-settlement of one order needs, read in a unit that is closed before the call."""

    total_fen: int
    insured_id: str | None
    items: list[InsuranceItemQuery]


def split_request(db: Session, order: DrugOrder, *, self_pay: bool = False) -> SplitRequest:
    """The visitor's insurance number (none when paying everything themselves) and the order's lines."""
    insured_id = None if self_pay else visitor_service.insured_number(db, order.visitor_id)
    items = insurance_items(db, order) if insured_id else []
    return SplitRequest(order.total_fen, insured_id, items)


def split(request: SplitRequest, settings: Settings) -> tuple[int, int]:
    """(self-pay, insurance) parts of the drug total (DOMAIN §6/§7: 甲乙丙 by the platform's 2206).

    Called with **no transaction open** (the platform may be slow; on SQLite an open write unit would
    also lock out the in-process sandbox). The pre-settlement records nothing at the platform. Not
    insured any more: 422 naming ``body.self_pay`` (the patient may confirm as self-pay); the platform
    down: 502 (retry, or confirm as self-pay).
    """
    if not request.insured_id:
        return request.total_fen, 0
    try:
        gateway = insurance.insurance_gateway(settings)
    except InsuranceError:
        raise insurance.platform_unavailable() from None
    try:
        result = insurance.split_bill(gateway, request.insured_id, request.items)
    except InvalidInput as exc:
        if not any(e.code == "not_insured" for e in exc.errors):
            raise
        raise InvalidInput.field(
            "body.self_pay",
            "not_insured",
            "医保参保状态异常，请选择自费支付",
            "The insurance platform reports the visitor not insured: confirm as self-pay",
        ) from None
    return result.self_pay_fen, result.insurance_fen


def _lines(db: Session, order_id: int) -> list[DrugOrderLine]:
    return list(
        db.scalars(
            select(DrugOrderLine).where(DrugOrderLine.order_id == order_id).order_by(DrugOrderLine.position)
        )
    )


def request_settlement(db: Session, order: DrugOrder) -> None:
    """After the self-pay part is paid: settle the insurance part (after commit, through the outbox)."""
    if order.insurance_state == PENDING:
        outbox.emit(db, SETTLE_TOPIC, {"order_id": order.id}, key=bill_ref(order))


def request_reversal(db: Session, order: DrugOrder) -> None:
    """The order was refunded: reverse its settlement, or make sure none happens (through the outbox)."""
    if order.insurance_state in (PENDING, SETTLED):
        outbox.emit(db, CANCEL_TOPIC, {"order_id": order.id}, key=bill_ref(order))


@dataclass(frozen=True)
class _Call:
    ref: str
    psn_no: str | None
    items: list[InsuranceItemQuery]


def _gateway(settings: Settings) -> InsuranceGateway:
    return insurance.insurance_gateway(settings)


def settle(database: Database, settings: Settings, order_id: int) -> None:
    """2207 for a paid order; raises on a platform outage so that the outbox retries."""
    with database.unit_of_work(write=False) as db:
        order = lifecycle.load(db, order_id)
        if order.insurance_state != PENDING or order.status == REFUNDED:
            return  # settled already, or refunded first (the reversal job closes the state)
        call = _Call(
            bill_ref(order),
            visitor_service.insured_number(db, order.visitor_id),
            insurance_items(db, order),
        )
    if call.psn_no is None:  # unbound between confirmation and payment: nobody to settle for
        _settlement_refused(database, order_id, "insurance_unbound")
        return
    try:
        result = _gateway(settings).settle(call.ref, call.psn_no, call.items)
    except InsuranceError as exc:
        log.warning("drug_order_settle_failed", order_id=order_id, code=exc.code)
        if exc.code == "settlement_cancelled":
            return  # reversed at the platform already: a refund won the race
        if exc.code in FINAL_REFUSALS:
            _settlement_refused(database, order_id, exc.code)
            return
        raise
    with database.unit_of_work() as db:
        order = lifecycle.load(db, order_id)
        if not _move(db, order, (PENDING,), SETTLED, insurance_settlement_id=result.settlement_id):
            if order.insurance_state == CANCELLED:  # refunded while we settled: reverse what landed
                outbox.emit(db, CANCEL_TOPIC, {"order_id": order.id}, key=f"{call.ref}-late")
            return
        lifecycle.record_event(
            db,
            order,
            "insurance_settled",
            None,
            {"settlement_id": result.settlement_id, "insurance_fen": result.split.insurance_fen},
        )
        _audit(db, order, "drug_order.insurance_settle", {"settlement_id": result.settlement_id})


def cancel(database: Database, settings: Settings, order_id: int) -> None:
    """2208 for a refunded order (idempotent); raises on a platform outage so that the outbox retries."""
    with database.unit_of_work(write=False) as db:
        order = lifecycle.load(db, order_id)
        if order.insurance_state is None:
            return
        ref = bill_ref(order)
    try:
        result = _gateway(settings).cancel_settlement(ref)
        settlement_id: str | None = result.settlement_id
    except InsuranceError as exc:
        if exc.code != "settlement_not_found":
            log.warning("drug_order_settlement_cancel_failed", order_id=order_id, code=exc.code)
            raise
        settlement_id = None  # never settled: nothing to reverse, and a late settlement is reversed
    with database.unit_of_work() as db:
        order = lifecycle.load(db, order_id)
        if not _move(db, order, (PENDING, SETTLED), CANCELLED):
            return
        lifecycle.record_event(db, order, "insurance_cancelled", None, {"settlement_id": settlement_id})
        _audit(db, order, "drug_order.insurance_cancel", {"settlement_id": settlement_id})


def _move(db: Session, order: DrugOrder, sources: tuple[str, ...], target: str, **values: str) -> bool:
    moved = db.execute(
        update(DrugOrder)
        .where(DrugOrder.id == order.id, DrugOrder.insurance_state.in_(sources))
        .values(insurance_state=target, version=DrugOrder.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    db.refresh(order)
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _audit(db: Session, order: DrugOrder, action: str, detail: dict[str, object]) -> None:
    audit.record(
        db,
        system_context(order.institution_id, "drug_orders.insurance"),
        action,
        resource_type=lifecycle.RESOURCE,
        resource_id=order.id,
        patient_id=order.visitor_id,
        detail=detail,
    )


def _settlement_refused(database: Database, order_id: int, code: str) -> None:
    """The platform will not settle this order: the patient paid only part, so the order is refunded in
    full (the insurance state closes as cancelled) and the patient can order again or pay themselves."""
    from ihis.drug_orders import payment  # payment imports this module

    with database.unit_of_work() as db:
        order = lifecycle.load(db, order_id)
        if not _move(db, order, (PENDING,), CANCELLED):
            return  # settled or reversed meanwhile by another delivery
        lifecycle.record_event(db, order, "insurance_settle_refused", None, {"code": code})
        _audit(db, order, "drug_order.insurance_settle_refused", {"code": code})
        payment.refund_order(
            db,
            order,
            BEFORE_HANDOVER,
            "医保结算未成功，已全额退款",
            kind="insurance_refused",
            actor=None,
            ctx=system_context(order.institution_id, "drug_orders.insurance"),
        )
