"""The patient's own profile: read (phone masked) and rename."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff


def test_profile_shows_the_masked_phone(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13012345689", display_name="小李")
    login_as(client, db, patient, settings)
    r = client.get("/api/v1/me/profile")
    assert r.status_code == 200
    body = r.json()
    assert body["user_id"] == patient.id and body["display_name"] == "小李"
    assert body["phone"] == "130******89" and body["password_set"] is True


def test_patient_renames_themselves_and_it_is_audited(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    login_as(client, db, patient, settings)
    r = client.patch("/api/v1/me/profile", json={"display_name": "新名字"})
    assert r.status_code == 200 and r.json()["display_name"] == "新名字"
    db.expire_all()
    assert db.get(UserAccount, patient.id).display_name == "新名字"  # type: ignore[union-attr]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "patient.profile.update"))
    assert event is not None and event.actor_id == patient.id


def test_bad_profile_input_names_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    for bad in ({"display_name": ""}, {"display_name": "x" * 33}, {}):
        r = client.patch("/api/v1/me/profile", json=bad)
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["body.display_name"]
    extra = client.patch("/api/v1/me/profile", json={"display_name": "ok", "phone": "13900000000"})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "body.phone"


def test_profile_needs_a_signed_in_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    assert anon.get("/api/v1/me/profile").status_code == 401
    assert anon.patch("/api/v1/me/profile", json={"display_name": "x"}).status_code == 401
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    assert client.get("/api/v1/me/profile").status_code == 403
    assert client.patch("/api/v1/me/profile", json={"display_name": "x"}).status_code == 403


def test_cookie_session_needs_the_csrf_header_to_rename(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    del client.headers["X-CSRF-Token"]
    assert client.patch("/api/v1/me/profile", json={"display_name": "x"}).status_code == 403


def test_patient_watermark_is_the_verified_own_name(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """DOMAIN §10: patient screens carry the patient's name (the real-name verified 'self')."""
    from tests.factories_patient import make_visitor

    inst = make_institution(db)
    patient = make_patient(db, inst, display_name="用户0001")
    login_as(client, db, patient, settings)
    assert client.get("/api/v1/auth/me").json()["watermark"] == "用户0001"
    make_visitor(db, patient, name="林小梅", relation="self")
    db.commit()
    assert client.get("/api/v1/auth/me").json()["watermark"] == "林小梅"
