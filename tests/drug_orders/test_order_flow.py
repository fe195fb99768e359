"""The loop through HTTP: approval -> order, confirm, pay at the cashier, dispense, re-check by another
pharmacist, pack, ready at the window, sign-off with the pickup code; delivery with the courier sandbox."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.drug_orders.models import DrugOrder, DrugOrderEvent
from ihis.notifications.models import Message
from ihis.platform import outbox
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    approved_prescription,
    as_patient,
    confirm,
    current,
    order_world,
    pharmacy_staff,
    stock_of,
)
from tests.factories_registration import pay

PH = f"{API}/pharmacy/orders"


def test_the_approval_event_creates_one_order_per_prescription(db: Session) -> None:
    ow = order_world(db)
    rx = approved_prescription(db, ow.world, ow.who, ow.drugs, [("D001", 1), ("D003", 2)])
    for _ in range(2):  # delivered twice: still one order
        outbox.emit(
            db,
            "prescribing.prescription_approved",
            {"prescription_id": rx.id, "institution_id": rx.institution_id},
        )
        db.commit()
    orders = list(db.scalars(select(DrugOrder).where(DrugOrder.prescription_id == rx.id)))
    assert len(orders) == 1
    order = orders[0]
    assert order.status == "awaiting_confirmation" and order.total_fen == rx.total_fen
    assert order.number == rx.number


def test_window_pickup_from_confirmation_to_sign_off(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    before = stock_of(db, ow.hospital, ow.drugs["D001"]).on_hand
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="window")
    assert confirmed["status"] == "awaiting_payment" and confirmed["pharmacy_id"] == ow.hospital.id
    bill = db.get(Bill, confirmed["bill_id"])
    assert bill is not None and bill.amount_fen == ow.order.total_fen and bill.kind == "drug"
    pay(client, anon, confirmed["bill_id"])
    assert current(db, ow.order.id).status == "paid"
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 2

    dispenser = pharmacy_staff(db, ow, roles=("pharmacy_staff",), name="调配员")
    checker = pharmacy_staff(db, ow, name="复核药师")
    login_as(client, db, dispenser, settings)
    queue = client.get(PH)
    assert queue.status_code == 200 and [o["id"] for o in queue.json()] == [ow.order.id]
    assert client.post(f"{PH}/{ow.order.id}/dispense").json()["status"] == "dispensing"
    login_as(client, db, checker, settings)
    rechecked = client.post(f"{PH}/{ow.order.id}/recheck", json={"note": "用法用量适宜"})
    assert rechecked.status_code == 200 and rechecked.json()["rechecked_by"] == checker.id
    assert client.post(f"{PH}/{ow.order.id}/pack").json()["status"] == "packed"
    ready = client.post(f"{PH}/{ow.order.id}/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready_for_pickup"
    assert "pickup_code" not in ready.json()  # staff never see the code
    after = stock_of(db, ow.hospital, ow.drugs["D001"])
    assert after.on_hand == before - 2 and after.reserved == 0

    as_patient(client, db, ow, settings)
    mine = client.get(f"{API}/me/drug-orders/{ow.order.id}").json()
    code = mine["pickup_code"]
    assert code is not None and len(code) == 6 and code.isdigit()
    login_as(client, db, checker, settings)
    signed = client.post(f"{PH}/{ow.order.id}/sign-off", json={"code": code})
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed_off" and signed.json()["signoff_method"] == "code"
    kinds = [e.kind for e in db.scalars(select(DrugOrderEvent).where(DrugOrderEvent.order_id == ow.order.id))]
    assert kinds == [
        "created",
        "confirmed",
        "paid",
        "stock_reserved",
        "dispensed",
        "rechecked",
        "packed",
        "ready_for_pickup",
        "signed_off",
    ]
    as_patient(client, db, ow, settings)
    done = client.get(f"{API}/me/drug-orders/{ow.order.id}").json()
    assert done["pickup_code"] is None
    assert done["guidance"] and done["guidance"][0]["usage"].startswith("5mg qd po")


def test_delivery_hands_over_to_the_courier_and_its_events_move_the_order_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="delivery")
    pay(client, anon, confirmed["bill_id"])
    checker = pharmacy_staff(db, ow, name="复核药师")
    dispenser = pharmacy_staff(db, ow, roles=("pharmacy_staff",))
    login_as(client, db, dispenser, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    assert client.post(f"{PH}/{ow.order.id}/ready").status_code == 409  # a delivery is handed over
    handed = client.post(f"{PH}/{ow.order.id}/handover")
    assert handed.status_code == 200, handed.text
    waybill = handed.json()["waybill_no"]
    assert waybill and handed.json()["status"] == "handed_over"

    for _ in range(4):  # picked_up, in_transit, out_for_delivery, delivered
        assert anon.post(f"/sandbox/courier/waybills/{waybill}/advance").status_code == 200
    order = current(db, ow.order.id)
    assert order.status == "delivered"
    payload = {
        "institution_id": ow.world.inst.id,
        "ref": f"drug-order-{ow.order.id}",
        "waybill_no": waybill,
        "status": "delivered",
        "occurred_at": "2026-01-01T10:00:00+08:00",
    }
    outbox.emit(db, "logistics.shipment.delivered", payload, key="dup-delivered")
    outbox.emit(db, "logistics.shipment.picked_up", {**payload, "status": "picked_up"}, key="dup-picked")
    db.commit()
    counted = dict(
        db.execute(
            select(DrugOrderEvent.kind, func.count())
            .where(DrugOrderEvent.order_id == ow.order.id, DrugOrderEvent.kind.like("courier.%"))
            .group_by(DrugOrderEvent.kind)
        ).all()
    )
    assert counted == {
        "courier.created": 1,
        "courier.picked_up": 1,
        "courier.in_transit": 1,
        "courier.out_for_delivery": 1,
        "courier.delivered": 1,
    }

    as_patient(client, db, ow, settings)
    mine = client.get(f"{API}/me/drug-orders/{ow.order.id}").json()
    assert [e["status"] for e in mine["shipment_events"]][-1] == "delivered"
    assert mine["shipment"]["receiver_phone"] != "13800138000"  # masked
    code = mine["pickup_code"]
    login_as(client, db, checker, settings)  # the pharmacy records the courier's confirmation
    assert client.post(f"{PH}/{ow.order.id}/sign-off", json={"code": code}).json()["status"] == "signed_off"
    told = db.scalars(
        select(Message.body)
        .where(Message.recipient_account_id == ow.who.account.id, Message.event == "drug_order_progress")
        .order_by(Message.id)
    )
    bodies = list(told)
    assert len(bodies) == 2 and "运单号" in bodies[0] and "正在派送" in bodies[1]
