"""From the preview the doctor opens what the patient brings: the uploaded earlier record (the file
itself) and the signed records of earlier consultations here, by any doctor of the hospital. Only
while the patient is registered with them; drafts never show; every read is audited."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_consultation import as_doctor, paid_registration, start_session_now
from tests.factories_org import PDF_BYTES
from tests.factories_registration import World, book, make_evidence, pay
from tests.factories_scheduling import make_scheduling_doctor, make_session
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


def _actions(db: Session, action: str) -> int:
    db.expire_all()
    return len(db.scalars(select(AuditEvent.id).where(AuditEvent.action == action)).all())


def test_the_next_doctor_reads_the_earlier_signed_record_but_not_a_draft(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    # Doctor 张 sees the patient, signs the record, completes, then starts a correction (a draft).
    world, who, held = paid_registration(client, anon, db, settings)
    doctor = as_doctor(client, db, world, settings)
    enrol_and_activate(client, db, settings, world.inst, doctor=doctor)
    as_doctor(client, db, world, settings)
    first = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{first['id']}/record"
    assert client.put(url, json=RECORD).status_code == 200
    signed = client.post(f"{url}/sign", json={"pin": DOCTOR_PIN})
    assert signed.status_code == 200, signed.text
    assert client.post(f"{WS}/consultations/{first['id']}/complete").status_code == 200
    assert client.put(url, json={**RECORD, "advice": "未签名的更正"}).json()["status"] == "draft"

    # The patient books a colleague's session next.
    colleague = make_scheduling_doctor(db, world.inst, world.dept, display_name="李医生")
    later = make_session(db, colleague, status="published", days=1)
    db.commit()
    fresh = make_evidence(db, who.account, who.visitor, world.dept.id)
    second = book(client, db, settings, who, later, evidence_id=fresh.id)
    pay(client, anon, second["bill_id"])
    start_session_now(db, World(world.inst, world.dept, colleague, later))

    login_as(client, db, db.get(type(who.account), colleague.user_id), settings)  # type: ignore[arg-type]
    preview = client.get(f"{WS}/registrations/{second['id']}/preview").json()
    [earlier] = preview["earlier"]
    assert earlier["consultation_id"] == first["id"] and earlier["doctor_name"] == "张医生"
    assert earlier["signed_record_id"] == signed.json()["id"]

    opened = client.get(f"{WS}/registrations/{second['id']}/earlier/{first['id']}/record")
    assert opened.status_code == 200, opened.text
    [version] = opened.json()  # the signed version only: the draft correction stays the author's
    assert (version["status"], version["advice"]) == ("signed", RECORD["advice"])
    assert version["signature"]["verification_code"] == signed.json()["signature"]["verification_code"]
    assert _actions(db, "consultation.record.read_earlier") == 1

    # Not through the patient's own current registration, and not for a stranger's consultation.
    assert client.get(f"{WS}/registrations/{second['id']}/earlier/{second['id']}/record").status_code == 404
    assert client.get(f"{WS}/registrations/{held['id']}/earlier/{first['id']}/record").status_code == 404
    # A third doctor with no registration of this patient sees nothing.
    third = make_scheduling_doctor(db, world.inst, world.dept, display_name="王医生")
    db.commit()
    login_as(client, db, db.get(type(who.account), third.user_id), settings)  # type: ignore[arg-type]
    assert client.get(f"{WS}/registrations/{second['id']}/earlier/{first['id']}/record").status_code == 404
    login_as(client, db, who.account, settings)
    assert client.get(f"{WS}/registrations/{second['id']}/earlier/{first['id']}/record").status_code == 403
    assert anon.get(f"{WS}/registrations/{second['id']}/earlier/{first['id']}/record").status_code == 401
    assert _actions(db, "consultation.record.read_earlier") == 1


def test_the_doctor_opens_the_file_the_patient_uploaded(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    login_as(client, db, who.account, settings)
    uploaded = client.post(
        "/api/v1/me/evidence",
        data={"visitor_id": str(who.visitor.id), "department_id": str(world.dept.id)},
        files={"file": ("门诊病历.pdf", PDF_BYTES, "application/pdf")},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    upload_id = uploaded.json()["id"]

    as_doctor(client, db, world, settings)
    [listed] = client.get(f"{WS}/registrations/{held['id']}/preview").json()["uploads"]
    assert listed["id"] == upload_id
    before = _actions(db, "evidence.read")
    file = client.get(f"{WS}/registrations/{held['id']}/uploads/{upload_id}/file")
    assert file.status_code == 200 and file.content == PDF_BYTES
    assert file.headers["content-type"] == "application/pdf" and file.headers["cache-control"] == "no-store"
    assert _actions(db, "evidence.read") == before + 1
    assert client.get(f"{WS}/registrations/{held['id']}/uploads/{upload_id + 999}/file").status_code == 404

    colleague = make_scheduling_doctor(db, world.inst, world.dept)
    db.commit()
    login_as(client, db, db.get(type(who.account), colleague.user_id), settings)  # type: ignore[arg-type]
    assert client.get(f"{WS}/registrations/{held['id']}/uploads/{upload_id}/file").status_code == 404
    login_as(client, db, who.account, settings)
    assert client.get(f"{WS}/registrations/{held['id']}/uploads/{upload_id}/file").status_code == 403
    assert anon.get(f"{WS}/registrations/{held['id']}/uploads/{upload_id}/file").status_code == 401
