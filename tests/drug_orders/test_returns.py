"""A parcel the courier brings back: handed_over -> returned once (duplicates and stale waybills move
nothing), the pharmacist's receipt with inspection (intact -> stock back exactly once; damaged ->
written off), then the patient's choice: reship with a new waybill through to sign-off, or a full
refund. Guards: 401, 403 (patient, doctor, pharmacy staff), 404 elsewhere, fields named."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ihis.billing.models import Refund
from ihis.drug_orders.models import DrugOrderEvent
from ihis.formulary import stock
from ihis.formulary.demo import seed_demo_formulary
from ihis.formulary.models import Drug, DrugRevision, DrugStock, Pharmacy, StockReservation
from ihis.identity.models import UserAccount
from ihis.notifications.models import Message
from ihis.platform import outbox
from ihis.platform.audit import AuditContext
from ihis.platform.db import Database
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_drug_orders import (
    API,
    OrderWorld,
    address_body,
    as_patient,
    confirm,
    current,
    order_world,
    pharmacy_staff,
    stock_of,
)
from tests.factories_org import audit_actions, problem_fields
from tests.factories_registration import pay

PH = f"{API}/pharmacy/orders"
COURIER = "/sandbox/courier/waybills"


@dataclass
class Handed:
    ow: OrderWorld
    waybill: str
    pharmacist: UserAccount
    dispenser: UserAccount
    on_hand: int  # of D001 before the order


def _handed_over(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> Handed:
    ow = order_world(db)
    on_hand = stock_of(db, ow.hospital, ow.drugs["D001"]).on_hand
    as_patient(client, db, ow, settings)
    pay(client, anon, confirm(client, ow, pickup="delivery")["bill_id"])
    pharmacist = pharmacy_staff(db, ow, name="复核药师")
    dispenser = pharmacy_staff(db, ow, roles=("pharmacy_staff",))
    login_as(client, db, dispenser, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, pharmacist, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    handed = client.post(f"{PH}/{ow.order.id}/handover")
    assert handed.status_code == 200, handed.text
    return Handed(ow, handed.json()["waybill_no"], pharmacist, dispenser, on_hand)


def _returned(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> Handed:
    h = _handed_over(client, anon, db, settings)
    assert anon.post(f"{COURIER}/{h.waybill}/advance").status_code == 200  # picked up
    assert anon.post(f"{COURIER}/{h.waybill}/advance", params={"status": "returned"}).status_code == 200
    return h


def _kinds(db: Session, order_id: int, kind: str) -> int:
    return (
        db.scalar(
            select(func.count()).where(DrugOrderEvent.order_id == order_id, DrugOrderEvent.kind == kind)
        )
        or 0
    )


def test_the_couriers_returned_event_moves_the_order_once_and_tells_the_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order = current(db, h.ow.order.id)
    assert order.status == "returned" and order.pickup_code is None and order.pickup_code_hash is None
    payload = {
        "institution_id": h.ow.world.inst.id,
        "ref": f"drug-order-{order.id}",
        "waybill_no": h.waybill,
        "status": "returned",
        "occurred_at": "2026-01-01T10:00:00+08:00",
    }
    outbox.emit(db, "logistics.shipment.returned", payload, key="dup-returned")
    db.commit()
    assert current(db, order.id).status == "returned"
    assert _kinds(db, order.id, "courier.returned") == 1
    told = list(
        db.scalars(
            select(Message.body).where(
                Message.recipient_account_id == h.ow.who.account.id, Message.event == "drug_order_progress"
            )
        )
    )
    assert sum("退回药房" in body for body in told) == 1
    assert "drug_order.courier.returned" in audit_actions(db, "drug_order", order.id)
    login_as(client, db, h.dispenser, settings)  # the returned parcel waits in the pharmacy's queue
    assert order.id in [o["id"] for o in client.get(PH).json()]


def test_a_delivered_order_or_another_waybill_is_not_returned(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _handed_over(client, anon, db, settings)
    order_id = h.ow.order.id
    payload = {
        "institution_id": h.ow.world.inst.id,
        "ref": f"drug-order-{order_id}",
        "waybill_no": "SX000000000001",  # not the order's parcel
        "status": "returned",
        "occurred_at": "2026-01-01T10:00:00+08:00",
    }
    outbox.emit(db, "logistics.shipment.returned", payload, key="stale-returned")
    db.commit()
    assert current(db, order_id).status == "handed_over"
    assert anon.post(f"{COURIER}/{h.waybill}/advance", params={"status": "delivered"}).status_code == 200
    assert current(db, order_id).status == "delivered"
    outbox.emit(db, "logistics.shipment.returned", {**payload, "waybill_no": h.waybill}, key="late-returned")
    db.commit()
    assert current(db, order_id).status == "delivered"  # delivered is final at the courier too


def test_an_intact_return_goes_back_to_stock_exactly_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order_id, d001 = h.ow.order.id, h.ow.drugs["D001"]
    shipped = stock_of(db, h.ow.hospital, d001)
    assert (shipped.on_hand, shipped.reserved) == (h.on_hand - 2, 0)
    login_as(client, db, h.pharmacist, settings)
    received = client.post(f"{PH}/{order_id}/return-receipt", json={"condition": "intact"})
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "returned"
    assert received.json()["timeline"][-1]["detail"]["condition"] == "intact"
    back = stock_of(db, h.ow.hospital, d001)
    assert (back.on_hand, back.reserved) == (h.on_hand, 2)  # on the shelf, held for the patient's choice
    again = client.post(f"{PH}/{order_id}/return-receipt", json={"condition": "intact"})
    assert again.status_code == 409
    ctx = AuditContext(None, "system", "test", h.ow.world.inst.id, None, None)
    assert stock.restock(db, h.ow.world.inst.id, f"order:{order_id}", actor=ctx) == 0  # idempotent
    db.commit()
    still = stock_of(db, h.ow.hospital, d001)
    assert (still.on_hand, still.reserved) == (h.on_hand, 2)
    assert "drug_order.return_received" in audit_actions(db, "drug_order", order_id)


def test_a_damaged_return_is_written_off_and_can_only_be_refunded(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order_id, d001 = h.ow.order.id, h.ow.drugs["D001"]
    login_as(client, db, h.pharmacist, settings)
    url = f"{PH}/{order_id}/return-receipt"
    assert problem_fields(client.post(url, json={"condition": "damaged"})) == ["body.note"]  # the reason
    assert problem_fields(client.post(url, json={"condition": "broken"})) == ["body.condition"]
    resolve = f"{PH}/{order_id}/return-resolution"
    early = client.post(resolve, json={"choice": "refund", "note": "电话联系患者，选择退款"})
    assert early.status_code == 409  # inspect first
    done = client.post(url, json={"condition": "damaged", "note": "外包装破损，封签撕开"})
    assert done.status_code == 200, done.text
    after = stock_of(db, h.ow.hospital, d001)
    assert (after.on_hand, after.reserved) == (h.on_hand - 2, 0)  # nothing back on the shelf
    assert _kinds(db, order_id, "return_written_off") == 1
    reship = client.post(resolve, json={"choice": "reship", "note": "电话联系患者，要求重新配送"})
    assert reship.status_code == 409
    refunded = client.post(resolve, json={"choice": "refund", "note": "电话联系患者，选择退款"})
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    order = current(db, order_id)
    assert [r.amount_fen for r in db.scalars(select(Refund).where(Refund.bill_id == order.bill_id))] == [
        order.self_pay_fen
    ]
    final = stock_of(db, h.ow.hospital, d001)
    assert (final.on_hand, final.reserved) == (h.on_hand - 2, 0)
    assert client.post(resolve, json={"choice": "refund", "note": "再次退款"}).status_code == 409


def test_an_intact_return_refunded_frees_the_stock(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order_id = h.ow.order.id
    login_as(client, db, h.pharmacist, settings)
    client.post(f"{PH}/{order_id}/return-receipt", json={"condition": "intact"})
    refunded = client.post(
        f"{PH}/{order_id}/return-resolution", json={"choice": "refund", "note": "患者不再需要，选择退款"}
    )
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    free = stock_of(db, h.ow.hospital, h.ow.drugs["D001"])
    assert (free.on_hand, free.reserved) == (h.on_hand, 0)
    assert "drug_order.return_refunded" in audit_actions(db, "drug_order", order_id)


def test_a_reship_books_a_new_waybill_and_ends_in_a_sign_off(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order_id, d001 = h.ow.order.id, h.ow.drugs["D001"]
    as_patient(client, db, h.ow, settings)
    moved = client.post(f"{API}/me/addresses", json=address_body(detail="朝阳区建国路88号1号楼"))
    new_address = moved.json()["id"]
    other = order_world(db)  # another patient's address is refused
    as_patient(client, db, other, settings)
    foreign = client.post(f"{API}/me/addresses", json=address_body()).json()["id"]
    login_as(client, db, h.pharmacist, settings)
    client.post(f"{PH}/{order_id}/return-receipt", json={"condition": "intact"})
    resolve = f"{PH}/{order_id}/return-resolution"
    note = "电话联系患者，地址有误，改址后重新配送"
    assert problem_fields(client.post(resolve, json={"choice": "resend", "note": note})) == ["body.choice"]
    assert problem_fields(client.post(resolve, json={"choice": "reship"})) == ["body.note"]
    bad_address = client.post(resolve, json={"choice": "reship", "note": note, "address_id": foreign})
    assert problem_fields(bad_address) == ["body.address_id"]
    reshipped = client.post(resolve, json={"choice": "reship", "note": note, "address_id": new_address})
    assert reshipped.status_code == 200 and reshipped.json()["status"] == "packed"
    assert current(db, order_id).address_id == new_address
    handed = client.post(f"{PH}/{order_id}/handover")
    assert handed.status_code == 200, handed.text
    second = handed.json()["waybill_no"]
    assert second and second != h.waybill and handed.json()["status"] == "handed_over"
    shipped = stock_of(db, h.ow.hospital, d001)
    assert (shipped.on_hand, shipped.reserved) == (h.on_hand - 2, 0)  # consumed again, once
    for _ in range(4):
        assert anon.post(f"{COURIER}/{second}/advance").status_code == 200
    assert current(db, order_id).status == "delivered"
    assert _kinds(db, order_id, "courier.created") == 2  # one per parcel
    as_patient(client, db, h.ow, settings)
    mine = client.get(f"{API}/me/drug-orders/{order_id}").json()
    assert mine["shipment"]["waybill_no"] == second
    assert [e["status"] for e in mine["shipment_events"]][-1] == "delivered"
    login_as(client, db, h.pharmacist, settings)
    signed = client.post(f"{PH}/{order_id}/sign-off", json={"code": mine["pickup_code"]})
    assert signed.status_code == 200 and signed.json()["status"] == "signed_off"
    assert "drug_order.return_reshipped" in audit_actions(db, "drug_order", order_id)


def test_return_endpoints_are_a_pharmacists_in_their_own_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    h = _returned(client, anon, db, settings)
    order_id = h.ow.order.id
    receipt, resolve = f"{PH}/{order_id}/return-receipt", f"{PH}/{order_id}/return-resolution"
    intact = {"condition": "intact"}
    choice = {"choice": "refund", "note": "电话联系患者，选择退款"}
    assert anon.post(receipt, json=intact).status_code == 401
    assert anon.post(resolve, json=choice).status_code == 401
    as_patient(client, db, h.ow, settings)
    assert client.post(receipt, json=intact).status_code == 403
    doctor = make_staff(db, h.ow.world.inst, roles=("doctor",))
    db.commit()
    login_as(client, db, doctor, settings)
    assert client.post(receipt, json=intact).status_code == 403
    login_as(client, db, h.dispenser, settings)  # pharmacy staff: not a pharmacist's inspection
    assert client.post(receipt, json=intact).status_code == 403
    assert client.post(resolve, json=choice).status_code == 403
    elsewhere = order_world(db)
    login_as(client, db, pharmacy_staff(db, elsewhere), settings)
    assert client.post(receipt, json=intact).status_code == 404
    assert client.post(resolve, json=choice).status_code == 404
    assert current(db, order_id).status == "returned"
    assert stock_of(db, h.ow.hospital, h.ow.drugs["D001"]).reserved == 0


@pytest.mark.commits
def test_concurrent_restocks_of_one_return_put_the_drugs_back_once(
    base_settings: Settings, engine: Engine
) -> None:
    database = Database(base_settings)
    ref = "order:returned-race"
    with database.unit_of_work() as db:
        inst = make_institution(db)
        drugs = seed_demo_formulary(db, inst.id)
        pharmacy = db.scalar(
            select(Pharmacy).where(Pharmacy.institution_id == inst.id, Pharmacy.kind == "hospital")
        )
        assert pharmacy is not None
        inst_id, ids = inst.id, (pharmacy.id, drugs["D001"])
        stock.reserve(db, inst_id, pharmacy.id, ref, [(drugs["D001"], 2)])
        stock.consume(db, inst_id, ref)
        on_hand = db.scalar(
            select(DrugStock.on_hand).where(DrugStock.pharmacy_id == ids[0], DrugStock.drug_id == ids[1])
        )
    ctx = AuditContext(None, "system", "test", inst_id, None, None)
    barrier = threading.Barrier(4)

    def one(_: int) -> int:
        barrier.wait()
        with database.unit_of_work() as db:
            return stock.restock(db, inst_id, ref, actor=ctx)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sorted(pool.map(one, range(4))) == [0, 0, 0, 1]
        with database.unit_of_work(write=False) as db:
            row = db.scalar(
                select(DrugStock).where(DrugStock.pharmacy_id == ids[0], DrugStock.drug_id == ids[1])
            )
            assert row is not None and (row.on_hand, row.reserved) == ((on_hand or 0) + 2, 2)
    finally:
        with database.unit_of_work() as db:
            for model in (StockReservation, DrugStock, DrugRevision, Drug, Pharmacy):
                db.execute(delete(model).where(model.institution_id == inst_id))
        database.dispose()
