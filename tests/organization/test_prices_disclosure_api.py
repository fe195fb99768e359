"""Service prices by title and mode, and the disclosure items, through HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_org import audit_actions, problem_fields, set_title_price

API = "/api/v1/admin"


def test_operations_sets_changes_lists_and_deletes_title_prices(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    r = client.put(f"{API}/service-prices", json={"title": "主任医师", "mode": "video", "price_fen": 8000})
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["title"], first["mode"], first["price_fen"]) == ("主任医师", "video", 8000)
    # Setting the same title and mode again changes that one price.
    r = client.put(f"{API}/service-prices", json={"title": "主任医师", "mode": "video", "price_fen": 9000})
    assert r.json()["id"] == first["id"] and r.json()["price_fen"] == 9000
    client.put(f"{API}/service-prices", json={"title": "主治医师", "mode": "text", "price_fen": 0})
    listed = client.get(f"{API}/service-prices").json()
    assert {(p["title"], p["mode"], p["price_fen"]) for p in listed} == {
        ("主任医师", "video", 9000),
        ("主治医师", "text", 0),
    }

    assert client.delete(f"{API}/service-prices/{first['id']}").status_code == 204
    assert [p["title"] for p in client.get(f"{API}/service-prices").json()] == ["主治医师"]
    assert audit_actions(db, "service_price", first["id"]) == [
        "service_price.set",
        "service_price.set",
        "service_price.delete",
    ]


def test_price_with_unknown_title_mode_or_negative_amount_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    r = client.put(f"{API}/service-prices", json={"title": "教授", "mode": "text", "price_fen": 100})
    assert r.status_code == 422 and problem_fields(r) == ["body.title"]
    r = client.put(f"{API}/service-prices", json={"title": "主任医师", "mode": "fax", "price_fen": 100})
    assert r.status_code == 422 and problem_fields(r) == ["body.mode"]
    r = client.put(f"{API}/service-prices", json={"title": "主任医师", "mode": "text", "price_fen": -1})
    assert r.status_code == 422 and problem_fields(r) == ["body.price_fen"]
    r = client.put(f"{API}/service-prices", json={"title": "主任医师", "mode": "text", "price_fen": 12.5})
    assert r.status_code == 422 and problem_fields(r) == ["body.price_fen"]


def test_prices_of_another_institution_are_invisible(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    foreign = set_title_price(db, make_institution(db), "主任医师", "text", 5000)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    assert client.get(f"{API}/service-prices").json() == []
    assert client.delete(f"{API}/service-prices/{foreign.id}").status_code == 404


def test_price_endpoints_need_a_session_and_the_right_permission(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    body = {"title": "主任医师", "mode": "text", "price_fen": 1}
    assert anon.get(f"{API}/service-prices").status_code == 401
    assert anon.put(f"{API}/service-prices", json=body).status_code == 401
    assert anon.delete(f"{API}/service-prices/1").status_code == 401
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["finance"]), settings)
    assert client.get(f"{API}/service-prices").status_code == 200  # finance reads prices
    assert client.put(f"{API}/service-prices", json=body).status_code == 403
    assert client.delete(f"{API}/service-prices/1").status_code == 403


# --- disclosure ------------------------------------------------------------------------------


def test_operations_maintains_disclosure_items(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    ops = make_staff(db, inst, roles=["operations"])
    login_as(client, db, ops, settings)
    items = client.get(f"{API}/disclosure").json()
    # BJ 5.6.4.1 (1)-(8), each present before anyone wrote it.
    assert [i["key"] for i in items] == [
        "doctor_lookup",
        "approved_subjects",
        "services_process",
        "doctors_on_duty",
        "prices",
        "complaints",
        "convenience",
        "booking_rules",
        "stop_notices",
    ]
    assert all(i["body"] == "" and i["updated_at"] is None for i in items)

    body = {"title": "投诉渠道", "body": "投诉电话：010-00000000\n投诉信箱：xx@example.org"}
    r = client.put(f"{API}/disclosure/complaints", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == body["body"] and r.json()["updated_by"] == ops.id
    r = client.put(f"{API}/disclosure/complaints", json={**body, "body": "改为新的渠道"})
    got = client.get(f"{API}/disclosure/complaints").json()
    assert got["body"] == "改为新的渠道" and got["title"] == "投诉渠道" and got["updated_at"] is not None
    assert audit_actions(db, "disclosure_item", "complaints") == ["disclosure.update", "disclosure.update"]


def test_disclosure_with_unknown_key_or_missing_title_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    r = client.put(f"{API}/disclosure/gossip", json={"title": "x", "body": "y"})
    assert r.status_code == 422 and problem_fields(r) == ["path.key"]
    r = client.put(f"{API}/disclosure/prices", json={"body": "y"})
    assert r.status_code == 422 and problem_fields(r) == ["body.title"]
    assert client.get(f"{API}/disclosure/gossip").status_code == 422


def test_disclosure_endpoints_need_the_disclosure_permission(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    body = {"title": "x", "body": "y"}
    assert anon.get(f"{API}/disclosure").status_code == 401
    assert anon.get(f"{API}/disclosure/prices").status_code == 401
    assert anon.put(f"{API}/disclosure/prices", json=body).status_code == 401
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["quality"]), settings)
    assert client.get(f"{API}/disclosure").status_code == 403
    assert client.get(f"{API}/disclosure/prices").status_code == 403
    assert client.put(f"{API}/disclosure/prices", json=body).status_code == 403


def test_disclosure_items_belong_to_one_institution(
    client: TestClient, db: Session, settings: Settings
) -> None:
    other = make_institution(db)
    login_as(client, db, make_staff(db, other, roles=["operations"]), settings)
    client.put(f"{API}/disclosure/prices", json={"title": "价格", "body": "别的医院的价格"})
    client.cookies.clear()
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    assert client.get(f"{API}/disclosure/prices").json()["body"] == ""
