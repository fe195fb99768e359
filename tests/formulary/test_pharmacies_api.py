"""Pharmacies: stock managers add the hospital pharmacy and partner suppliers and edit them (audited)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_formulary import make_pharmacy
from tests.factories_org import audit_actions, problem_fields

API = "/api/v1/formulary/pharmacies"


def test_stock_manager_adds_and_edits_a_supplier(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["pharmacy_staff"]), settings)
    r = client.post(
        API,
        json={
            "code": "SUP1",
            "name": "合作药店",
            "kind": "supplier",
            "supplier_url": "https://supplier.example/api",
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["supplier_adapter"] == "http" and created["active"] is True
    r = client.patch(f"{API}/{created['id']}", json={"active": False, "name": "合作药店（停用）"})
    assert r.status_code == 200 and (r.json()["active"], r.json()["name"]) == (False, "合作药店（停用）")
    r = client.patch(f"{API}/{created['id']}", json={"name": None})
    assert r.status_code == 200 and r.json()["name"] == "合作药店（停用）"
    assert audit_actions(db, "pharmacy", created["id"]) == [
        "formulary.pharmacy.create",
        "formulary.pharmacy.update",
        "formulary.pharmacy.update",
    ]


def test_bad_pharmacies_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_pharmacy(db, inst, code="HOSP")
    login_as(client, db, make_staff(db, inst, roles=["formulary_admin"]), settings)
    r = client.post(API, json={"code": "HOSP", "name": "院内药房", "kind": "hospital"})
    assert r.status_code == 422 and problem_fields(r) == ["body.code"]
    r = client.post(API, json={"code": "X", "name": "药房", "kind": "clinic"})
    assert problem_fields(r) == ["body.kind"]
    r = client.post(
        API, json={"code": "H2", "name": "药房", "kind": "hospital", "supplier_url": "https://a.example"}
    )
    assert problem_fields(r) == ["body.supplier_url"]
    r = client.post(API, json={"code": "S2", "name": "药店", "kind": "supplier", "supplier_url": "ftp://a"})
    assert problem_fields(r) == ["body.supplier_url"]


def test_production_supplier_links_must_be_https(client: TestClient, db: Session, settings: Settings) -> None:
    from ihis.formulary.pharmacies import create_pharmacy
    from ihis.identity.access import Actor
    from ihis.platform.errors import InvalidInput

    inst = make_institution(db)
    actor = Actor(
        user_id=1, institution_id=inst.id, kind="staff", display_name="x", roles=frozenset(), session_id=1
    )
    live = settings.model_copy(update={"sandbox": False})
    try:
        create_pharmacy(
            db,
            actor,
            live,
            {"code": "S", "name": "药店", "kind": "supplier", "supplier_url": "http://a.example"},
        )
    except InvalidInput as exc:
        assert exc.errors[0].field == "body.supplier_url" and exc.errors[0].code == "https_required"
    else:
        raise AssertionError("plain http accepted outside the sandbox")


def test_pharmacy_management_needs_stock_manage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    pharmacy = make_pharmacy(db, inst)
    body = {"code": "S9", "name": "药店", "kind": "supplier"}
    assert anon.post(API, json=body).status_code == 401
    assert anon.patch(f"{API}/{pharmacy.id}", json={"active": False}).status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["pharmacist"]), settings)
    assert client.post(API, json=body).status_code == 403
    assert client.patch(f"{API}/{pharmacy.id}", json={"active": False}).status_code == 403
    elsewhere = make_pharmacy(db, make_institution(db))
    login_as(client, db, make_staff(db, inst, roles=["pharmacy_staff"]), settings)
    assert client.patch(f"{API}/{elsewhere.id}", json={"active": False}).status_code == 404
