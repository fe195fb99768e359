"""Sign-off (BJ 5.3.10): the pickup code is single use and attempt-limited (5 wrong -> locked, 429);
the ID check is recorded; bad input is named."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity.models import Visitor
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import API, as_patient, confirm, current, order_world, paid, pharmacy_staff
from tests.factories_org import problem_fields

PH = f"{API}/pharmacy/orders"


def _ready(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    paid(db, ow)
    dispenser = pharmacy_staff(db, ow, roles=("pharmacy_staff",))
    checker = pharmacy_staff(db, ow)
    login_as(client, db, dispenser, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    assert client.post(f"{PH}/{ow.order.id}/ready").status_code == 200
    code = current(db, ow.order.id).pickup_code
    assert code is not None
    return ow, code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_code_is_stored_as_a_hash_and_works_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, code = _ready(client, db, settings)
    order = current(db, ow.order.id)
    assert order.pickup_code_hash and code not in order.pickup_code_hash
    url = f"{PH}/{ow.order.id}/sign-off"
    assert client.post(url, json={"code": code}).status_code == 200
    assert client.post(url, json={"code": code}).status_code == 409  # single use: the order is closed
    assert current(db, ow.order.id).pickup_code_hash is None


def test_five_wrong_codes_lock_the_order_even_the_right_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, code = _ready(client, db, settings)
    url = f"{PH}/{ow.order.id}/sign-off"
    for attempt in range(4):
        wrong = client.post(url, json={"code": _wrong(code)})
        assert wrong.status_code == 422 and problem_fields(wrong) == ["body.code"], attempt
    assert client.post(url, json={"code": _wrong(code)}).status_code == 429  # the fifth locks
    assert client.post(url, json={"code": code}).status_code == 429
    order = current(db, ow.order.id)
    assert order.status == "ready_for_pickup" and order.pickup_attempts == 5
    as_patient(client, db, ow, settings)
    assert client.get(f"{API}/me/drug-orders/{ow.order.id}").json()["pickup_locked"] is True


def test_malformed_codes_are_named_and_not_counted(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, _ = _ready(client, db, settings)
    url = f"{PH}/{ow.order.id}/sign-off"
    assert problem_fields(client.post(url, json={"code": "12ab"})) == ["body.code"]
    assert problem_fields(client.post(url, json={})) == ["body.code"]
    assert problem_fields(client.post(url, json={"id_check": True, "id_last4": "12"})) == ["body.id_last4"]
    assert current(db, ow.order.id).pickup_attempts == 0


def test_an_id_check_signs_off_and_is_recorded(client: TestClient, db: Session, settings: Settings) -> None:
    ow, _ = _ready(client, db, settings)
    visitor = db.get(Visitor, ow.who.visitor.id)
    assert visitor is not None
    last4 = visitor.id_number[-4:]
    url = f"{PH}/{ow.order.id}/sign-off"
    wrong_last4 = "0000" if last4 != "0000" else "1111"
    assert problem_fields(client.post(url, json={"id_check": True, "id_last4": wrong_last4})) == [
        "body.id_last4"
    ]
    signed = client.post(url, json={"id_check": True, "id_last4": last4})
    assert signed.status_code == 200 and signed.json()["signoff_method"] == "id_check"


def test_the_code_is_shown_only_to_its_owner_while_live(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, code = _ready(client, db, settings)
    as_patient(client, db, ow, settings)
    assert client.get(f"{API}/me/drug-orders/{ow.order.id}").json()["pickup_code"] == code
    login_as(client, db, pharmacy_staff(db, ow), settings)
    staff_view = client.get(f"{PH}/{ow.order.id}").json()
    assert "pickup_code" not in staff_view and staff_view["status"] == "ready_for_pickup"
