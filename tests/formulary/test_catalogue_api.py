"""Catalogue, pharmacy and stock endpoints: search (name, code, pinyin), detail with history and stock,
never-online drugs flagged, manual adjustments; 401, 403 and other institutions' 404."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_formulary import make_drug, make_pharmacy, set_stock
from tests.factories_org import audit_actions, problem_fields

API = "/api/v1/formulary"


def test_search_by_pinyin_initials_filters_and_pages(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_drug(db, inst, code="D017", generic_name="阿莫西林胶囊", trade_name="阿莫仙")
    make_drug(db, inst, code="D024", generic_name="阿莫西林颗粒", trade_name=None, online=False)
    make_drug(
        db, inst, code="H001", generic_name="黄芪", trade_name=None, kind="herbal", routes=["decoction"]
    )
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    page = client.get(f"{API}/drugs", params={"q": "AMXL"}).json()
    assert [d["code"] for d in page["items"]] == ["D017", "D024"] and page["total"] == 2
    assert [
        d["code"] for d in client.get(f"{API}/drugs", params={"q": "AMXL", "online": "true"}).json()["items"]
    ] == ["D017"]
    assert [d["code"] for d in client.get(f"{API}/drugs", params={"kind": "herbal"}).json()["items"]] == [
        "H001"
    ]
    second = client.get(f"{API}/drugs", params={"page": 2, "page_size": 2}).json()
    assert [d["code"] for d in second["items"]] == ["H001"] and second["total"] == 3


def test_never_online_drugs_are_listed_flagged_with_their_control_class(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_drug(db, inst, code="C001", generic_name="吗啡缓释片", control_class="narcotic", online=False)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    item = client.get(f"{API}/drugs", params={"q": "MFHSP"}).json()["items"][0]
    assert item["never_online"] is True and item["online"] is False
    assert item["control_class_name"] == "麻醉药品"


def test_detail_has_instructions_stock_and_history(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst, instructions="【适应症】高血压。")
    hospital = make_pharmacy(db, inst)
    set_stock(db, hospital, drug, on_hand=10, reserved=4)
    login_as(client, db, make_staff(db, inst, roles=["pharmacist"]), settings)
    detail = client.get(f"{API}/drugs/{drug.id}").json()
    assert detail["instructions"] == "【适应症】高血压。"
    assert detail["stock"] == [
        {"pharmacy_id": hospital.id, "pharmacy_name": "院内药房", "kind": "hospital", "available": 6}
    ]
    assert [h["version"] for h in detail["history"]] == [1]
    assert detail["unit_amount"] == "250"


def test_bad_search_parameters_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    r = client.get(f"{API}/drugs", params={"kind": "pill", "page_size": 500})
    assert r.status_code == 422 and sorted(problem_fields(r)) == ["query.kind", "query.page_size"]
    assert problem_fields(client.get(f"{API}/drugs/abc")) == ["path.drug_id"]


def test_catalogue_endpoints_need_staff_with_formulary_read(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst)
    pharmacy = make_pharmacy(db, inst)
    paths = [
        f"{API}/drugs",
        f"{API}/drugs/{drug.id}",
        f"{API}/drugs/{drug.id}/history",
        f"{API}/pharmacies",
        f"{API}/pharmacies/{pharmacy.id}/stock",
    ]
    for path in paths:
        assert anon.get(path).status_code == 401, path
    login_as(client, db, make_patient(db, inst), settings)
    for path in paths:
        assert client.get(path).status_code == 403, path
    login_as(client, db, make_staff(db, inst, roles=["finance"]), settings)
    for path in paths:
        assert client.get(path).status_code == 403, path


def test_other_institutions_rows_are_404(client: TestClient, db: Session, settings: Settings) -> None:
    inst, other = make_institution(db), make_institution(db)
    theirs = make_drug(db, other)
    their_pharmacy = make_pharmacy(db, other)
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    assert client.get(f"{API}/drugs/{theirs.id}").status_code == 404
    assert client.get(f"{API}/drugs/{theirs.id}/history").status_code == 404
    assert client.get(f"{API}/drugs").json()["total"] == 0
    assert client.get(f"{API}/pharmacies").json() == []
    assert client.get(f"{API}/pharmacies/{their_pharmacy.id}/stock").status_code == 404
    r = client.post(
        f"{API}/pharmacies/{their_pharmacy.id}/stock-adjustments",
        json={"drug_id": theirs.id, "delta": 5, "reason": "盘点"},
    )
    assert r.status_code == 404


def test_pharmacies_and_their_stock(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    supplier = make_pharmacy(db, inst, kind="supplier", name="合作药店（沙箱）")
    hospital = make_pharmacy(db, inst)
    drug = make_drug(db, inst, code="D001", generic_name="苯磺酸氨氯地平片")
    set_stock(db, hospital, drug, on_hand=8, reserved=3)
    login_as(client, db, make_staff(db, inst, roles=["pharmacy_staff"]), settings)
    assert [(p["id"], p["kind"]) for p in client.get(f"{API}/pharmacies").json()] == [
        (hospital.id, "hospital"),
        (supplier.id, "supplier"),
    ]
    rows = client.get(f"{API}/pharmacies/{hospital.id}/stock", params={"q": "BHSA"}).json()
    assert [(r["code"], r["on_hand"], r["reserved"], r["available"]) for r in rows] == [("D001", 8, 3, 5)]


def test_manual_adjustment_with_a_reason_is_audited_and_never_goes_below_reserved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    hospital = make_pharmacy(db, inst)
    drug, fresh = make_drug(db, inst), make_drug(db, inst)
    stock = set_stock(db, hospital, drug, on_hand=10, reserved=4)
    login_as(client, db, make_staff(db, inst, roles=["pharmacy_staff"]), settings)
    url = f"{API}/pharmacies/{hospital.id}/stock-adjustments"
    r = client.post(url, json={"drug_id": drug.id, "delta": -6, "reason": "破损报废"})
    assert r.status_code == 200 and (r.json()["on_hand"], r.json()["available"]) == (4, 0)
    r = client.post(url, json={"drug_id": drug.id, "delta": -1, "reason": "盘亏"})
    assert r.status_code == 422 and problem_fields(r) == ["body.delta"]
    assert audit_actions(db, "drug_stock", stock.id) == ["formulary.stock.adjust"]
    r = client.post(url, json={"drug_id": fresh.id, "delta": 12, "reason": "到货入库"})
    assert r.status_code == 200 and r.json()["on_hand"] == 12  # a first delivery creates the row
    r = client.post(url, json={"drug_id": drug.id, "delta": 0, "reason": "x"})
    assert r.status_code == 422 and sorted(problem_fields(r)) == ["body.reason"]
    r = client.post(url, json={"drug_id": drug.id, "delta": 0, "reason": "盘点"})
    assert problem_fields(r) == ["body.delta"]


def test_adjustment_needs_stock_manage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    hospital, drug = make_pharmacy(db, inst), make_drug(db, inst)
    url = f"{API}/pharmacies/{hospital.id}/stock-adjustments"
    body = {"drug_id": drug.id, "delta": 5, "reason": "到货入库"}
    assert anon.post(url, json=body).status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["pharmacist"]), settings)
    assert client.post(url, json=body).status_code == 403
