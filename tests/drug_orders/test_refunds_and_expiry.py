"""Refunds (BJ 5.4.2.1): before handover on request with the pharmacy's approval (stock released, full
refund by the channel); refused -> the work resumes; after handover only the recorded special process.
Short stock at payment -> refunded in full automatically. Unpaid bills and expired prescriptions."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, Refund
from ihis.drug_orders import ordering
from ihis.drug_orders.jobs import expire_unpaid_orders
from ihis.drug_orders.models import DrugOrder, DrugOrderEvent
from ihis.formulary.models import DrugStock
from ihis.platform import outbox
from ihis.platform.clock import local_today, utcnow
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    as_patient,
    confirm,
    current,
    order_world,
    pharmacy_staff,
    stock_of,
)
from tests.factories_org import audit_actions, problem_fields
from tests.factories_registration import pay

ME = f"{API}/me/drug-orders"
PH = f"{API}/pharmacy/orders"


def _paid_at_cashier(client: TestClient, anon: TestClient, db: Session, settings: Settings, **kw):  # type: ignore[no-untyped-def]
    ow = order_world(db, **kw)
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="window")
    pay(client, anon, confirmed["bill_id"])
    return ow


def test_a_refund_before_handover_releases_the_stock_and_refunds_in_full(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_at_cashier(client, anon, db, settings)
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 2
    assert problem_fields(client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "x"})) == [
        "body.reason"
    ]
    asked = client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "病情变化，医生建议停药"})
    assert asked.status_code == 200 and asked.json()["status"] == "refund_requested"
    login_as(client, db, pharmacy_staff(db, ow), settings)
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 409  # on hold meanwhile
    decided = client.post(f"{PH}/{ow.order.id}/refund-decision", json={"approve": True})
    assert decided.status_code == 200 and decided.json()["status"] == "refunded"
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 0
    order = current(db, ow.order.id)
    refunds = list(db.scalars(select(Refund).where(Refund.bill_id == order.bill_id)))
    assert [r.amount_fen for r in refunds] == [order.self_pay_fen]
    assert "drug_order.refund_approved" in audit_actions(db, "drug_order", ow.order.id)
    assert client.post(f"{PH}/{ow.order.id}/refund-decision", json={"approve": True}).status_code == 409


def test_a_refused_refund_resumes_the_work_where_it_was(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_at_cashier(client, anon, db, settings)
    client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "不想要了"})
    login_as(client, db, pharmacy_staff(db, ow), settings)
    url = f"{PH}/{ow.order.id}/refund-decision"
    assert problem_fields(client.post(url, json={"approve": False})) == ["body.note"]
    assert problem_fields(client.post(url, json={})) == ["body.approve"]
    refused = client.post(url, json={"approve": False, "note": "药品已调配，不符合退款条件"})
    assert refused.status_code == 200 and refused.json()["status"] == "paid"
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 2


def test_after_handover_only_the_special_process_refunds(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_at_cashier(client, anon, db, settings)
    staff, checker = pharmacy_staff(db, ow, roles=("pharmacy_staff",)), pharmacy_staff(db, ow)
    login_as(client, db, staff, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    client.post(f"{PH}/{ow.order.id}/ready")
    as_patient(client, db, ow, settings)
    assert client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "不想要了"}).status_code == 409
    login_as(client, db, staff, settings)
    special = {"reason": "批号质量问题召回", "parties": ["药剂科", "医务处", "患者"]}
    assert (
        client.post(f"{PH}/{ow.order.id}/special-refund", json=special).status_code == 403
    )  # a pharmacist's act
    login_as(client, db, checker, settings)
    url = f"{PH}/{ow.order.id}/special-refund"
    assert problem_fields(client.post(url, json={**special, "parties": []})) == ["body.parties"]
    done = client.post(url, json=special)
    assert done.status_code == 200 and done.json()["status"] == "refunded"
    kinds = [e.kind for e in db.scalars(select(DrugOrderEvent).where(DrugOrderEvent.order_id == ow.order.id))]
    assert kinds.index("special_refund") + 1 == kinds.index("special_refund_parties")
    assert kinds[-1] == "refund_settled"  # the channel paid it back and the patient was told
    assert "drug_order.special_refund" in audit_actions(db, "drug_order", ow.order.id)


def test_short_stock_at_payment_refunds_in_full_and_tells_the_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    db.execute(update(DrugStock).where(DrugStock.pharmacy_id == ow.hospital.id).values(on_hand=1))
    db.commit()
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="window")
    pay(client, anon, confirmed["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "refunded"
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 0
    assert db.scalar(select(Refund.amount_fen).where(Refund.bill_id == order.bill_id)) == order.self_pay_fen


def test_a_closed_unpaid_bill_returns_the_order_to_confirmation_with_a_new_bill_next(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    first = confirm(client, ow, pickup="window")
    bill = db.get(Bill, first["bill_id"])
    assert bill is not None
    db.execute(update(Bill).where(Bill.id == bill.id).values(status="closed"))
    payload = {
        "bill_id": bill.id,
        "institution_id": bill.institution_id,
        "reference_type": "drug_order",
        "reference_id": bill.reference_id,
        "amount_fen": bill.amount_fen,
    }
    for _ in range(2):
        outbox.emit(db, "billing.bill_closed.drug_order", payload)
        db.commit()
    assert current(db, ow.order.id).status == "awaiting_confirmation"
    second = confirm(client, ow, pickup="window")
    assert second["bill_id"] != first["bill_id"] and second["status"] == "awaiting_payment"


def test_orders_of_prescriptions_past_their_validity_expire(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    fresh = order_world(db)
    yesterday = local_today() - dt.timedelta(days=1)
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(valid_until=yesterday))
    db.commit()
    assert expire_unpaid_orders() >= 1
    order = current(db, ow.order.id)
    assert order.status == "expired" and current(db, fresh.order.id).status == "awaiting_confirmation"
    bill = db.get(Bill, order.bill_id)
    assert bill is not None and bill.expires_at <= utcnow()  # billing's job closes it at the channel
    assert expire_unpaid_orders() == 0  # once
    as_patient(client, db, ow, settings)
    refused = client.post(f"{ME}/{fresh.order.id}/confirm", json={"pickup": "window"})
    assert refused.status_code == 404  # not theirs
    assert ordering.order_id_of_reference(bill.reference_id) == ow.order.id
