"""Informed consent: versions, acceptance with hash/IP/time, re-acceptance, the gate, administration."""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import ConsentAcceptance, ConsentDocument
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import utcnow
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_patient import CONSENT_BODY, make_consent

WANG = {"name": "王秀英", "id_number": "11010519491231002X", "phone": "13900130001", "relation": "parent"}


def _patient(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    patient = make_patient(db, inst)
    login_as(client, db, patient, settings)
    return inst, patient


def test_patient_sees_the_document_in_force_and_that_it_is_not_accepted(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _patient(client, db, settings)
    make_consent(db, inst, version="2025.1", effective_at=utcnow() - dt.timedelta(days=30))
    current = make_consent(db, inst, version="2026.1")
    make_consent(db, inst, version="2027.1", effective_at=utcnow() + dt.timedelta(days=30))  # scheduled
    r = client.get("/api/v1/me/consent")
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] is False and body["accepted_at"] is None
    doc = body["document"]
    assert (doc["id"], doc["version"], doc["body"]) == (current.id, "2026.1", CONSENT_BODY)
    assert doc["body_hash"] == hashlib.sha256(CONSENT_BODY.encode()).hexdigest()
    assert doc["title"] and doc["effective_at"]


def test_no_document_means_nothing_to_show_and_service_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _patient(client, db, settings)
    assert client.get("/api/v1/me/consent").json() == {
        "document": None,
        "accepted": False,
        "accepted_at": None,
    }
    r = client.post("/api/v1/me/visitors", json=WANG)
    assert r.status_code == 403 and r.json()["code"] == "consent_required" and r.json()["consent"] is None
    assert client.post("/api/v1/me/consent", json={"document_id": 1, "version": "x"}).status_code == 404


def test_accepting_records_version_text_hash_time_ip_and_user_agent(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, patient = _patient(client, db, settings)
    doc = make_consent(db, inst, version="2026.1")
    before = utcnow()
    r = client.post(
        "/api/v1/me/consent",
        json={"document_id": doc.id, "version": "2026.1"},
        headers={"User-Agent": "ihis-h5/1.0"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["text_hash"] == hashlib.sha256(CONSENT_BODY.encode()).hexdigest()
    db.expire_all()
    row = db.scalar(select(ConsentAcceptance).where(ConsentAcceptance.account_id == patient.id))
    assert row is not None
    assert (row.document_id, row.version, row.text_hash) == (doc.id, "2026.1", doc.body_hash)
    assert row.accepted_at >= before and row.ip == "testclient" and row.user_agent == "ihis-h5/1.0"
    status = client.get("/api/v1/me/consent").json()
    assert status["accepted"] is True and status["accepted_at"]
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "consent.accept"))
    assert audit is not None and audit.actor_id == patient.id


def test_accepting_twice_is_idempotent(client: TestClient, db: Session, settings: Settings) -> None:
    inst, patient = _patient(client, db, settings)
    doc = make_consent(db, inst)
    first = client.post("/api/v1/me/consent", json={"document_id": doc.id, "version": doc.version}).json()
    second = client.post("/api/v1/me/consent", json={"document_id": doc.id, "version": doc.version})
    assert second.status_code == 201 and second.json() == first
    db.expire_all()
    rows = db.scalars(select(ConsentAcceptance).where(ConsentAcceptance.account_id == patient.id)).all()
    assert len(rows) == 1


def test_accepting_a_stale_version_is_409_with_the_current_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _patient(client, db, settings)
    old = make_consent(db, inst, version="1", effective_at=utcnow() - dt.timedelta(days=2))
    new = make_consent(db, inst, version="2")
    r = client.post("/api/v1/me/consent", json={"document_id": old.id, "version": "1"})
    assert r.status_code == 409
    assert r.json()["current"] == {"document_id": new.id, "version": "2"}
    mismatched = client.post("/api/v1/me/consent", json={"document_id": new.id, "version": "1"})
    assert mismatched.status_code == 409


def test_a_tampered_text_cannot_be_accepted(client: TestClient, db: Session, settings: Settings) -> None:
    inst, _ = _patient(client, db, settings)
    doc = make_consent(db, inst)
    db.execute(
        update(ConsentDocument).where(ConsentDocument.id == doc.id).values(body=CONSENT_BODY + "（已篡改）")
    )
    db.commit()
    r = client.post("/api/v1/me/consent", json={"document_id": doc.id, "version": doc.version})
    assert r.status_code == 409


def test_accept_body_is_validated(client: TestClient, db: Session, settings: Settings) -> None:
    _patient(client, db, settings)
    r = client.post("/api/v1/me/consent", json={"document_id": "x"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"body.document_id", "body.version"}


def test_gate_refuses_before_acceptance_allows_after_and_refuses_again_after_a_new_version(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _patient(client, db, settings)
    v1 = make_consent(db, inst, version="1", effective_at=utcnow() - dt.timedelta(hours=1))
    refused = client.post("/api/v1/me/visitors", json=WANG)
    assert refused.status_code == 403 and refused.json()["consent"]["version"] == "1"
    client.post("/api/v1/me/consent", json={"document_id": v1.id, "version": "1"})
    assert client.post("/api/v1/me/visitors", json=WANG).status_code == 201
    make_consent(db, inst, version="2")
    again = client.post("/api/v1/me/visitors", json={**WANG, "relation": "other"})
    assert again.status_code == 403 and again.json()["consent"]["version"] == "2"
    assert client.get("/api/v1/me/consent").json()["accepted"] is False


def test_a_scheduled_version_does_not_void_acceptance_until_it_takes_effect(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _patient(client, db, settings)
    v1 = make_consent(db, inst, version="1")
    client.post("/api/v1/me/consent", json={"document_id": v1.id, "version": "1"})
    v2 = make_consent(db, inst, version="2", effective_at=utcnow() + dt.timedelta(days=1))
    assert client.get("/api/v1/me/consent").json()["accepted"] is True
    db.execute(
        update(ConsentDocument)
        .where(ConsentDocument.id == v2.id)
        .values(effective_at=utcnow() - dt.timedelta(seconds=1))
    )
    db.commit()
    assert client.get("/api/v1/me/consent").json()["document"]["version"] == "2"
    assert client.get("/api/v1/me/consent").json()["accepted"] is False


def test_consent_of_another_institution_does_not_count(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _patient(client, db, settings)
    other = make_institution(db)
    elsewhere = make_consent(db, other, version="9")
    assert client.get("/api/v1/me/consent").json()["document"] is None
    r = client.post("/api/v1/me/consent", json={"document_id": elsewhere.id, "version": "9"})
    assert r.status_code == 404
    assert inst.id != other.id


def test_patient_consent_endpoints_need_a_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    assert anon.get("/api/v1/me/consent").status_code == 401
    assert anon.post("/api/v1/me/consent", json={"document_id": 1, "version": "1"}).status_code == 401
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    assert client.get("/api/v1/me/consent").status_code == 403


# --- administration ---------------------------------------------------------------------------


def test_operations_publish_a_version_and_patients_see_it(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    r = client.post(
        "/api/v1/admin/consents",
        json={"version": "2026.2", "title": "互联网诊疗服务知情同意书", "body": "第二版正文"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (
        doc["version"] == "2026.2" and doc["body_hash"] == hashlib.sha256("第二版正文".encode()).hexdigest()
    )
    assert doc["kind"] == "internet_service"
    listed = client.get("/api/v1/admin/consents")
    assert listed.status_code == 200 and [d["id"] for d in listed.json()] == [doc["id"]]
    patient = make_patient(db, inst)
    login_as(anon, db, patient, settings)
    assert anon.get("/api/v1/me/consent").json()["document"]["id"] == doc["id"]
    db.expire_all()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "consent.publish")) is not None


def test_versions_are_unique_and_must_move_forward(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    make_consent(db, inst, version="1")
    dup = client.post("/api/v1/admin/consents", json={"version": "1", "title": "t", "body": "b"})
    assert dup.status_code == 409
    backdated = client.post(
        "/api/v1/admin/consents",
        json={
            "version": "2",
            "title": "t",
            "body": "b",
            "effective_at": (utcnow() - dt.timedelta(days=9)).isoformat(),
        },
    )
    assert backdated.status_code == 422 and backdated.json()["errors"][0]["field"] == "body.effective_at"
    naive = client.post(
        "/api/v1/admin/consents",
        json={"version": "3", "title": "t", "body": "b", "effective_at": "2030-01-01T00:00:00"},
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "body.effective_at"
    bad = client.post("/api/v1/admin/consents", json={"version": "", "title": "", "body": ""})
    assert {e["field"] for e in bad.json()["errors"]} == {"body.version", "body.title", "body.body"}


def test_versions_cannot_be_edited_or_deleted(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    doc = make_consent(db, inst)
    for method in ("PUT", "PATCH", "DELETE"):
        assert client.request(method, f"/api/v1/admin/consents/{doc.id}", json={}).status_code in (404, 405)


def test_admin_consents_need_the_permission_and_see_only_their_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    assert anon.get("/api/v1/admin/consents").status_code == 401
    assert (
        anon.post("/api/v1/admin/consents", json={"version": "1", "title": "t", "body": "b"}).status_code
        == 401
    )
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get("/api/v1/admin/consents").status_code == 403
    assert (
        client.post("/api/v1/admin/consents", json={"version": "1", "title": "t", "body": "b"}).status_code
        == 403
    )
    patient = make_patient(db, inst)
    login_as(anon, db, patient, settings)
    assert anon.get("/api/v1/admin/consents").status_code == 403
    other = make_institution(db)
    make_consent(db, other)
    ops = TestClient(client.app)
    login_as(ops, db, make_staff(db, inst, roles=["operations"]), settings)
    assert ops.get("/api/v1/admin/consents").json() == []
