"""Pharmacy endpoints: the queue, each step guarded by state, the re-check by another pharmacist,
401/403 (a doctor cannot dispense; pharmacy staff cannot re-check), other institutions invisible."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_drug_orders import API, as_patient, confirm, current, order_world, paid, pharmacy_staff
from tests.factories_org import audit_actions, problem_fields

PH = f"{API}/pharmacy/orders"


def _paid_order(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    paid(db, ow)
    return ow


def test_the_queue_filters_by_status_and_names_a_bad_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_order(client, db, settings)
    login_as(client, db, pharmacy_staff(db, ow), settings)
    assert [o["id"] for o in client.get(PH, params={"status": "paid"}).json()] == [ow.order.id]
    assert client.get(PH, params={"status": "packed"}).json() == []
    assert problem_fields(client.get(PH, params={"status": "lost"})) == ["query.status"]
    detail = client.get(f"{PH}/{ow.order.id}")
    assert detail.status_code == 200 and detail.json()["patient_name"].endswith("*")
    assert "drug_order.read" in audit_actions(db, "drug_order", ow.order.id)


def test_the_dispenser_cannot_re_check_their_own_work(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_order(client, db, settings)
    pharmacist = pharmacy_staff(db, ow)
    login_as(client, db, pharmacist, settings)
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 200
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 409  # once
    assert client.post(f"{PH}/{ow.order.id}/recheck", json={}).status_code == 403
    assert current(db, ow.order.id).status == "dispensing"
    assert client.post(f"{PH}/{ow.order.id}/pack").status_code == 409  # not re-checked yet


def test_pharmacy_staff_dispense_but_only_a_pharmacist_re_checks(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_order(client, db, settings)
    staff = pharmacy_staff(db, ow, roles=("pharmacy_staff",))
    other_staff = pharmacy_staff(db, ow, roles=("pharmacy_staff",))
    login_as(client, db, staff, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, other_staff, settings)
    assert client.post(f"{PH}/{ow.order.id}/recheck", json={}).status_code == 403
    pharmacist = pharmacy_staff(db, ow)
    login_as(client, db, pharmacist, settings)
    assert problem_fields(client.post(f"{PH}/{ow.order.id}/recheck", json={"note": "x" * 501})) == [
        "body.note"
    ]
    assert client.post(f"{PH}/{ow.order.id}/recheck", json={"note": "适宜"}).status_code == 200


def test_a_doctor_or_a_patient_cannot_work_on_orders(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_order(client, db, settings)
    doctor = make_staff(db, ow.world.inst, roles=("doctor",))
    db.commit()
    login_as(client, db, doctor, settings)
    assert client.get(PH).status_code == 403
    for step in ("dispense", "pack", "ready", "handover"):
        assert client.post(f"{PH}/{ow.order.id}/{step}").status_code == 403
    assert client.post(f"{PH}/{ow.order.id}/sign-off", json={"code": "123456"}).status_code == 403
    as_patient(client, db, ow, settings)
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 403


def test_pharmacy_endpoints_need_a_session(anon: TestClient, db: Session) -> None:
    ow = order_world(db)
    assert anon.get(PH).status_code == 401
    for step in (
        "dispense",
        "recheck",
        "pack",
        "ready",
        "handover",
        "sign-off",
        "refund-decision",
        "special-refund",
    ):
        assert anon.post(f"{PH}/{ow.order.id}/{step}").status_code == 401, step


def test_another_institutions_pharmacist_sees_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _paid_order(client, db, settings)
    elsewhere = order_world(db)  # a second hospital
    login_as(client, db, pharmacy_staff(db, elsewhere), settings)
    assert client.get(PH).json() == []
    assert client.get(f"{PH}/{ow.order.id}").status_code == 404
    assert client.post(f"{PH}/{ow.order.id}/dispense").status_code == 404


def test_steps_out_of_order_are_refused_and_change_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)  # not confirmed, not paid
    login_as(client, db, pharmacy_staff(db, ow), settings)
    for step in ("dispense", "pack", "ready", "handover"):
        assert client.post(f"{PH}/{ow.order.id}/{step}").status_code == 409, step
    assert current(db, ow.order.id).status == "awaiting_confirmation"
