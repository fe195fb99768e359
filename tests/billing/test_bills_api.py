"""Bill endpoints: patients see only their own bills, staff with billing.read their institution's;
every endpoint answers 401 anonymous, 403/404 to the wrong actor, and names the bad field."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_billing import make_bill
from tests.factories_patient import make_consented_patient

PATIENT_ROUTES = [
    ("GET", "/api/v1/me/bills"),
    ("GET", "/api/v1/me/bills/1"),
    ("POST", "/api/v1/me/bills/1/pay"),
]
STAFF_ROUTES = [("GET", "/api/v1/admin/bills"), ("GET", "/api/v1/admin/bills/1")]


def _fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(("method", "path"), PATIENT_ROUTES + STAFF_ROUTES)
def test_anonymous_callers_get_401(anon: TestClient, method: str, path: str) -> None:
    assert anon.request(method, path, json={"channel": "wechat"}).status_code == 401


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES)
def test_patients_and_staff_without_billing_read_get_403_on_staff_routes(
    client: TestClient, db: Session, settings: Settings, method: str, path: str
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_consented_patient(db, inst), settings)
    assert client.request(method, path).status_code == 403
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.request(method, path).status_code == 403


@pytest.mark.parametrize(("method", "path"), PATIENT_ROUTES)
def test_staff_get_403_on_patient_routes(
    client: TestClient, db: Session, settings: Settings, method: str, path: str
) -> None:
    login_as(client, db, make_staff(db, make_institution(db), roles=["finance"]), settings)
    assert client.request(method, path, json={"channel": "wechat"}).status_code == 403


def test_a_patient_without_current_consent_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_consented_patient(db, inst)  # the institution has a consent document in force
    login_as(client, db, make_patient(db, inst), settings)
    answer = client.get("/api/v1/me/bills")
    assert answer.status_code == 403 and answer.json()["code"] == "consent_required"


def test_a_patient_lists_only_own_bills_newest_first(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    me, other = make_consented_patient(db, inst), make_consented_patient(db, inst)
    first, second = make_bill(db, me, amount_fen=100), make_bill(db, me, amount_fen=200)
    make_bill(db, other)
    login_as(client, db, me, settings)
    page = client.get("/api/v1/me/bills").json()
    assert page["total"] == 2
    assert [b["id"] for b in page["items"]] == [second.id, first.id]
    assert (
        client.get("/api/v1/me/bills", params={"page": 2, "page_size": 1}).json()["items"][0]["id"]
        == first.id
    )


def test_a_patient_cannot_see_or_pay_another_accounts_bill(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    me, other = make_consented_patient(db, inst), make_consented_patient(db, inst)
    theirs = make_bill(db, other)
    elsewhere = make_bill(db, make_consented_patient(db, make_institution(db)))
    login_as(client, db, me, settings)
    for bill in (theirs, elsewhere):
        assert client.get(f"/api/v1/me/bills/{bill.id}").status_code == 404
        assert client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"}).status_code == 404


def test_bad_input_names_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    me = make_consented_patient(db, inst)
    bill = make_bill(db, me)
    login_as(client, db, me, settings)
    assert _fields(client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "cash"})) == [
        "body.channel"
    ]
    assert _fields(client.post(f"/api/v1/me/bills/{bill.id}/pay", json={})) == ["body.channel"]
    assert _fields(client.get("/api/v1/me/bills", params={"page": 0})) == ["query.page"]
    assert _fields(client.get("/api/v1/me/bills/abc")) == ["path.bill_id"]
    login_as(client, db, make_staff(db, inst, roles=["finance"]), settings)
    assert _fields(client.get("/api/v1/admin/bills", params={"status": "lost"})) == ["query.status"]
    assert _fields(client.get("/api/v1/admin/bills", params={"page_size": 101})) == ["query.page_size"]
    assert _fields(
        client.get("/api/v1/admin/bills", params={"created_from": "2026-11-02", "created_to": "2026-11-01"})
    ) == ["query.created_to"]


def test_a_closed_bill_cannot_be_paid(client: TestClient, db: Session, settings: Settings) -> None:
    me = make_consented_patient(db, make_institution(db))
    bill = make_bill(db, me)
    db.execute(update(Bill).where(Bill.id == bill.id).values(status="closed"))
    db.commit()
    login_as(client, db, me, settings)
    answer = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "alipay"})
    assert answer.status_code == 409 and answer.json()["code"] == "bill_not_payable"


@pytest.mark.parametrize("role", ["finance", "operations"])
def test_staff_with_billing_read_list_and_filter_their_institutions_bills(
    client: TestClient, db: Session, settings: Settings, role: str
) -> None:
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    unpaid = make_bill(db, patient, amount_fen=100)
    closed = make_bill(db, patient, amount_fen=200, kind="drug")
    db.execute(update(Bill).where(Bill.id == closed.id).values(status="closed"))
    db.commit()
    make_bill(db, make_consented_patient(db, make_institution(db)))  # another institution's
    login_as(client, db, make_staff(db, inst, roles=[role]), settings)

    assert {b["id"] for b in client.get("/api/v1/admin/bills").json()["items"]} == {unpaid.id, closed.id}
    assert [
        b["id"] for b in client.get("/api/v1/admin/bills", params={"status": "closed"}).json()["items"]
    ] == [closed.id]
    assert [
        b["id"] for b in client.get("/api/v1/admin/bills", params={"kind": "registration"}).json()["items"]
    ] == [unpaid.id]
    assert client.get("/api/v1/admin/bills", params={"channel": "wechat"}).json()["total"] == 0
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert client.get("/api/v1/admin/bills", params={"created_from": tomorrow}).json()["total"] == 0
    detail = client.get(f"/api/v1/admin/bills/{unpaid.id}")
    assert detail.status_code == 200 and detail.json()["refunds"] == []
    db.expire_all()
    assert db.query(AuditEvent).filter(AuditEvent.action == "billing.bill.read").count() == 1


def test_staff_cannot_read_another_institutions_bill(
    client: TestClient, db: Session, settings: Settings
) -> None:
    elsewhere = make_bill(db, make_consented_patient(db, make_institution(db)))
    login_as(client, db, make_staff(db, make_institution(db), roles=["finance"]), settings)
    assert client.get(f"/api/v1/admin/bills/{elsewhere.id}").status_code == 404


def test_an_anonymous_pay_with_a_bad_body_gets_401_not_422(anon: TestClient) -> None:
    assert anon.post("/api/v1/me/bills/1/pay", json={}).status_code == 401
