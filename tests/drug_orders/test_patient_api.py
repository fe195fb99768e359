"""Patient endpoints: own orders only (another patient's is 404), confirmation input named by field,
401 anonymous, 403 for staff, the QR code, the address book (masked, at most 20, one default)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.platform.clock import utcnow
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    address_body,
    as_patient,
    confirm,
    current,
    order_world,
    pharmacy_staff,
)
from tests.factories_org import audit_actions, problem_fields
from tests.factories_patient import make_consented_patient

ME = f"{API}/me/drug-orders"


def test_the_patient_lists_and_reads_own_orders_and_the_read_is_audited(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    listed = client.get(ME)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()] == [ow.order.id]
    one = client.get(f"{ME}/{ow.order.id}")
    assert one.status_code == 200
    body = one.json()
    assert body["status"] == "awaiting_confirmation" and body["pickup_code"] is None
    assert [line["drug_code"] for line in body["lines"]] == ["D001"] and body["lines"][0]["quantity"] == 2
    assert "drug_order.read" in audit_actions(db, "drug_order", ow.order.id)


def test_another_patients_order_does_not_exist_for_the_caller(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    stranger = make_consented_patient(db, ow.world.inst)
    db.commit()
    login_as(client, db, stranger, settings)
    assert client.get(ME).json() == []
    assert client.get(f"{ME}/{ow.order.id}").status_code == 404
    assert client.post(f"{ME}/{ow.order.id}/confirm", json={"pickup": "window"}).status_code == 404
    assert client.get(f"{ME}/{ow.order.id}/qr").status_code == 404
    assert client.post(f"{ME}/{ow.order.id}/cancel").status_code == 404
    assert client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "不想要了"}).status_code == 404


def test_patient_endpoints_need_a_session_and_a_patient(
    anon: TestClient, client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    for method, path in (
        ("get", ME),
        ("get", f"{ME}/{ow.order.id}"),
        ("post", f"{ME}/{ow.order.id}/confirm"),
        ("get", f"{ME}/{ow.order.id}/qr"),
        ("post", f"{ME}/{ow.order.id}/cancel"),
        ("post", f"{ME}/{ow.order.id}/refund-request"),
        ("post", f"{ME}/{ow.order.id}/adverse-reactions"),
        ("get", f"{API}/me/addresses"),
        ("post", f"{API}/me/addresses"),
        ("put", f"{API}/me/addresses/1"),
        ("delete", f"{API}/me/addresses/1"),
    ):
        assert getattr(anon, method)(path).status_code == 401, path
    login_as(client, db, pharmacy_staff(db, ow), settings)
    assert client.get(ME).status_code == 403
    assert client.get(f"{API}/me/addresses").status_code == 403


def test_confirmation_input_is_named_by_field(client: TestClient, db: Session, settings: Settings) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    url = f"{ME}/{ow.order.id}/confirm"
    assert problem_fields(client.post(url, json={"pickup": "drone"})) == ["body.pickup"]
    assert problem_fields(client.post(url, json={"pickup": "delivery"})) == ["body.address_id"]
    assert problem_fields(client.post(url, json={"pickup": "delivery", "address_id": 999999})) == [
        "body.address_id"
    ]
    hospital = client.post(url, json={"pickup": "partner_pharmacy", "pharmacy_id": ow.hospital.id})
    assert problem_fields(hospital) == ["body.pharmacy_id"]  # a partner pharmacy is a supplier
    assert current(db, ow.order.id).status == "awaiting_confirmation"


def test_another_patients_address_cannot_be_used(client: TestClient, db: Session, settings: Settings) -> None:
    ow = order_world(db)
    stranger = make_consented_patient(db, ow.world.inst)
    db.commit()
    login_as(client, db, stranger, settings)
    theirs = client.post(f"{API}/me/addresses", json=address_body()).json()["id"]
    as_patient(client, db, ow, settings)
    answer = client.post(f"{ME}/{ow.order.id}/confirm", json={"pickup": "delivery", "address_id": theirs})
    assert problem_fields(answer) == ["body.address_id"]


def test_partner_pharmacy_confirmation_routes_to_the_supplier(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    body = confirm(client, ow, pickup="partner_pharmacy", pharmacy_id=ow.supplier.id)
    assert body["pharmacy_id"] == ow.supplier.id and body["self_pay_fen"] == body["total_fen"]
    assert body["insurance_fen"] == 0  # no insurance number in the model yet: self-pay
    again = client.post(f"{ME}/{ow.order.id}/confirm", json={"pickup": "window"})
    assert again.status_code == 409


def test_the_patient_lists_the_partner_pharmacies_to_collect_at(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    listed = client.get(f"{API}/me/pickup-pharmacies")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [ow.supplier.id]  # partner pharmacies only
    assert anon.get(f"{API}/me/pickup-pharmacies").status_code == 401


def test_the_qr_code_is_a_png_of_the_prescription_number(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    answer = client.get(f"{ME}/{ow.order.id}/qr")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")


def test_the_address_book_masks_encrypts_and_keeps_one_default(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    first = client.post(f"{API}/me/addresses", json=address_body())
    assert first.status_code == 201
    out = first.json()
    assert out["phone"] == "138******00" and out["is_default"] is True and "1号院" not in out["detail"]
    second = client.post(
        f"{API}/me/addresses", json=address_body(phone="13900139000", is_default=True)
    ).json()
    listed = client.get(f"{API}/me/addresses").json()
    assert [(a["id"], a["is_default"]) for a in listed] == [(second["id"], True), (out["id"], False)]
    raw = db.execute(text("SELECT phone FROM patient_address WHERE id = :id"), {"id": out["id"]}).scalar_one()
    assert "13800138000" not in raw  # encrypted at rest
    changed = client.put(f"{API}/me/addresses/{out['id']}", json=address_body(region="上海市黄浦区"))
    assert changed.status_code == 200 and changed.json()["region"] == "上海市黄浦区"
    assert client.delete(f"{API}/me/addresses/{out['id']}").status_code == 204
    assert [a["id"] for a in client.get(f"{API}/me/addresses").json()] == [second["id"]]
    assert client.put(f"{API}/me/addresses/{out['id']}", json=address_body()).status_code == 404


def test_address_input_is_named_by_field_and_the_book_holds_twenty(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    url = f"{API}/me/addresses"
    assert problem_fields(client.post(url, json=address_body(phone="12345"))) == ["body.phone"]
    assert problem_fields(client.post(url, json=address_body(recipient=" "))) == ["body.recipient"]
    assert problem_fields(client.post(url, json=address_body(detail="x"))) == ["body.detail"]
    assert problem_fields(client.post(url, json=address_body(region=""))) == ["body.region"]
    for _ in range(20):
        assert client.post(url, json=address_body()).status_code == 201
    assert client.post(url, json=address_body()).status_code == 409


def test_the_patient_cancels_before_paying_and_the_bill_is_brought_to_its_deadline(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirmed = confirm(client, ow, pickup="window")
    cancelled = client.post(f"{ME}/{ow.order.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    bill = db.get(Bill, confirmed["bill_id"], populate_existing=True)
    assert bill is not None and bill.expires_at <= utcnow()
    assert client.post(f"{ME}/{ow.order.id}/cancel").status_code == 409
    assert "drug_order.cancelled" in audit_actions(db, "drug_order", ow.order.id)
