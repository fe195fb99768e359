"""Enrolment by IT, the person's own signing PIN, wrong PINs counted, locked and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.integrations.ca import pki
from ihis.integrations.ca.models import SandboxCaSigner
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, InvalidInput, RateLimited
from ihis.settings import Settings
from ihis.signing import service
from ihis.signing.models import SigningCredential
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_signing import DOCTOR_PIN, actor_of, enrol_and_activate

PIN_URL = "/api/v1/me/signing-pin"
CERT_URL = "/api/v1/me/signing-certificate"


@pytest.fixture
def inst(db: Session) -> Institution:
    return make_institution(db, name="第一人民医院")


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def _sign(client: TestClient, doctor: UserAccount, pin: str) -> object:
    return service.sign_document(_database(client), actor_of(doctor), pin, "emr", "R-1", {"a": 1})


def _enrol(
    client: TestClient, db: Session, settings: Settings, inst: Institution, person: UserAccount
) -> int:
    admin = make_staff(db, inst, roles=("it_admin",))
    db.commit()
    login_as(client, db, admin, settings)
    answer = client.post(f"/api/v1/admin/signers/{person.id}/enrol")
    assert answer.status_code == 201, answer.text
    return int(answer.json()["credential_id"])


def test_first_pin_issues_the_certificate_with_name_staff_number_and_institution(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = make_staff(db, inst, roles=("doctor",), display_name="张医生", staff_no="D0042")
    _enrol(client, db, settings, inst, doctor)
    login_as(client, db, doctor, settings)
    assert client.get(CERT_URL).json()["status"] == "pending_pin"
    answer = client.put(PIN_URL, json={"new_pin": "246810"})
    assert answer.status_code == 200, answer.text
    body = client.get(CERT_URL).json()
    assert body["status"] == "active" and body["signer_kind"] == "doctor"
    assert "CN=张医生" in body["subject"] and "2.5.4.5=D0042" in body["subject"]
    assert "O=第一人民医院" in body["subject"]
    assert dt.datetime.fromisoformat(body["not_after"]) > utcnow() + dt.timedelta(days=365)
    cred = db.scalar(select(SigningCredential).where(SigningCredential.user_id == doctor.id))
    assert cred is not None and cred.certificate_pem is not None
    cert = pki.load_cert(cred.certificate_pem)
    from cryptography import x509

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "signing.pin.set")) is not None


def test_enrolment_without_a_pin_leaves_no_usable_key(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = make_staff(db, inst, roles=("doctor",))
    _enrol(client, db, settings, inst, doctor)
    signer = db.scalar(select(SandboxCaSigner).order_by(SandboxCaSigner.id.desc()))
    assert signer is not None and signer.wrapped_key is None and signer.cert_pem is None
    with pytest.raises(Conflict) as caught:
        _sign(client, doctor, DOCTOR_PIN)
    assert caught.value.extra["signing_status"] == "pending_pin"


def test_the_key_is_held_only_wrapped_under_the_pin(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    enrol_and_activate(client, db, settings, inst)
    signer = db.scalar(select(SandboxCaSigner).where(SandboxCaSigner.status == "active"))
    assert signer is not None and signer.wrapped_key is not None
    assert "PRIVATE KEY" not in signer.wrapped_key and DOCTOR_PIN not in signer.wrapped_key
    assert pki.unwrap_key(signer.wrapped_key, "999999", signer.signer_ref) is None
    assert pki.unwrap_key(signer.wrapped_key, DOCTOR_PIN, signer.signer_ref) is not None
    # Bound to its signer: the blob does not open under another reference.
    assert pki.unwrap_key(signer.wrapped_key, DOCTOR_PIN, "sgn_other") is None


def test_pin_rules_name_the_field(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = make_staff(db, inst, roles=("doctor",))
    _enrol(client, db, settings, inst, doctor)
    login_as(client, db, doctor, settings)
    for pin, code in (
        ("123456", "pin_too_simple"),
        ("777777", "pin_too_simple"),
        ("12ab56", "pin_format"),
        ("12345", "pin_format"),
    ):
        answer = client.put(PIN_URL, json={"new_pin": pin})
        assert answer.status_code == 422
        assert answer.json()["errors"][0] == {
            "field": "body.new_pin",
            "code": code,
            "message": answer.json()["errors"][0]["message"],
        }
    assert client.put(PIN_URL, json={}).json()["errors"][0]["field"] == "body.new_pin"


def test_changing_the_pin_needs_the_old_one_and_then_only_the_new_one_signs(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    missing = client.put(PIN_URL, json={"new_pin": "135792"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.old_pin"
    wrong = client.put(PIN_URL, json={"new_pin": "135792", "old_pin": "000001"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["code"] == "pin_wrong" and wrong.json()["remaining_attempts"] == 4
    same = client.put(PIN_URL, json={"new_pin": DOCTOR_PIN, "old_pin": DOCTOR_PIN})
    assert same.status_code == 422 and same.json()["errors"][0]["code"] == "pin_unchanged"
    changed = client.put(PIN_URL, json={"new_pin": "135792", "old_pin": DOCTOR_PIN})
    assert changed.status_code == 200, changed.text
    with pytest.raises(InvalidInput):
        _sign(client, doctor, DOCTOR_PIN)
    assert _sign(client, doctor, "135792") is not None
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"signing.pin.change", "signing.pin.wrong"} <= actions


def test_wrong_pins_are_rejected_then_signing_locks_and_it_is_audited(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    for remaining in (4, 3, 2, 1):
        with pytest.raises(InvalidInput) as caught:
            _sign(client, doctor, "000001")
        assert (
            caught.value.errors[0].field == "body.pin"
            and caught.value.extra["remaining_attempts"] == remaining
        )
    with pytest.raises(RateLimited):
        _sign(client, doctor, "000001")
    # Locked: even the right PIN is refused, without asking the CA.
    with pytest.raises(RateLimited) as locked:
        _sign(client, doctor, DOCTOR_PIN)
    assert 14 * 60 <= locked.value.extra["retry_after"] <= 15 * 60
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(("signing.pin.wrong", "signing.pin.locked")))
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["signing.pin.wrong"] * 4 + ["signing.pin.locked"]
    assert {e.outcome for e in events} == {"failure"} and all(e.actor_id == doctor.id for e in events)
    # The lock ends after the configured minutes (moved into the past instead of waiting).
    past = utcnow() - dt.timedelta(seconds=1)
    db.execute(update(SigningCredential).values(locked_until=past))
    db.execute(update(SandboxCaSigner).values(locked_until=past))
    db.commit()
    assert _sign(client, doctor, DOCTOR_PIN) is not None
    cred = db.scalar(select(SigningCredential).where(SigningCredential.user_id == doctor.id))
    assert cred is not None
    db.refresh(cred)
    assert cred.failed_pin_attempts == 0


def test_the_sandbox_ca_locks_by_itself_too(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    for _ in range(4):
        with pytest.raises(InvalidInput):
            _sign(client, doctor, "000001")
    # IHIS forgets its own count: the CA's lock still stops the fifth guess, and IHIS mirrors it.
    db.execute(update(SigningCredential).values(failed_pin_attempts=0))
    db.commit()
    with pytest.raises(RateLimited):
        _sign(client, doctor, "000001")
    cred = db.scalar(select(SigningCredential).where(SigningCredential.user_id == doctor.id))
    assert cred is not None
    db.refresh(cred)
    assert cred.locked_until is not None and cred.locked_until > utcnow()
    signer = db.scalar(select(SandboxCaSigner).where(SandboxCaSigner.status == "active"))
    assert signer is not None
    db.refresh(signer)
    assert signer.locked_until is not None and signer.locked_until > utcnow()


def test_pin_endpoints_guards(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    assert anon.put(PIN_URL, json={"new_pin": "246810"}).status_code == 401
    assert anon.get(CERT_URL).status_code == 401
    login_as(client, db, make_patient(db, inst), settings)
    assert client.put(PIN_URL, json={"new_pin": "246810"}).status_code == 403
    assert client.get(CERT_URL).status_code == 403
    nurse = make_staff(db, inst, roles=("nurse",))
    login_as(client, db, nurse, settings)
    assert client.get(CERT_URL).json() == {
        "status": "not_enrolled", "purpose": "personal", "signer_kind": None, "subject": None, "serial": None,
        "not_before": None, "not_after": None, "locked_until": None,
    }  # fmt: skip
    assert client.put(PIN_URL, json={"new_pin": "246810"}).status_code == 404


def test_enrolment_guards(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = make_staff(db, inst, roles=("doctor",))
    nurse = make_staff(db, inst, roles=("nurse",))
    stranger = make_staff(db, make_institution(db), roles=("doctor",))
    db.commit()
    assert anon.post(f"/api/v1/admin/signers/{doctor.id}/enrol").status_code == 401
    login_as(client, db, doctor, settings)
    assert client.post(f"/api/v1/admin/signers/{doctor.id}/enrol").status_code == 403
    login_as(client, db, make_staff(db, inst, roles=("it_admin",)), settings)
    assert client.post(f"/api/v1/admin/signers/{stranger.id}/enrol").status_code == 404
    assert client.post(f"/api/v1/admin/signers/{nurse.id}/enrol").status_code == 409
    bad = client.post("/api/v1/admin/signers/0/enrol")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.user_id"
    pharmacist = make_staff(db, inst, roles=("pharmacist",))
    db.commit()
    answer = client.post(f"/api/v1/admin/signers/{pharmacist.id}/enrol")
    assert answer.status_code == 201 and answer.json()["signer_kind"] == "pharmacist"
    assert answer.json()["status"] == "pending_pin"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "signing.signer.enrol")) is not None


def test_re_enrolment_revokes_the_old_certificate_and_needs_a_new_pin(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    _enrol(client, db, settings, inst, doctor)
    rows = db.scalars(
        select(SigningCredential).where(SigningCredential.user_id == doctor.id).order_by(SigningCredential.id)
    ).all()
    assert [r.status for r in rows] == ["revoked", "pending_pin"]
    old_signer = db.scalar(select(SandboxCaSigner).where(SandboxCaSigner.signer_ref == rows[0].ca_signer_ref))
    assert old_signer is not None and old_signer.status == "revoked" and old_signer.wrapped_key is None
    with pytest.raises(Conflict):
        _sign(client, doctor, DOCTOR_PIN)
    login_as(client, db, doctor, settings)
    assert client.put(PIN_URL, json={"new_pin": "975319"}).status_code == 200
    assert _sign(client, doctor, "975319") is not None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "signing.signer.revoke")) is not None


def test_an_expired_certificate_does_not_sign(
    client: TestClient, db: Session, settings: Settings, inst: Institution
) -> None:
    doctor = enrol_and_activate(client, db, settings, inst)
    db.execute(update(SigningCredential).values(not_after=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    with pytest.raises(Conflict) as caught:
        _sign(client, doctor, DOCTOR_PIN)
    assert caught.value.extra["signing_status"] == "expired"
