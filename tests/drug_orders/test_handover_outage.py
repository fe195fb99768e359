"""A courier outage at handover: 502, the order stays packed with its stock reserved and no code;
handing over again books the same ref and completes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.platform import jobs
from ihis.platform.db import Database
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    as_patient,
    confirm,
    current,
    order_world,
    paid,
    pharmacy_staff,
    stock_of,
)

PH = f"{API}/pharmacy/orders"


def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"code": "SYSTEM_BUSY", "message": "busy"})


def test_a_courier_outage_leaves_the_order_packed_and_a_retry_hands_it_over(
    app: FastAPI, client: TestClient, database: Database, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="delivery")
    paid(db, ow)
    staff, checker = pharmacy_staff(db, ow, roles=("pharmacy_staff",)), pharmacy_staff(db, ow)
    login_as(client, db, staff, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")

    jobs.bind_runtime(database, settings, httpx.Client(transport=httpx.MockTransport(_down)))
    try:
        failed = client.post(f"{PH}/{ow.order.id}/handover")
    finally:
        jobs.bind_runtime(database, settings, TestClient(app, base_url="http://testserver"))
    assert failed.status_code == 502
    order = current(db, ow.order.id)
    assert order.status == "packed" and order.pickup_code_hash is None and order.waybill_no is None
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 2

    again = client.post(f"{PH}/{ow.order.id}/handover")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "handed_over" and again.json()["waybill_no"]
    assert stock_of(db, ow.hospital, ow.drugs["D001"]).reserved == 0
