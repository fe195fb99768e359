"""Signing a document end to end (sandbox CA and TSA over HTTP) and verifying all four checks;
every kind of tampering is detected and named."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ihis import cli
from ihis.integrations.ca import pki
from ihis.platform.audit import AuditEvent
from ihis.platform.db import Database
from ihis.platform.errors import InvalidInput
from ihis.settings import Settings
from ihis.signing import service
from ihis.signing.models import SignedDocument
from ihis.tenancy.models import Institution
from tests.factories import make_institution, make_staff
from tests.factories_signing import DOCTOR_PIN, actor_of, enrol_and_activate

RECORD = {"chief_complaint": "头痛三天", "diagnoses": [{"code": "I10", "name": "高血压"}], "fee_fen": 3000}


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def _sign(
    client: TestClient, doctor_actor_of: object, ref_id: str = "C-1", payload: object = RECORD
) -> SignedDocument:
    return service.sign_document(_database(client), doctor_actor_of, DOCTOR_PIN, "emr", ref_id, payload)  # type: ignore[arg-type]


@pytest.fixture
def inst(db: Session) -> Institution:
    return make_institution(db)


@pytest.fixture
def signed(client: TestClient, db: Session, settings: Settings, inst: Institution) -> SignedDocument:
    doctor = enrol_and_activate(client, db, settings, inst)
    # Re-read in the test's session, so that tampering below writes the stored row.
    stored = db.get(SignedDocument, _sign(client, actor_of(doctor)).id)
    assert stored is not None
    return stored


def _codes(db: Session, doc: SignedDocument) -> dict[str, str]:
    return {c.name: c.code for c in service.verify(db, doc).checks}


def test_a_signed_document_verifies_on_all_four_checks(db: Session, signed: SignedDocument) -> None:
    report = service.verify(db, signed)
    assert report.valid, report.failures
    assert [c.name for c in report.checks] == ["content", "signature", "certificate", "timestamp"]
    assert signed.version == 1
    assert (signed.digest_algorithm, signed.signature_algorithm) == ("sha256", "ecdsa-p256-sha256")
    assert report.timestamped_at is not None and "IHIS Sandbox TSA" in (report.tsa_subject or "")
    assert abs(report.timestamped_at - signed.signed_at) < dt.timedelta(minutes=1)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "signing.document.sign")) is not None


def test_the_stored_content_is_the_canonical_json_and_is_encrypted_at_rest(
    db: Session, signed: SignedDocument
) -> None:
    assert signed.content == (
        '{"chief_complaint":"头痛三天","diagnoses":[{"code":"I10","name":"高血压"}],"fee_fen":3000}'
    )
    raw = (
        db.connection()
        .exec_driver_sql(f"SELECT content FROM signed_document WHERE id = {signed.id}")
        .scalar()
    )
    assert "头痛" not in str(raw)


def test_changing_one_character_of_the_stored_content_is_detected_and_named(
    db: Session, signed: SignedDocument
) -> None:
    signed.content = signed.content.replace("三", "五")
    db.flush()
    report = service.verify(db, signed)
    assert not report.valid
    assert report.failures == ["digest_mismatch"]
    assert report.checks[0].message_en.startswith("The stored content does not match")


def test_swapping_the_certificate_for_another_doctors_is_detected_and_named(
    client: TestClient, db: Session, settings: Settings, inst: Institution, signed: SignedDocument
) -> None:
    other = enrol_and_activate(client, db, settings, inst)
    other_doc = _sign(client, actor_of(other), ref_id="C-2")
    signed.certificate_pem = other_doc.certificate_pem
    db.flush()
    assert _codes(db, signed) == {
        "content": "ok",
        "signature": "signature_invalid",
        "certificate": "certificate_serial_mismatch",
        "timestamp": "ok",
    }
    # Even with the recorded serial changed too, the signature gives the swap away.
    signed.certificate_serial = other_doc.certificate_serial
    db.flush()
    assert service.verify(db, signed).failures == ["signature_invalid"]


def test_a_certificate_from_another_ca_is_untrusted(db: Session, signed: SignedDocument) -> None:
    now = signed.signed_at
    foreign_key, foreign_root = pki.make_root("Some Other CA", now)
    original = pki.load_cert(signed.certificate_pem)
    forged = pki.issue(
        foreign_key, foreign_root, original.public_key(), common_name="x", organization="x", staff_no="1",
        now=now, days=30,
    )  # fmt: skip
    signed.certificate_pem = pki.cert_pem(forged)
    signed.certificate_serial = format(forged.serial_number, "x")
    db.flush()
    assert service.verify(db, signed).failures == ["certificate_untrusted"]


def test_a_corrupted_time_stamp_token_is_detected_and_named(db: Session, signed: SignedDocument) -> None:
    token = bytearray(base64.b64decode(signed.tsa_token_b64))
    token[-1] ^= 0x01  # the last bytes are the TSA's signature value
    signed.tsa_token_b64 = base64.b64encode(bytes(token)).decode()
    db.flush()
    assert service.verify(db, signed).failures == ["tsa_signature_invalid"]
    signed.tsa_token_b64 = base64.b64encode(b"not a token").decode()
    db.flush()
    assert service.verify(db, signed).failures == ["tsa_token_malformed"]


def test_a_time_stamp_of_another_signature_is_detected_and_named(
    client: TestClient, db: Session, signed: SignedDocument
) -> None:
    second = service.sign_document(
        _database(client),
        actor_of(_account(db, signed.signer_id)),
        DOCTOR_PIN,
        "emr",
        "C-9",
        {"x": 1},
    )
    signed.tsa_token_b64 = second.tsa_token_b64
    db.flush()
    assert service.verify(db, signed).failures == ["tsa_imprint_mismatch"]


def _account(db: Session, user_id: int):  # type: ignore[no-untyped-def]
    from ihis.identity.models import UserAccount

    return db.get(UserAccount, user_id)


def test_corrections_are_new_versions_and_every_version_stays_verifiable(
    client: TestClient, db: Session, signed: SignedDocument
) -> None:
    actor = actor_of(_account(db, signed.signer_id))
    corrected = service.sign_document(
        _database(client), actor, DOCTOR_PIN, "emr", "C-1", {**RECORD, "chief_complaint": "头痛四天"}
    )
    assert corrected.version == 2
    versions = service.versions(db, actor, "emr", "C-1")
    assert [v.version for v in versions] == [1, 2]
    assert all(service.verify(db, v).valid for v in versions)


def test_a_payload_with_a_float_is_refused_naming_the_field(
    client: TestClient, db: Session, signed: SignedDocument
) -> None:
    actor = actor_of(_account(db, signed.signer_id))
    with pytest.raises(InvalidInput) as caught:
        service.sign_document(_database(client), actor, DOCTOR_PIN, "emr", "C-3", {"fee": 30.5})
    assert caught.value.errors[0].field == "body.payload"
    assert caught.value.errors[0].code == "payload_not_canonical"


def test_staff_verify_endpoint_reports_all_checks(
    client: TestClient, db: Session, settings: Settings, inst: Institution, signed: SignedDocument
) -> None:
    answer = client.get(f"/api/v1/signatures/{signed.id}/verify")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["valid"] is True and body["failures"] == []
    assert [c["code"] for c in body["checks"]] == ["ok"] * 4
    assert body["document_id"] == signed.id and body["ref_id"] == "C-1"
    signed.content = signed.content.replace("三", "五")
    db.commit()
    body = client.get(f"/api/v1/signatures/{signed.id}/verify").json()
    assert body["valid"] is False and body["failures"] == ["digest_mismatch"]
    assert body["checks"][0]["message_zh"].startswith("存储的内容")
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "signing.document.verify")).all()
    assert [a.outcome for a in audited] == ["success", "failure"]


def test_staff_verify_endpoint_guards(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, signed: SignedDocument
) -> None:
    from tests.factories import login_as, make_patient

    assert anon.get(f"/api/v1/signatures/{signed.id}/verify").status_code == 401
    assert client.get("/api/v1/signatures/0/verify").json()["errors"][0]["field"] == "path.document_id"
    assert client.get(f"/api/v1/signatures/{signed.id + 1000}/verify").status_code == 404
    other_inst = make_institution(db)
    login_as(client, db, make_staff(db, other_inst, roles=("doctor",)), settings)
    assert client.get(f"/api/v1/signatures/{signed.id}/verify").status_code == 404
    login_as(client, db, make_patient(db, other_inst), settings)
    assert client.get(f"/api/v1/signatures/{signed.id}/verify").status_code == 403


def test_public_verification_by_code_holds_no_personal_data(
    anon: TestClient, db: Session, signed: SignedDocument
) -> None:
    answer = anon.get(f"/api/v1/public/verify/{signed.verification_code}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["valid"] is True and body["kind"] == "emr" and body["version"] == 1
    for private in ("ref_id", "signer_id", "certificate_subject", "content", "document_id"):
        assert private not in body
    assert "头痛" not in answer.text
    assert anon.get("/api/v1/public/verify/" + "A" * 22).status_code == 404
    bad = anon.get("/api/v1/public/verify/short")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.code"


def test_cli_verify_prints_the_report_and_fails_on_tampering(
    client: TestClient,
    db: Session,
    settings: Settings,
    signed: SignedDocument,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    monkeypatch.setattr(cli, "_database", lambda _settings: _database(client))
    runner = CliRunner()
    ok = runner.invoke(cli.app, ["verify", str(signed.id)])
    assert ok.exit_code == 0, ok.output
    assert "VALID" in ok.output and "[ok  ] timestamp" in ok.output
    signed.content = signed.content.replace("三", "五")
    db.flush()
    db.commit()
    bad = runner.invoke(cli.app, ["verify", str(signed.id)])
    assert bad.exit_code == 1
    assert "[FAIL] content" in bad.output and "digest_mismatch" in bad.output
    assert runner.invoke(cli.app, ["verify", str(signed.id + 1000)]).exit_code == 2


def test_a_bad_kind_or_reference_is_refused_naming_the_field(
    client: TestClient, db: Session, signed: SignedDocument
) -> None:
    actor = actor_of(_account(db, signed.signer_id))
    for kind, ref_id, field in (("EMR!", "C-1", "kind"), ("emr", "", "ref_id"), ("emr", "x" * 65, "ref_id")):
        with pytest.raises(InvalidInput) as caught:
            service.sign_document(_database(client), actor, DOCTOR_PIN, kind, ref_id, {})
        assert caught.value.errors[0].field == field
