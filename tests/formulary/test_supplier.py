"""The supplier adapter against the sandbox supplier (real signatures, through the app), and the
stock sync into drug_stock (service, periodic job, endpoint)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.formulary.jobs import sync_all_suppliers
from ihis.formulary.models import DrugStock
from ihis.formulary.stock import sync_supplier
from ihis.integrations.supplier import protocol
from ihis.integrations.supplier.client import DEV_APP_ID, SupplierClient, SupplierConfig
from ihis.integrations.supplier.protocol import OrderLine, SupplierStockShort, SupplierUnavailable
from ihis.integrations.supplier.sandbox import OUTAGE_CODE, seed_supplier_stock
from ihis.platform.db import Database
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_formulary import make_drug, make_pharmacy, set_stock
from tests.factories_org import audit_actions, problem_fields

API = "/api/v1/formulary"


@pytest.fixture
def supplier(app: FastAPI, settings: Settings) -> SupplierClient:
    config = SupplierConfig.for_pharmacy(settings, None, None)
    return SupplierClient(TestClient(app, base_url="http://testserver"), config, sleep=lambda _: None)


def test_stock_query_answers_the_codes_the_supplier_carries(supplier: SupplierClient, db: Session) -> None:
    seed_supplier_stock(db, DEV_APP_ID, {"D001": 50, "D003": 40})
    db.commit()
    assert supplier.stock(["D001", "D003", "D999"]) == {"D001": 50, "D003": 40}


def test_orders_are_accepted_once_per_ref(supplier: SupplierClient, db: Session) -> None:
    seed_supplier_stock(db, DEV_APP_ID, {"D001": 5})
    db.commit()
    first = supplier.push_order("rx:42", [OrderLine("D001", 2)])
    again = supplier.push_order("rx:42", [OrderLine("D001", 2)])
    assert first == again and first.status == "accepted"
    assert supplier.stock(["D001"]) == {"D001": 3}
    assert supplier.order("rx:42") == first
    with pytest.raises(SupplierStockShort):
        supplier.push_order("rx:43", [OrderLine("D001", 4)])


def test_unknown_order_is_an_upstream_failure(supplier: SupplierClient) -> None:
    with pytest.raises(SupplierUnavailable) as caught:
        supplier.order("rx:nope")
    assert caught.value.reason == "http_404:ORDER_NOT_FOUND"


def test_a_wrong_secret_is_refused(app: FastAPI, settings: Settings) -> None:
    config = SupplierConfig(settings.public_url("/sandbox/supplier"), DEV_APP_ID, "not-the-secret")
    client = SupplierClient(TestClient(app, base_url="http://testserver"), config, attempts=1)
    with pytest.raises(SupplierUnavailable) as caught:
        client.stock(["D001"])
    assert caught.value.reason == "http_401:SIGN_INVALID"
    assert caught.value.status == 502


def test_a_replayed_or_stale_request_is_refused(app: FastAPI, supplier: SupplierClient) -> None:
    raw = TestClient(app, base_url="http://testserver")
    path = "/sandbox/supplier" + protocol.STOCK_PATH
    body = b'{"drug_codes":["D001"]}'
    headers = supplier.signed_headers("POST", path, body)
    assert raw.post(path, content=body, headers=headers).status_code == 200
    replay = raw.post(path, content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["code"] == "NONCE_USED"
    stale = {**supplier.signed_headers("POST", path, body), protocol.TIMESTAMP_HEADER: "1000"}
    assert raw.post(path, content=body, headers=stale).json()["code"] == "TIMESTAMP_INVALID"
    tampered = raw.post(
        path, content=b'{"drug_codes":["D002"]}', headers=supplier.signed_headers("POST", path, body)
    )
    assert tampered.json()["code"] == "SIGN_INVALID"


def test_an_outage_is_retried_then_reported(supplier: SupplierClient) -> None:
    with pytest.raises(SupplierUnavailable) as caught:
        supplier.stock([OUTAGE_CODE])
    assert caught.value.reason == "http_503:SYSTEM_BUSY"


def test_a_blip_is_retried_with_a_fresh_signature() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers[protocol.NONCE_HEADER])
        if len(seen) == 1:
            return httpx.Response(503)
        return httpx.Response(
            200, json={"code": "0", "data": {"items": [{"drug_code": "D001", "quantity": 7}]}}
        )

    config = SupplierConfig("https://supplier.example/api", "app", "secret")
    client = SupplierClient(httpx.Client(transport=httpx.MockTransport(answer)), config, sleep=lambda _: None)
    assert client.stock(["D001"]) == {"D001": 7}
    assert len(seen) == 2 and seen[0] != seen[1]


def test_sync_pulls_supplier_stock_but_never_below_our_reservations(
    app: FastAPI, database: Database, db: Session
) -> None:
    inst = make_institution(db)
    pharmacy = make_pharmacy(db, inst, kind="supplier")
    d1, d3, d5, d7 = (make_drug(db, inst, code=c) for c in ("D001", "D003", "D005", "D007"))
    set_stock(db, pharmacy, d3, on_hand=60, reserved=45)
    set_stock(db, pharmacy, d7, on_hand=12)  # the supplier stopped carrying it
    seed_supplier_stock(db, DEV_APP_ID, {"D001": 50, "D003": 40})
    db.commit()

    assert sync_supplier(database, pharmacy.id) == 3

    db.expire_all()
    rows = {
        s.drug_id: (s.on_hand, s.reserved)
        for s in db.scalars(select(DrugStock).where(DrugStock.pharmacy_id == pharmacy.id))
    }
    assert rows == {d1.id: (50, 0), d3.id: (45, 45), d7.id: (0, 0)}
    assert d5.id not in rows


def test_periodic_job_syncs_every_supplier_and_survives_a_failing_one(
    app: FastAPI, database: Database, db: Session
) -> None:
    inst = make_institution(db)
    good = make_pharmacy(db, inst, kind="supplier")
    make_pharmacy(db, inst, kind="supplier", supplier_url="http://testserver/sandbox/nowhere")
    drug = make_drug(db, inst, code="D008")
    seed_supplier_stock(db, DEV_APP_ID, {"D008": 60})
    db.commit()
    assert sync_all_suppliers() >= 1
    stock = db.scalar(select(DrugStock).where(DrugStock.pharmacy_id == good.id, DrugStock.drug_id == drug.id))
    assert stock is not None and stock.on_hand == 60


def test_sync_endpoint(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    supplier_pharmacy = make_pharmacy(db, inst, kind="supplier")
    hospital = make_pharmacy(db, inst)
    make_drug(db, inst, code="D011")
    seed_supplier_stock(db, DEV_APP_ID, {"D011": 30})
    assert anon.post(f"{API}/pharmacies/{supplier_pharmacy.id}/sync").status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.post(f"{API}/pharmacies/{supplier_pharmacy.id}/sync").status_code == 403
    login_as(client, db, make_staff(db, inst, roles=["pharmacy_staff"]), settings)
    r = client.post(f"{API}/pharmacies/{supplier_pharmacy.id}/sync")
    assert r.status_code == 200 and r.json() == {"pharmacy_id": supplier_pharmacy.id, "updated": 1}
    assert audit_actions(db, "pharmacy", supplier_pharmacy.id) == ["formulary.stock.sync"]
    r = client.post(f"{API}/pharmacies/{hospital.id}/sync")
    assert r.status_code == 422 and problem_fields(r) == ["path.pharmacy_id"]
    elsewhere = make_pharmacy(db, make_institution(db), kind="supplier")
    assert client.post(f"{API}/pharmacies/{elsewhere.id}/sync").status_code == 404
