"""医保 binding of a visitor (就诊人): the platform's person query (1101) with the verified ID number,
the number stored encrypted and shown masked, unbinding, audit, and who may do it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ihis.identity.models import Visitor
from ihis.identity.visitor_service import insured_number
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_insurance import UNKNOWN_SEQ, bind, visitor_for
from tests.factories_patient import make_consented_patient

API = "/api/v1/me/visitors"


def _patient(client: TestClient, db: Session, settings: Settings, *, seq: int = 10):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    account = make_consented_patient(db, inst)
    visitor = visitor_for(db, account, seq=seq)
    login_as(client, db, account, settings)
    return inst, account, visitor


def _actions(db: Session, visitor_id: int) -> list[tuple[str, str]]:
    db.expire_all()
    return [
        (a, o)
        for a, o in db.execute(
            select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.resource_type == "visitor", AuditEvent.resource_id == str(visitor_id))
            .where(AuditEvent.action.like("visitor.insurance%"))
            .order_by(AuditEvent.id)
        )
    ]


def test_binding_stores_the_number_encrypted_and_shows_it_masked_with_the_scheme(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, visitor = _patient(client, db, settings)
    body = bind(client, visitor.id)
    assert body["insurance_bound"] is True
    binding = body["insurance"]
    assert binding["insutype"] == "310" and binding["insutype_name"] == "职工基本医疗保险"
    assert binding["area"] == "110105"
    psn_no = insured_number(db, visitor.id)
    assert psn_no is not None and len(psn_no) == 20
    assert binding["psn_no"] == psn_no[:3] + "*" * 13 + psn_no[-4:]
    raw = db.execute(text("SELECT insurance_psn_no FROM visitor WHERE id = :id"), {"id": visitor.id}).scalar()
    assert raw.startswith("v1:") and psn_no not in raw
    listed = client.get(API).json()
    assert listed[0]["insurance"]["psn_no"] == binding["psn_no"]
    assert _actions(db, visitor.id) == [("visitor.insurance_bind", "success")]
    detail = db.scalar(select(AuditEvent.detail).where(AuditEvent.action == "visitor.insurance_bind"))
    assert psn_no not in str(detail)


def test_a_visitor_the_platform_does_not_know_is_refused_and_nothing_is_stored(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, visitor = _patient(client, db, settings, seq=UNKNOWN_SEQ)
    refused = client.post(f"{API}/{visitor.id}/insurance", json={"agree": True})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "insurance_not_found"
    assert insured_number(db, visitor.id) is None
    assert client.get(f"{API}/{visitor.id}").json()["insurance_bound"] is False
    assert _actions(db, visitor.id) == [("visitor.insurance_bind", "failure")]


def test_binding_needs_the_patients_agreement_named_in_the_error(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, visitor = _patient(client, db, settings)
    for body in ({}, {"agree": False}):
        r = client.post(f"{API}/{visitor.id}/insurance", json=body)
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["body.agree"]
    r = client.post(f"{API}/abc/insurance", json={"agree": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.visitor_id"
    assert insured_number(db, visitor.id) is None


def test_anonymous_callers_get_401(anon: TestClient, db: Session) -> None:
    assert anon.post(f"{API}/1/insurance", json={"agree": True}).status_code == 401
    assert anon.delete(f"{API}/1/insurance").status_code == 401


def test_another_accounts_visitor_is_404_for_bind_and_unbind(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst, _, visitor = _patient(client, db, settings)
    bind(client, visitor.id)
    other = make_consented_patient(db, inst)
    login_as(anon, db, other, settings)
    assert anon.post(f"{API}/{visitor.id}/insurance", json={"agree": True}).status_code == 404
    assert anon.delete(f"{API}/{visitor.id}/insurance").status_code == 404
    assert insured_number(db, visitor.id) is not None


def test_another_institutions_patient_cannot_touch_the_visitor(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    _, _, visitor = _patient(client, db, settings)
    elsewhere = make_consented_patient(db, make_institution(db))
    login_as(anon, db, elsewhere, settings)
    assert anon.post(f"{API}/{visitor.id}/insurance", json={"agree": True}).status_code == 404
    assert anon.delete(f"{API}/{visitor.id}/insurance").status_code == 404


def test_unbinding_clears_the_binding_once_and_is_audited_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, visitor = _patient(client, db, settings)
    bind(client, visitor.id)
    assert client.delete(f"{API}/{visitor.id}/insurance").status_code == 204
    assert client.delete(f"{API}/{visitor.id}/insurance").status_code == 204  # idempotent
    db.expire_all()
    row = db.get(Visitor, visitor.id)
    assert row is not None
    assert (row.insurance_psn_no, row.insurance_type, row.insurance_area, row.insurance_bound_at) == (
        None,
        None,
        None,
        None,
    )
    assert client.get(f"{API}/{visitor.id}").json()["insurance"] is None
    assert _actions(db, visitor.id) == [
        ("visitor.insurance_bind", "success"),
        ("visitor.insurance_unbind", "success"),
    ]


def test_binding_again_refreshes_the_same_person(client: TestClient, db: Session, settings: Settings) -> None:
    _, _, visitor = _patient(client, db, settings)
    first = bind(client, visitor.id)
    again = bind(client, visitor.id)
    assert again["insurance"]["psn_no"] == first["insurance"]["psn_no"]


def test_the_platform_unavailable_is_a_502_and_nothing_is_stored(
    client: TestClient, db: Session, settings: Settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from ihis.identity import patient_api
    from ihis.integrations.insurance.protocol import InsuranceError

    class Down:
        def person_info(self, id_number: str, name: str) -> None:
            raise InsuranceError("transport:ConnectError", retryable=True)

    monkeypatch.setattr(patient_api.insurance, "insurance_gateway", lambda s: Down())
    _, _, visitor = _patient(client, db, settings)
    r = client.post(f"{API}/{visitor.id}/insurance", json={"agree": True})
    assert r.status_code == 502, r.text
    assert insured_number(db, visitor.id) is None
    assert _actions(db, visitor.id) == [("visitor.insurance_bind", "failure")]
