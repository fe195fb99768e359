"""Writing the outpatient record: a draft per consultation, checked fields, versions; patients see
only signed versions (signing itself: test_records_sign_api.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_consultation import as_doctor, paid_registration
from tests.factories_org import problem_fields

WS = "/api/v1/workstation"
RECORD = {
    "chief_complaint": "头晕两周",
    "present_illness": "家庭自测血压 150/95 mmHg",
    "past_history": "高血压 10 年",
    "allergy_history": "青霉素过敏",
    "diagnoses": [{"system": "icd10", "code": "i10.x00x002"}],
    "advice": "氨氯地平 5 mg 每日一次；两周后复诊",
}


def test_the_doctor_writes_one_draft_and_edits_it(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{consultation['id']}/record"
    assert client.get(url).json() == []
    first = client.put(url, json=RECORD)
    assert first.status_code == 200, first.text
    draft = first.json()
    assert (draft["version"], draft["status"], draft["amends_id"]) == (1, "draft", None)
    # The code table's code and name are kept, with its edition.
    assert draft["diagnoses"] == [
        {"system": "icd10", "edition": "ICD-10 国临版 2.0", "code": "I10.x00x002", "name": "原发性高血压"}
    ]
    again = client.put(url, json={**RECORD, "advice": "改为每日两次"}).json()
    assert (again["id"], again["advice"]) == (draft["id"], "改为每日两次")  # the same draft
    assert [v["version"] for v in client.get(url).json()] == [1]
    assert client.get(f"{WS}/consultations/{consultation['id']}").json()["record_status"] == "draft"
    # Patients never see drafts.
    login_as(client, db, who.account, settings)
    assert client.get("/api/v1/me/records").json() == []
    assert client.get(f"/api/v1/me/records/{draft['id']}").status_code == 404


def test_record_input_errors_name_the_field(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, _who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{consultation['id']}/record"
    bad_code = {**RECORD, "diagnoses": [{"system": "icd10", "code": "高血压"}]}
    assert problem_fields(client.put(url, json=bad_code)) == ["body.diagnoses.0.code"]
    twice = {**RECORD, "diagnoses": RECORD["diagnoses"] * 2}
    assert problem_fields(client.put(url, json=twice)) == ["body.diagnoses.1.code"]
    assert problem_fields(
        client.put(url, json={**RECORD, "diagnoses": [{"system": "x", "code": "I10"}]})
    ) == ["body.diagnoses.0.system"]
    assert problem_fields(client.put(url, json={**RECORD, "advice": "x" * 4001})) == ["body.advice"]
    assert client.post(f"{url}/sign", json={"pin": "123456"}).status_code == 409  # nothing to sign
    client.put(url, json={**RECORD, "diagnoses": []})
    assert problem_fields(client.post(f"{url}/sign", json={"pin": "123456"})) == ["diagnoses"]


def test_only_the_consultations_doctor_writes_it(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{consultation['id']}/record"
    login_as(client, db, who.account, settings)
    assert client.put(url, json=RECORD).status_code == 403
    assert anon.put(url, json=RECORD).status_code == 401
    assert anon.get("/api/v1/me/records").status_code == 401
