"""The hospital seal (电子公章): enrolled by IT with a keeper, opened by its own PIN, one per institution."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, InvalidInput
from ihis.settings import Settings
from ihis.signing import service
from ihis.signing.models import SigningCredential
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_staff
from tests.factories_signing import DOCTOR_PIN, actor_of, enrol_and_activate

SEAL_PIN = "864202"


@pytest.fixture
def inst(db: Session) -> Institution:
    return make_institution(db, name="第二人民医院", credit_code="12110000400000000X")


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def _enrol_seal(
    client: TestClient, db: Session, settings: Settings, inst: Institution, keeper: UserAccount
) -> None:
    login_as(client, db, make_staff(db, inst, roles=("it_admin",)), settings)
    answer = client.post(f"/api/v1/admin/signers/{keeper.id}/enrol", json={"purpose": "seal"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["purpose"] == "seal" and answer.json()["signer_kind"] == "seal"


def test_the_keeper_sets_the_seal_pin_and_signs_with_the_seal(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    keeper = make_staff(db, inst, roles=("operations",))
    db.commit()
    _enrol_seal(client, db, settings, inst, keeper)
    login_as(client, db, keeper, settings)
    assert (
        client.put("/api/v1/me/signing-pin", json={"new_pin": SEAL_PIN, "purpose": "seal"}).status_code == 200
    )
    cert = client.get("/api/v1/me/signing-certificate", params={"purpose": "seal"}).json()
    assert cert["status"] == "active" and cert["purpose"] == "seal"
    assert "CN=第二人民医院" in cert["subject"] and "12110000400000000X" in cert["subject"]
    assert client.get("/api/v1/me/signing-certificate").json()["status"] == "not_enrolled"
    doc = service.sign_document(
        _database(client), actor_of(keeper, ("operations",)), SEAL_PIN, "invoice", "I-1", {"a": 1}, seal=True
    )
    assert service.verify(db, doc).valid
    with pytest.raises(Conflict):
        service.sign_document(
            _database(client), actor_of(keeper, ("operations",)), SEAL_PIN, "invoice", "I-2", {}
        )


def test_a_doctor_keeping_the_seal_has_two_separate_pins(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    _enrol_seal(client, db, settings, inst, doctor)
    login_as(client, db, doctor, settings)
    assert (
        client.put("/api/v1/me/signing-pin", json={"new_pin": SEAL_PIN, "purpose": "seal"}).status_code == 200
    )
    with pytest.raises(InvalidInput):
        service.sign_document(_database(client), actor_of(doctor), DOCTOR_PIN, "emr", "S-1", {}, seal=True)
    own = service.sign_document(_database(client), actor_of(doctor), DOCTOR_PIN, "emr", "S-1", {})
    sealed = service.sign_document(_database(client), actor_of(doctor), SEAL_PIN, "emr", "S-1", {}, seal=True)
    assert own.certificate_serial != sealed.certificate_serial


def test_a_new_keeper_replaces_the_old_seal(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    first, second = make_staff(db, inst, roles=("operations",)), make_staff(db, inst, roles=("pharmacist",))
    db.commit()
    _enrol_seal(client, db, settings, inst, first)
    _enrol_seal(client, db, settings, inst, second)
    seals = db.scalars(
        select(SigningCredential).where(SigningCredential.purpose == "seal").order_by(SigningCredential.id)
    ).all()
    assert [(s.user_id, s.status) for s in seals] == [(first.id, "revoked"), (second.id, "pending_pin")]


def test_a_bad_purpose_is_refused_naming_the_field(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    keeper = make_staff(db, inst, roles=("operations",))
    login_as(client, db, make_staff(db, inst, roles=("it_admin",)), settings)
    answer = client.post(f"/api/v1/admin/signers/{keeper.id}/enrol", json={"purpose": "stamp"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.purpose"
