"""取药核验 at the window: the pharmacist scans the patient's QR code (or types the prescription number)
and gets the order by that number — exactly what the QR code encodes; malformed numbers named, another
institution's order and an unknown number 404; pharmacy permission only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.drug_orders.models import DrugOrder
from ihis.platform.clock import local_today
from ihis.prescribing.drafts import number_for
from ihis.prescribing.models import Prescription
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_drug_orders import API, as_patient, confirm, current, order_world, paid, pharmacy_staff
from tests.factories_org import audit_actions, problem_fields

PH = f"{API}/pharmacy/orders"
BY_NUMBER = f"{PH}/by-number"


def _ready(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    """A window order ready for pickup; the client is signed in as the pharmacist who set it out."""
    ow = order_world(db)
    # The factory's numbers are placeholders; give the prescription the number prescribing issues.
    number = number_for(ow.rx.id, local_today())
    db.execute(update(Prescription).where(Prescription.id == ow.rx.id).values(number=number))
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(number=number))
    db.commit()
    db.refresh(ow.rx)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    paid(db, ow)
    dispenser, checker = pharmacy_staff(db, ow, roles=("pharmacy_staff",)), pharmacy_staff(db, ow)
    login_as(client, db, dispenser, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    assert client.post(f"{PH}/{ow.order.id}/ready").status_code == 200
    return ow


def test_the_number_the_patients_qr_code_encodes_finds_the_order_for_sign_off(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _ready(client, db, settings)
    as_patient(client, db, ow, settings)
    qr = client.get(f"{API}/me/drug-orders/{ow.order.id}/qr")
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    # The QR code holds the prescription number (api.prescription_qr: qrcode.make(order.number)).
    number = current(db, ow.order.id).number
    assert number == ow.rx.number
    login_as(client, db, pharmacy_staff(db, ow), settings)
    found = client.get(f"{BY_NUMBER}/{number}")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["id"] == ow.order.id and body["status"] == "ready_for_pickup" and body["pickup"] == "window"
    assert body["patient_name"].endswith("*") and body["lines"]
    assert "pickup_code" not in body  # staff never see the code
    assert "drug_order.read" in audit_actions(db, "drug_order", ow.order.id)
    code = current(db, ow.order.id).pickup_code
    signed = client.post(f"{PH}/{body['id']}/sign-off", json={"code": code})
    assert signed.status_code == 200 and signed.json()["status"] == "signed_off"


def test_a_malformed_number_is_named_and_an_unknown_one_is_404(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _ready(client, db, settings)
    malformed = ("12345", "cf2026112200000001", "CF2026-11-22", "CF" + "1" * 31, f" {ow.rx.number}")
    for bad in (*malformed, f"{ow.rx.number}%0A"):  # a scanner's trailing newline is not part of it
        assert problem_fields(client.get(f"{BY_NUMBER}/{bad}")) == ["path.number"], bad
    assert client.get(f"{BY_NUMBER}/CF1999010100000001").status_code == 404


def test_only_pharmacy_staff_of_the_institution_look_an_order_up(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = _ready(client, db, settings)
    url = f"{BY_NUMBER}/{ow.rx.number}"
    assert anon.get(url).status_code == 401
    for roles in (("doctor",), ("quality",)):
        login_as(client, db, make_staff(db, ow.world.inst, roles=roles), settings)
        assert client.get(url).status_code == 403, roles
    as_patient(client, db, ow, settings)  # the patient themself
    assert client.get(url).status_code == 403
    other = order_world(db)  # another hospital's pharmacist
    login_as(client, db, pharmacy_staff(db, other), settings)
    assert client.get(url).status_code == 404
