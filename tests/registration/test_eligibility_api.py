"""Eligibility API: checks against the sandbox HIS, uploads of earlier records, department policy."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount, Visitor
from ihis.integrations.his.sandbox import OUTAGE_PREFIX
from ihis.organization.models import Department
from ihis.platform.audit import AuditEvent
from ihis.platform.crypto.fields import blind_index
from ihis.registration.models import EligibilityEvidence, EvidenceUpload
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_his import his_patient, visit
from tests.factories_org import EXE_BYTES, PDF_BYTES, PNG_BYTES, make_department
from tests.factories_patient import make_consented_patient, make_visitor

CHECKS = "/api/v1/me/eligibility-checks"
EVIDENCE = "/api/v1/me/evidence"


def _cardio(db: Session, inst: Institution, **kw: object) -> Department:
    return make_department(
        db, inst, name="心血管内科", subject_code="03.04", subject_name="心血管内科专业", **kw
    )


def _patient(client: TestClient, db: Session, settings: Settings) -> tuple[UserAccount, Visitor, Department]:
    inst = make_institution(db)
    account = make_consented_patient(db, inst)
    login_as(client, db, account, settings)
    return account, make_visitor(db, account, name="王秀英"), _cardio(db, inst)


def _audits(db: Session, action: str, visitor_id: int) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action, AuditEvent.patient_id == visitor_id))
    )


def _problem_fields(response: httpx.Response) -> list[str]:
    body = response.json()
    return [e["field"] for e in body.get("errors", [])]


# --- checks ------------------------------------------------------------------------------------


def test_a_patient_with_a_recent_diagnosis_is_eligible_and_the_evidence_is_stored(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    fhir_id = his_patient(
        db, visitor.id_number, [visit("v1", 30, "心血管内科", "I10", icd10_cn="I10.x00x002")]
    )
    response = client.post(CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id, "tags": ["i10"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["eligible"] is True
    assert body["reasons"][0]["code"] == "eligible"
    assert body["tags"] == ["I10"]
    [item] = body["evidence"]
    assert (item["his_patient_id"], item["icd10_code"], item["department_name"]) == (
        fhir_id,
        "I10.x00x002",
        "心血管内科",
    )
    row = db.get(EligibilityEvidence, body["evidence_id"])
    assert row is not None and (row.source, row.visitor_id, row.department_id) == ("his", visitor.id, dept.id)
    assert json.loads(row.his_condition_ids or "[]") == [item["his_condition_id"]]
    assert json.loads(row.his_encounter_ids or "[]") == [item["his_encounter_id"]]
    assert row.registration_id is None
    assert len(_audits(db, "his.records.read", visitor.id)) == 1
    [check] = _audits(db, "eligibility.check", visitor.id)
    assert check.outcome == "success"


def test_an_ineligible_patient_is_told_why_in_plain_words(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    his_patient(db, visitor.id_number, [visit("v1", 30, "心血管内科", "I11.9")])
    response = client.post(CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id, "tags": ["I10"]})
    assert response.status_code == 201
    body = response.json()
    assert (body["eligible"], body["evidence"], body["evidence_id"], body["upload_allowed"]) == (
        False,
        [],
        None,
        True,
    )
    reason = body["reasons"][0]
    assert reason["code"] == "no_matching_diagnosis"
    assert reason["message"] == reason["message_zh"]
    assert "「高血压」" in reason["message_zh"]
    english = client.post(
        CHECKS,
        json={"visitor_id": visitor.id, "department_id": dept.id, "tags": ["I10"]},
        headers={"Accept-Language": "en"},
    )
    assert english.json()["reasons"][0]["message"].startswith("You have no visit for hypertension")
    assert (
        db.scalars(select(EligibilityEvidence).where(EligibilityEvidence.visitor_id == visitor.id)).all()
        == []
    )
    assert {a.outcome for a in _audits(db, "eligibility.check", visitor.id)} == {"denied"}


def test_a_visitor_unknown_to_the_his_is_not_eligible(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    response = client.post(CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id})
    assert (response.status_code, response.json()["reasons"][0]["code"]) == (201, "no_his_record")


def test_the_department_policy_window_applies_to_checks(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    his_patient(db, visitor.id_number, [visit("v1", 31, "心血管内科", "I10")])
    ops = TestClient(client.app, base_url="http://testserver")
    login_as(
        ops, db, make_staff(db, db.get(Institution, dept.institution_id), roles=["operations"]), settings
    )
    assert (
        ops.put(
            f"/api/v1/admin/departments/{dept.id}/eligibility-policy", json={"lookback_days": 30}
        ).status_code
        == 200
    )
    response = client.post(CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id})
    assert response.json()["reasons"][0]["code"] == "outside_lookback_window"
    assert response.json()["lookback_days"] == 30


def test_an_his_outage_answers_502_and_is_audited(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    outage = OUTAGE_PREFIX + "19700101001X"
    visitor.id_number, visitor.id_number_bidx = outage, blind_index(outage, "id_number")
    db.commit()
    response = client.post(CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id})
    assert response.status_code == 502
    assert response.json()["code"] == "his_unavailable"
    assert response.headers["content-type"].startswith("application/problem+json")
    [failure] = _audits(db, "his.records.read", visitor.id)
    assert failure.outcome == "failure"


def test_checks_reach_only_own_visitors_and_open_departments(
    client: TestClient, db: Session, settings: Settings
) -> None:
    account, visitor, dept = _patient(client, db, settings)
    inst = db.get(Institution, account.institution_id)
    assert inst is not None
    stranger = make_visitor(db, make_consented_patient(db, inst))
    other_dept = _cardio(db, make_institution(db))
    closed = make_department(db, inst, enabled=False)
    for visitor_id, dept_id in ((stranger.id, dept.id), (visitor.id, other_dept.id), (visitor.id, closed.id)):
        response = client.post(CHECKS, json={"visitor_id": visitor_id, "department_id": dept_id})
        assert response.status_code == 404, (visitor_id, dept_id)


def test_check_input_errors_name_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    _, visitor, dept = _patient(client, db, settings)
    missing = client.post(CHECKS, json={"department_id": dept.id})
    assert (missing.status_code, _problem_fields(missing)) == (422, ["body.visitor_id"])
    bad_tag = client.post(
        CHECKS, json={"visitor_id": visitor.id, "department_id": dept.id, "tags": ["hypertension"]}
    )
    assert (bad_tag.status_code, _problem_fields(bad_tag)) == (422, ["body.tags"])


def test_checks_need_a_consented_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    assert anon.post(CHECKS, json={"visitor_id": 1, "department_id": 1}).status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    assert client.post(CHECKS, json={"visitor_id": 1, "department_id": 1}).status_code == 403
    login_as(client, db, make_patient(db, inst), settings)
    refused = client.post(CHECKS, json={"visitor_id": 1, "department_id": 1})
    assert (refused.status_code, refused.json()["code"]) == (403, "consent_required")


# --- uploads -----------------------------------------------------------------------------------


def _upload(
    client: TestClient,
    visitor_id: object,
    dept_id: object,
    data: bytes = PDF_BYTES,
    name: str = "门诊病历.pdf",
) -> object:
    return client.post(
        EVIDENCE,
        data={"visitor_id": str(visitor_id), "department_id": str(dept_id)},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_an_uploaded_record_waits_for_a_doctor_and_a_retry_does_not_duplicate_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, visitor, dept = _patient(client, db, settings)
    first = _upload(client, visitor.id, dept.id)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["content_type"], body["filename"]) == (
        "pending_doctor_confirmation",
        "application/pdf",
        "门诊病历.pdf",
    )
    again = _upload(client, visitor.id, dept.id)
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    [evidence] = db.scalars(
        select(EligibilityEvidence).where(EligibilityEvidence.upload_id == body["id"])
    ).all()
    assert (evidence.source, evidence.visitor_id, evidence.registration_id) == ("upload", visitor.id, None)
    assert len(_audits(db, "evidence.upload", visitor.id)) == 1
    listed = client.get(EVIDENCE)
    assert [u["id"] for u in listed.json()] == [body["id"]]
    assert client.get(f"{EVIDENCE}/{body['id']}").json()["status"] == "pending_doctor_confirmation"
    file = client.get(f"{EVIDENCE}/{body['id']}/file")
    assert (file.status_code, file.content, file.headers["content-type"]) == (
        200,
        PDF_BYTES,
        "application/pdf",
    )
    assert file.headers["cache-control"] == "no-store"
    assert len(_audits(db, "evidence.read", visitor.id)) == 3


def test_uploads_are_refused_naming_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    _, visitor, dept = _patient(client, db, settings)
    exe = _upload(client, visitor.id, dept.id, EXE_BYTES, "report.pdf")
    assert (exe.status_code, _problem_fields(exe)) == (422, ["body.file"])
    app: Any = client.app
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 32})
    try:
        big = _upload(client, visitor.id, dept.id, PNG_BYTES + b"\x00" * 64, "scan.png")
        assert (big.status_code, _problem_fields(big)) == (413, ["body.file"])
    finally:
        app.state.settings = settings
    missing = client.post(
        EVIDENCE, data={"department_id": str(dept.id)}, files={"file": ("a.pdf", PDF_BYTES)}
    )
    assert (missing.status_code, _problem_fields(missing)) == (422, ["body.visitor_id"])
    assert db.scalars(select(EvidenceUpload)).all() == []


def test_uploads_reach_only_own_visitors_and_records(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    account, visitor, dept = _patient(client, db, settings)
    inst = db.get(Institution, account.institution_id)
    assert inst is not None
    other = make_consented_patient(db, inst)
    stranger = make_visitor(db, other)
    assert _upload(client, stranger.id, dept.id).status_code == 404
    mine = _upload(client, visitor.id, dept.id).json()["id"]
    login_as(anon, db, other, settings)
    assert anon.get(f"{EVIDENCE}/{mine}").status_code == 404
    assert anon.get(f"{EVIDENCE}/{mine}/file").status_code == 404
    assert anon.get(EVIDENCE).json() == []


def test_upload_endpoints_need_a_consented_patient(
    anon: TestClient, client: TestClient, db: Session, settings: Settings
) -> None:
    assert _upload(anon, 1, 1).status_code == 401
    assert anon.get(EVIDENCE).status_code == 401
    assert anon.get(f"{EVIDENCE}/1").status_code == 401
    assert anon.get(f"{EVIDENCE}/1/file").status_code == 401
    login_as(client, db, make_staff(db, make_institution(db), roles=["doctor"]), settings)
    assert client.get(EVIDENCE).status_code == 403
    assert client.get(f"{EVIDENCE}/1").status_code == 403
    assert client.get(f"{EVIDENCE}/1/file").status_code == 403
    assert _upload(client, 1, 1).status_code == 403


# --- department policy -------------------------------------------------------------------------


def test_operations_read_and_set_a_department_window(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = _cardio(db, inst)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    url = f"/api/v1/admin/departments/{dept.id}/eligibility-policy"
    assert client.get(url).json() == {
        "department_id": dept.id,
        "lookback_days": 180,
        "his_department_codes": [],
        "default_lookback_days": 180,
        "min_age_years": None,
        "max_age_years": None,
    }
    saved = client.put(url, json={"lookback_days": 90, "his_department_codes": ["0304A"]})
    assert saved.status_code == 200
    assert (saved.json()["lookback_days"], saved.json()["his_department_codes"]) == (90, ["0304A"])
    assert client.put(url, json={"lookback_days": 60}).json()["lookback_days"] == 60
    assert client.get(url).json()["lookback_days"] == 60
    db.expire_all()
    changes = db.scalars(select(AuditEvent).where(AuditEvent.action == "eligibility_policy.set")).all()
    assert [c.resource_id for c in changes] == [str(dept.id), str(dept.id)]


def test_policy_input_errors_name_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    dept = _cardio(db, inst)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    url = f"/api/v1/admin/departments/{dept.id}/eligibility-policy"
    zero = client.put(url, json={"lookback_days": 0})
    assert (zero.status_code, _problem_fields(zero)) == (422, ["body.lookback_days"])
    bad = client.put(url, json={"lookback_days": 30, "his_department_codes": ["a,b"]})
    assert (bad.status_code, _problem_fields(bad)) == (422, ["body.his_department_codes"])
    inverted = client.put(url, json={"lookback_days": 30, "min_age_years": 18, "max_age_years": 14})
    assert (inverted.status_code, _problem_fields(inverted)) == (422, ["body.max_age_years"])
    negative = client.put(url, json={"lookback_days": 30, "min_age_years": -1})
    assert (negative.status_code, _problem_fields(negative)) == (422, ["body.min_age_years"])
    ok = client.put(url, json={"lookback_days": 30, "max_age_years": 14})
    assert (ok.json()["min_age_years"], ok.json()["max_age_years"]) == (None, 14)


def test_the_policy_is_for_operations_of_the_same_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = _cardio(db, inst)
    url = f"/api/v1/admin/departments/{dept.id}/eligibility-policy"
    assert anon.get(url).status_code == 401
    assert anon.put(url, json={"lookback_days": 30}).status_code == 401
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get(url).status_code == 403
    assert client.put(url, json={"lookback_days": 30}).status_code == 403
    login_as(client, db, make_consented_patient(db, inst), settings)
    assert client.put(url, json={"lookback_days": 30}).status_code == 403
    login_as(client, db, make_staff(db, make_institution(db), roles=["operations"]), settings)
    assert client.get(url).status_code == 404
    assert client.put(url, json={"lookback_days": 30}).status_code == 404
