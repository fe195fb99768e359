"""The paid reaction: a partner supplier gets the order pushed (outside any transaction); a repeated
paid event changes nothing; money arriving for an expired order goes back."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, Refund
from ihis.drug_orders import payment
from ihis.drug_orders.models import DrugOrder, DrugOrderEvent
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    as_patient,
    confirm,
    current,
    emit_paid,
    order_world,
    pharmacy_staff,
    stock_of,
)
from tests.factories_registration import pay

PH = f"{API}/pharmacy/orders"


def test_a_partner_pharmacy_order_is_reserved_and_pushed_to_the_supplier(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="partner_pharmacy", pharmacy_id=ow.supplier.id)
    pay(client, anon, confirmed["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "paid" and order.supplier_order_no
    assert stock_of(db, ow.supplier, ow.drugs["D001"]).reserved == 2
    kinds = list(db.scalars(select(DrugOrderEvent.kind).where(DrugOrderEvent.order_id == ow.order.id)))
    assert kinds.count("pushed_to_supplier") == 1


def test_a_repeated_paid_event_after_dispensing_changes_nothing(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="window")
    pay(client, anon, confirmed["bill_id"])
    login_as(client, db, pharmacy_staff(db, ow), settings)
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 200
    bill = db.get(Bill, confirmed["bill_id"])
    assert bill is not None
    # the handler's work, delivered again (outbox delivery is at least once)
    assert payment.mark_paid(db, bill.reference_id, bill.id) is None
    db.commit()
    assert current(db, ow.order.id).status == "dispensing"
    assert db.scalars(select(Refund).where(Refund.bill_id == bill.id)).first() is None
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 2


def test_money_arriving_for_an_expired_order_goes_back(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(status="expired"))
    db.commit()
    emit_paid(db, current(db, ow.order.id))
    order = current(db, ow.order.id)
    assert order.status == "expired"
    assert db.scalar(select(Refund.amount_fen).where(Refund.bill_id == order.bill_id)) == order.self_pay_fen
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 0
