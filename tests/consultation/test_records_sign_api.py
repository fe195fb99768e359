"""Signing the outpatient record with the PIN: archived with signature and time stamp; a correction is
a new signed version and the old one stays visible; the patient reads every version and downloads a
PDF whose verification code checks out; a tampered record is detected."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.consultation.models import MedicalRecord
from ihis.notifications.models import Message
from ihis.settings import Settings
from ihis.signing.models import SignedDocument
from tests.factories import login_as
from tests.factories_consultation import as_doctor, paid_registration
from tests.factories_org import problem_fields
from tests.factories_registration import make_booker
from tests.factories_signing import DOCTOR_PIN, enrol_and_activate

WS = "/api/v1/workstation"
RECORD = {
    "chief_complaint": "头晕两周",
    "present_illness": "家庭自测血压 150/95 mmHg",
    "past_history": "高血压 10 年",
    "allergy_history": "青霉素过敏",
    "diagnoses": [{"system": "icd10", "code": "I10.x00x002"}],
    "advice": "氨氯地平 5 mg 每日一次；两周后复诊",
}


def _signed_consultation(client: TestClient, anon: TestClient, db: Session, settings: Settings) -> tuple:  # type: ignore[type-arg]
    world, who, held = paid_registration(client, anon, db, settings)
    doctor = as_doctor(client, db, world, settings)
    enrol_and_activate(client, db, settings, world.inst, doctor=doctor)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{consultation['id']}/record"
    assert client.put(url, json=RECORD).status_code == 200
    return world, who, consultation, url


def test_the_doctor_signs_with_the_pin_and_the_record_is_archived(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    _world, who, consultation, url = _signed_consultation(client, anon, db, settings)
    wrong = client.post(f"{url}/sign", json={"pin": "000000"})
    assert wrong.status_code == 422 and problem_fields(wrong) == ["body.pin"]
    signed = client.post(f"{url}/sign", json={"pin": DOCTOR_PIN})
    assert signed.status_code == 200, signed.text
    record = signed.json()
    assert record["status"] == "signed" and record["signature"]["verification_code"]
    assert record["signature"]["digest_algorithm"] in ("SHA-256", "sha256", "SM3", "sm3")
    assert client.post(f"{url}/sign", json={"pin": DOCTOR_PIN}).status_code == 409  # no draft left

    # Completing is possible now; the patient was told.
    done = client.post(f"{WS}/consultations/{consultation['id']}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    db.expire_all()
    events = db.scalars(select(Message.event).where(Message.recipient_account_id == who.account.id)).all()
    assert "record_signed" in events

    # A correction: a new draft version amending the signed one, then signed; both stay visible.
    fixed = client.put(url, json={**RECORD, "advice": "氨氯地平 5 mg 每日一次；一周后复诊"}).json()
    assert (fixed["version"], fixed["amends_id"], fixed["status"]) == (2, record["id"], "draft")
    assert client.post(f"{url}/sign", json={"pin": DOCTOR_PIN}).status_code == 200
    versions = client.get(url).json()
    assert [(v["version"], v["status"]) for v in versions] == [(1, "signed"), (2, "signed")]
    assert versions[0]["advice"] == RECORD["advice"]  # the first version never changed

    login_as(client, db, who.account, settings)
    mine = client.get("/api/v1/me/records").json()
    assert sorted(r["version"] for r in mine) == [1, 2]
    pdf = client.get(f"/api/v1/me/records/{record['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"FontFile2" in pdf.content  # the CJK font is embedded
    code = record["signature"]["verification_code"]
    check = anon.get(f"/api/v1/public/verify/{code}")
    assert check.status_code == 200 and check.json()["valid"] is True


def test_a_record_changed_after_signing_fails_verification(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    _world, _who, _consultation, url = _signed_consultation(client, anon, db, settings)
    record = client.post(f"{url}/sign", json={"pin": DOCTOR_PIN}).json()
    document_id = record["signature"]["document_id"]
    stored = db.get(SignedDocument, document_id)
    assert stored is not None
    tampered = stored.content.replace("头晕两周", "头晕三周")
    db.execute(update(SignedDocument).where(SignedDocument.id == document_id).values(content=tampered))
    db.commit()
    check = anon.get(f"/api/v1/public/verify/{record['signature']['verification_code']}").json()
    assert check["valid"] is False
    assert db.scalar(select(MedicalRecord.status).where(MedicalRecord.id == record["id"])) == "signed"


def test_other_patients_cannot_read_or_download_a_record(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, _who, _consultation, url = _signed_consultation(client, anon, db, settings)
    record = client.post(f"{url}/sign", json={"pin": DOCTOR_PIN}).json()
    stranger = make_booker(db, world)
    login_as(client, db, stranger.account, settings)
    assert client.get(f"/api/v1/me/records/{record['id']}").status_code == 404
    assert client.get(f"/api/v1/me/records/{record['id']}/pdf").status_code == 404
    assert anon.get(f"/api/v1/me/records/{record['id']}/pdf").status_code == 401
