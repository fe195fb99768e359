"""Order creation from an approved prescription, the patient's confirmation (drug list, pickup method,
address) with the drug bill, an unpaid bill closing, and expiry with the prescription's validity
(DOMAIN §5 validity, §6; BJ 5.3.4, 5.3.7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.billing import service as billing
from ihis.drug_orders import lifecycle, settlement
from ihis.drug_orders.lifecycle import OrderChanged, system_context
from ihis.drug_orders.models import (
    AWAITING_CONFIRMATION,
    AWAITING_PAYMENT,
    CANCELLED,
    DELIVERY,
    EXPIRED,
    PARTNER_PHARMACY,
    PICKUPS,
    WINDOW,
    DrugOrder,
    DrugOrderLine,
    PatientAddress,
)
from ihis.formulary.models import Pharmacy
from ihis.identity.access import Actor
from ihis.platform import audit, outbox
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.prescribing.models import Prescription, PrescriptionLine
from ihis.settings import Settings

REFERENCE_TYPE = "drug_order"
# An order whose self-pay part is 0 (all covered by insurance) is paid without a bill.
PAID_BY_INSURANCE = "drug_orders.paid_by_insurance"
APPROVED = "approved"


class PrescriptionExpired(Conflict):
    code = "prescription_expired"

    def __init__(self) -> None:
        super().__init__(
            "处方已过有效期，请联系医生重新开具", "The prescription has expired; ask for a new one"
        )


def _usage(line: PrescriptionLine) -> str:
    return f"{line.dose}{line.dose_unit} {line.frequency} {line.route} {line.days}天"


def create_for_prescription(db: Session, prescription_id: int) -> DrugOrder | None:
    """One order per approved prescription, its lines priced from the prescription (idempotent)."""
    existing = db.scalar(select(DrugOrder).where(DrugOrder.prescription_id == prescription_id))
    if existing is not None:
        return existing
    rx = db.get(Prescription, prescription_id, populate_existing=True)
    if rx is None or rx.status != APPROVED:
        return None
    lines = list(
        db.scalars(
            select(PrescriptionLine)
            .where(PrescriptionLine.prescription_id == rx.id)
            .order_by(PrescriptionLine.position)
        )
    )
    total = sum(line.amount_fen for line in lines)
    try:
        with db.begin_nested():  # a concurrent delivery of the same event: the unique key decides
            order = DrugOrder(
                institution_id=rx.institution_id,
                prescription_id=rx.id,
                number=rx.number,
                account_id=rx.account_id,
                visitor_id=rx.visitor_id,
                status=AWAITING_CONFIRMATION,
                valid_until=rx.valid_until,
                total_fen=total,
                self_pay_fen=total,
                insurance_fen=0,
                pickup_attempts=0,
                bill_attempt=0,
                version=1,
            )
            db.add(order)
            db.flush()
            for line in lines:
                db.add(
                    DrugOrderLine(
                        institution_id=rx.institution_id,
                        order_id=order.id,
                        position=line.position,
                        drug_id=line.drug_id,
                        drug_code=line.drug_code,
                        drug_name=line.drug_name,
                        strength=line.strength,
                        package=line.package,
                        usage=_usage(line),
                        quantity=line.quantity,
                        unit_price_fen=line.unit_price_fen,
                        amount_fen=line.amount_fen,
                    )
                )
            db.flush()
    except IntegrityError:
        return db.scalar(select(DrugOrder).where(DrugOrder.prescription_id == prescription_id))
    lifecycle.record_event(db, order, "created", None, {"total_fen": total})
    audit.record(
        db,
        system_context(order.institution_id, "drug_orders.create"),
        "drug_order.create",
        resource_type=lifecycle.RESOURCE,
        resource_id=order.id,
        patient_id=order.visitor_id,
        detail={"prescription_id": rx.id, "total_fen": total},
    )
    # The patient was already told by the review ("prescription_approved": confirm and pay).
    return order


def own_order(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    """The caller's own order, else 404 (another patient's order does not exist for them)."""
    order = db.scalar(
        select(DrugOrder)
        .where(
            DrugOrder.id == order_id,
            DrugOrder.institution_id == actor.institution_id,
            DrugOrder.account_id == actor.user_id,
        )
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("订单不存在", "Order not found")
    return order


def own_orders(db: Session, actor: Actor) -> list[DrugOrder]:
    return list(
        db.scalars(
            select(DrugOrder)
            .where(DrugOrder.institution_id == actor.institution_id, DrugOrder.account_id == actor.user_id)
            .order_by(DrugOrder.id.desc())
            .limit(100)
        )
    )


def lines_of(db: Session, order_id: int) -> list[DrugOrderLine]:
    return list(
        db.scalars(
            select(DrugOrderLine).where(DrugOrderLine.order_id == order_id).order_by(DrugOrderLine.position)
        )
    )


def hospital_pharmacy(db: Session, institution_id: int) -> Pharmacy | None:
    return db.scalar(
        select(Pharmacy)
        .where(
            Pharmacy.institution_id == institution_id, Pharmacy.kind == "hospital", Pharmacy.active.is_(True)
        )
        .order_by(Pharmacy.id)
    )


def _route(db: Session, actor: Actor, pickup: str, address_id: int | None, pharmacy_id: int | None) -> int:
    """The pharmacy the order goes to; a delivery's address must be the caller's own."""
    if pickup not in PICKUPS:
        raise InvalidInput.field("body.pickup", "pickup_invalid", "取药方式不正确", "Unknown pickup method")
    if pickup == DELIVERY:
        address = db.scalar(
            select(PatientAddress).where(
                PatientAddress.id == (address_id or 0),
                PatientAddress.account_id == actor.user_id,
                PatientAddress.institution_id == actor.institution_id,
                PatientAddress.removed.is_(False),
            )
        )
        if address is None:
            raise InvalidInput.field(
                "body.address_id", "address_not_found", "请选择地址簿中的收货地址", "Choose an address"
            )
    if pickup == PARTNER_PHARMACY:
        supplier = db.scalar(
            select(Pharmacy).where(
                Pharmacy.id == (pharmacy_id or 0),
                Pharmacy.institution_id == actor.institution_id,
                Pharmacy.kind == "supplier",
                Pharmacy.active.is_(True),
            )
        )
        if supplier is None:
            raise InvalidInput.field(
                "body.pharmacy_id", "pharmacy_not_found", "请选择合作药房", "Choose a partner pharmacy"
            )
        return supplier.id
    hospital = hospital_pharmacy(db, actor.institution_id)
    if hospital is None:
        raise Conflict("医院药房暂不可用", "The hospital pharmacy is not available")
    return hospital.id


def _confirmable(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    order = own_order(db, actor, order_id)
    if order.status != AWAITING_CONFIRMATION:
        raise OrderChanged(order.status)
    if order.valid_until is not None and order.valid_until < local_today():
        raise PrescriptionExpired()
    return order


def confirmation_request(
    db: Session,
    actor: Actor,
    order_id: int,
    *,
    pickup: str,
    address_id: int | None,
    pharmacy_id: int | None,
    self_pay: bool = False,
) -> settlement.SplitRequest:
    """Check a confirmation before the insurance platform is asked (read unit, closed before the call):
    the order awaits confirmation and is valid, the pickup is routable; what the pre-settlement needs."""
    order = _confirmable(db, actor, order_id)
    _route(db, actor, pickup, address_id, pharmacy_id)
    return settlement.split_request(db, order, self_pay=self_pay)


def confirm(
    db: Session,
    actor: Actor,
    order_id: int,
    settings: Settings,
    *,
    pickup: str,
    address_id: int | None,
    pharmacy_id: int | None,
    parts: tuple[int, int],
) -> DrugOrder:
    """The patient confirms drugs, pickup and address with the (self-pay, insurance) ``parts`` the
    platform pre-settled (``settlement.split``): the drug bill (the self-pay part) is created and the
    order awaits payment. All covered by insurance (self-pay 0): no bill; the order is paid through the
    outbox (``drug_orders.paid_by_insurance``) and settled like any other."""
    order = _confirmable(db, actor, order_id)
    routed = _route(db, actor, pickup, address_id, pharmacy_id)
    self_pay_fen, insurance_fen = parts
    if self_pay_fen + insurance_fen != order.total_fen:
        raise OrderChanged(order.status)
    attempt = order.bill_attempt + 1
    insured = {
        "self_pay_fen": self_pay_fen,
        "insurance_fen": insurance_fen,
        "insurance_state": settlement.PENDING if insurance_fen else None,
        "insurance_settlement_id": None,
    }
    if self_pay_fen == 0 and insurance_fen > 0:
        lifecycle.must_move(
            db,
            order,
            (AWAITING_CONFIRMATION,),
            AWAITING_PAYMENT,
            kind="confirmed",
            actor=actor,
            detail={"pickup": pickup, "pharmacy_id": routed, "bill_id": None},
            pickup=pickup,
            pharmacy_id=routed,
            address_id=address_id if pickup == DELIVERY else None,
            bill_id=None,
            bill_attempt=attempt,
            **insured,
        )
        outbox.emit(db, PAID_BY_INSURANCE, {"order_id": order.id}, key=f"{order.id}-{attempt}")
        return order
    now = utcnow()
    bill = billing.create_bill(
        db,
        institution_id=order.institution_id,
        payer_account_id=order.account_id,
        kind="drug",
        subject=f"药品费 {order.number}",
        reference_type=REFERENCE_TYPE,
        reference_id=f"{order.id}-{attempt}",
        amount_fen=self_pay_fen,
        expires_at=now + dt.timedelta(minutes=settings.bill_hold_minutes),
        visitor_id=order.visitor_id,
    )
    lifecycle.must_move(
        db,
        order,
        (AWAITING_CONFIRMATION,),
        AWAITING_PAYMENT,
        kind="confirmed",
        actor=actor,
        detail={"pickup": pickup, "pharmacy_id": routed, "bill_id": bill.id},
        pickup=pickup,
        pharmacy_id=routed,
        address_id=address_id if pickup == DELIVERY else None,
        bill_id=bill.id,
        bill_attempt=attempt,
        **insured,
    )
    return order


def cancel(db: Session, actor: Actor, order_id: int) -> DrugOrder:
    """The patient cancels before paying; an open bill is brought to its deadline (closed by billing's
    job at the channel; money that still arrives is refunded by the paid reaction)."""
    order = own_order(db, actor, order_id)
    bill_id = order.bill_id
    lifecycle.must_move(
        db,
        order,
        (AWAITING_CONFIRMATION, AWAITING_PAYMENT),
        CANCELLED,
        kind="cancelled",
        actor=actor,
        insurance_state=None,  # never settled: a settlement is asked for only once paid
    )
    if bill_id is not None:
        billing.expire_unpaid(db, bill_id)
    return order


def order_id_of_reference(reference_id: str) -> int:
    """``"<order id>-<attempt>"`` -> the order id."""
    return int(str(reference_id).split("-", 1)[0])


def bill_closed(db: Session, reference_id: str, bill_id: int) -> bool:
    """An unpaid drug bill closed: the order goes back to awaiting confirmation (a new bill on the
    next confirmation) until the prescription's validity ends and the expiry job closes it."""
    order = db.get(DrugOrder, order_id_of_reference(reference_id), populate_existing=True)
    if order is None or order.bill_id != bill_id:
        return False
    return lifecycle.move(
        db,
        order,
        (AWAITING_PAYMENT,),
        AWAITING_CONFIRMATION,
        kind="bill_closed",
        actor=None,
        ctx=system_context(order.institution_id, "billing.bill_closed"),
        detail={"bill_id": bill_id},
        bill_id=None,
        insurance_state=None,  # the next confirmation pre-settles again
    )


def expire_orders(db: Session, today: dt.date | None = None, *, limit: int = 500) -> int:
    """Orders of prescriptions whose validity passed before payment expire (DOMAIN §5 validity)."""
    day = today or local_today()
    due = list(
        db.scalars(
            select(DrugOrder)
            .where(
                DrugOrder.status.in_((AWAITING_CONFIRMATION, AWAITING_PAYMENT)),
                DrugOrder.valid_until < day,
            )
            .order_by(DrugOrder.id)
            .limit(limit)
        )
    )
    count = 0
    for order in due:
        bill_id = order.bill_id
        if lifecycle.move(
            db,
            order,
            (AWAITING_CONFIRMATION, AWAITING_PAYMENT),
            EXPIRED,
            kind="expired",
            actor=None,
            ctx=system_context(order.institution_id, "drug_orders.expire"),
            detail={"valid_until": str(order.valid_until)},
            insurance_state=None,
        ):
            count += 1
            if bill_id is not None:  # the close job closes it at the channel on its next round
                billing.expire_unpaid(db, bill_id)
    return count


WINDOW_PICKUPS = (WINDOW, PARTNER_PHARMACY)
