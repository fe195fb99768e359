"""The real path: the pharmacist's approval (PIN, signature) emits the event that creates the order."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.drug_orders.models import DrugOrder
from ihis.notifications.models import Message
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_prescribing import (
    CHECKLIST,
    PHARMACIST_PIN,
    line,
    new_draft,
    pharmacist,
    rx_world,
    save,
    submit,
)


def test_approving_a_prescription_creates_its_order_and_tells_the_patient_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    w = rx_world(client, anon, db, settings)
    rx = save(client, new_draft(client, w), lines=[line(w, "D001", quantity=2)])
    submitted = submit(client, rx)
    assert submitted.status_code == 200, submitted.text
    pharmacist(client, db, settings, w)
    assert client.post(f"/api/v1/pharmacy/reviews/{rx['id']}/claim").status_code == 200
    approved = client.post(
        f"/api/v1/pharmacy/reviews/{rx['id']}/approve", json={"pin": PHARMACIST_PIN, "checklist": CHECKLIST}
    )
    assert approved.status_code == 200, approved.text
    db.expire_all()
    order = db.scalar(select(DrugOrder).where(DrugOrder.prescription_id == rx["id"]))
    assert order is not None and order.status == "awaiting_confirmation"
    assert order.total_fen == approved.json()["total_fen"] and order.account_id == w.who.account.id
    told = list(db.scalars(select(Message.event).where(Message.recipient_account_id == w.who.account.id)))
    assert told.count("prescription_approved") == 1
    login_as(client, db, w.who.account, settings)
    assert [o["id"] for o in client.get("/api/v1/me/drug-orders").json()] == [order.id]
