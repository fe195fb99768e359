"""Visitors (就诊人): real-name verification through the sandbox authority, masking, ownership."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ihis.identity.models import Visitor
from ihis.integrations.realname.models import SandboxRealnameRequest
from ihis.platform.audit import AuditEvent
from ihis.platform.crypto.fields import blind_index
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_patient import (
    make_consent,
    make_consented_patient,
    make_id_number,
    make_visitor,
    seed_person,
    years_ago,
)

LI = {"name": "李建国", "id_number": "110105198005046032", "phone": "13900130002", "relation": "self"}
WANG = {"name": "王秀英", "id_number": "11010519491231002X", "phone": "13900130001", "relation": "parent"}


def _signed_in(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    login_as(client, db, patient, settings)
    return inst, patient


def _authority_calls(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count(SandboxRealnameRequest.id))) or 0)


def test_adding_a_matching_visitor_verifies_stores_encrypted_and_answers_masked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, patient = _signed_in(client, db, settings)
    r = client.post("/api/v1/me/visitors", json=WANG)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "王**"
    assert body["id_number"] == "110***********002X"
    assert body["phone"] == "139******01"
    assert body["sex"] == 2 and body["relation"] == "parent"
    assert body["age"] >= 76 and not body["is_minor"] and not body["under_six"]
    assert body["verified_at"] is not None
    assert "birth_date" not in body
    raw = db.execute(
        text("SELECT id_number, phone, id_number_bidx FROM visitor WHERE id = :id"), {"id": body["id"]}
    ).one()
    assert raw[0].startswith("v1:") and "11010519491231002X" not in raw[0]
    assert raw[1].startswith("v1:") and "13900130001" not in raw[1]
    assert raw[2] == blind_index("11010519491231002X", "id_number")
    db.expire_all()
    visitor = db.get(Visitor, body["id"])
    assert visitor is not None and visitor.account_id == patient.id and visitor.verification_ref
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "visitor.create")))
    assert [e.patient_id for e in events] == [body["id"]]


def test_name_id_mismatch_is_422_naming_the_fields_and_writes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    r = client.post("/api/v1/me/visitors", json={**WANG, "name": "王秀兰"})
    assert r.status_code == 422
    assert r.json()["code"] == "realname_mismatch"
    assert {e["field"] for e in r.json()["errors"]} == {"body.name", "body.id_number"}
    assert db.scalar(select(func.count(Visitor.id))) == 0
    assert _authority_calls(db) == 1
    failure = db.scalar(select(AuditEvent).where(AuditEvent.action == "visitor.realname_verify"))
    assert failure is not None and failure.outcome == "failure"


def test_phone_not_belonging_to_the_person_is_422_naming_the_phone(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    r = client.post("/api/v1/me/visitors", json={**LI, "phone": "13900130009"})
    assert r.status_code == 422 and r.json()["code"] == "realname_mismatch"
    assert [e["field"] for e in r.json()["errors"]] == ["body.phone"]


def test_unknown_person_with_a_valid_number_is_a_mismatch(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    stranger = make_id_number(years_ago(30), male=True)
    r = client.post("/api/v1/me/visitors", json={**LI, "id_number": stranger})
    assert r.status_code == 422 and r.json()["code"] == "realname_mismatch"


def test_bad_checksum_is_422_naming_the_id_number_without_asking_the_authority(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    r = client.post("/api/v1/me/visitors", json={**WANG, "id_number": "110105194912310021"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {**r.json()["errors"][0], "field": "body.id_number", "code": "id_number_checksum"}
    ]
    assert _authority_calls(db) == 0


def test_malformed_fields_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    _signed_in(client, db, settings)
    r = client.post(
        "/api/v1/me/visitors", json={"name": "", "id_number": "1", "phone": "999", "relation": "cousin"}
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "body.name",
        "body.id_number",
        "body.phone",
        "body.relation",
    }


def test_authority_down_is_502_and_writes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    person = seed_person(db, "钱多多", make_id_number(years_ago(40), male=False), "19900001234")
    r = client.post("/api/v1/me/visitors", json={**person, "relation": "spouse"})
    assert r.status_code == 502 and r.json()["code"] == "upstream_failed"
    assert db.scalar(select(func.count(Visitor.id))) == 0
    assert _authority_calls(db) == 2  # one retry, then give up


def test_minor_and_under_six_are_flagged(client: TestClient, db: Session, settings: Settings) -> None:
    _signed_in(client, db, settings)
    toddler = seed_person(db, "张小宝", make_id_number(years_ago(3), male=True), "13900130002")
    teen = seed_person(db, "张小芳", make_id_number(years_ago(15), male=False), "13900130003")
    a = client.post("/api/v1/me/visitors", json={**toddler, "relation": "child"}).json()
    b = client.post("/api/v1/me/visitors", json={**teen, "relation": "child"}).json()
    assert (a["age"], a["is_minor"], a["under_six"], a["sex"]) == (3, True, True, 1)
    assert (b["age"], b["is_minor"], b["under_six"], b["sex"]) == (15, True, False, 2)


def test_only_one_self_and_no_duplicate_id_number(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _signed_in(client, db, settings)
    assert client.post("/api/v1/me/visitors", json=LI).status_code == 201
    calls = _authority_calls(db)
    dup = client.post("/api/v1/me/visitors", json={**LI, "relation": "other"})
    assert dup.status_code == 409 and dup.json()["reason"] == "duplicate"
    second_self = client.post("/api/v1/me/visitors", json={**WANG, "relation": "self"})
    assert second_self.status_code == 409 and second_self.json()["reason"] == "self_exists"
    assert _authority_calls(db) == calls  # refused before paying for an authority call


def test_at_most_ten_visitors(client: TestClient, db: Session, settings: Settings) -> None:
    _, patient = _signed_in(client, db, settings)
    for i in range(10):
        make_visitor(db, patient, relation="other", name=f"亲属{i}")
    r = client.post("/api/v1/me/visitors", json=WANG)
    assert r.status_code == 409 and r.json()["reason"] == "limit"


def test_removed_visitor_can_be_added_again(client: TestClient, db: Session, settings: Settings) -> None:
    _signed_in(client, db, settings)
    first = client.post("/api/v1/me/visitors", json=WANG).json()
    assert client.delete(f"/api/v1/me/visitors/{first['id']}").status_code == 204
    assert client.get("/api/v1/me/visitors").json() == []
    again = client.post("/api/v1/me/visitors", json=WANG)
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert [v["id"] for v in client.get("/api/v1/me/visitors").json()] == [first["id"]]


def test_list_and_read_are_masked_and_audited_per_visitor(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, patient = _signed_in(client, db, settings)
    child = make_visitor(db, patient, relation="child", name="欧阳娜娜", male=False, birth=years_ago(8))
    me = make_visitor(db, patient, relation="self", name="李四")
    listed = client.get("/api/v1/me/visitors")
    assert listed.status_code == 200
    assert [(v["id"], v["name"]) for v in listed.json()] == [(me.id, "李*"), (child.id, "欧***")]
    one = client.get(f"/api/v1/me/visitors/{child.id}")
    assert one.status_code == 200 and one.json()["id_number"].startswith("110***********")
    db.expire_all()
    reads = list(db.scalars(select(AuditEvent.patient_id).where(AuditEvent.action == "visitor.read")))
    assert sorted(reads) == sorted([me.id, child.id, child.id])


def test_another_patients_visitor_is_not_found(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _signed_in(client, db, settings)
    other = make_patient(db, inst)
    theirs = make_visitor(db, other)
    assert client.get(f"/api/v1/me/visitors/{theirs.id}").status_code == 404
    assert client.delete(f"/api/v1/me/visitors/{theirs.id}").status_code == 404
    assert client.get("/api/v1/me/visitors").json() == []
    db.expire_all()
    assert db.get(Visitor, theirs.id).removed_at is None  # type: ignore[union-attr]


def test_anonymous_callers_get_401(anon: TestClient) -> None:
    for method, path in (
        ("get", "/api/v1/me/visitors"),
        ("post", "/api/v1/me/visitors"),
        ("get", "/api/v1/me/visitors/1"),
        ("delete", "/api/v1/me/visitors/1"),
    ):
        r = anon.request(method.upper(), path, json=LI if method == "post" else None)
        assert r.status_code == 401, path


def test_staff_are_refused(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["super_admin"]), settings)
    assert client.get("/api/v1/me/visitors").status_code == 403
    assert client.post("/api/v1/me/visitors", json=LI).status_code == 403


def test_adding_a_visitor_requires_the_current_consent_but_reading_does_not(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    doc = make_consent(db, inst)
    patient = make_patient(db, inst)
    make_visitor(db, patient)
    login_as(client, db, patient, settings)
    r = client.post("/api/v1/me/visitors", json=WANG)
    assert r.status_code == 403 and r.json()["code"] == "consent_required"
    assert r.json()["consent"] == {"document_id": doc.id, "version": doc.version}
    assert len(client.get("/api/v1/me/visitors").json()) == 1
    assert _authority_calls(db) == 0
