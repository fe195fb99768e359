"""Personal and department EMR templates: CRUD, diagnosis validation, version guard, doors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.coding.models import CodeSystem
from ihis.identity.models import UserAccount
from ihis.organization.models import Department
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_coding import make_edition
from tests.factories_org import make_department, make_profile

MINE = "/api/v1/me/emr-templates"
DEPT = "/api/v1/emr-templates"


def _body(**kw: Any) -> dict[str, Any]:
    return {
        "name": "高血压复诊",
        "chief_complaint": "血压控制不佳 1 周",
        "present_illness": "规律服用氨氯地平，近一周家庭血压 150/95 mmHg。",
        "past_history": "高血压病史 5 年",
        "allergy_history": "否认药物过敏史",
        "diagnoses": [{"system": "icd10", "code": "i10.x00x002"}],
        "treatment_advice": "继续降压治疗，低盐饮食，两周后复诊。",
        **kw,
    }


def _world(db: Session) -> tuple[Institution, Department]:
    inst = make_institution(db)
    make_edition(db, inst)
    make_edition(
        db, inst, [("B04.03.01.01", "肝阳上亢证", None)], system=CodeSystem.TCM_SYNDROME, name="证候"
    )
    return inst, make_department(db, inst, name="心血管内科")


def _doctor(db: Session, inst: Institution, dept: Department | None = None) -> UserAccount:
    account = make_staff(db, inst, roles=["doctor"])
    make_profile(db, account, department=dept)
    return account


def test_a_doctor_keeps_personal_templates(client: TestClient, db: Session, settings: Settings) -> None:
    inst, dept = _world(db)
    login_as(client, db, _doctor(db, inst, dept), settings)
    created = client.post(
        MINE,
        json=_body(
            diagnoses=[
                {"system": "icd10", "code": "i10.x00x002", "name": "随便写的名字"},
                {"system": "tcm-syndrome", "code": "B04.03.01.01"},
            ]
        ),
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["scope"] == "personal" and template["department_id"] is None and template["version"] == 1
    # Codes as the table spells them, names from the table, edition recorded.
    assert template["diagnoses"] == [
        {"system": "icd10", "edition": "ICD-10 国临版 2.0", "code": "I10.x00x002", "name": "原发性高血压"},
        {"system": "tcm-syndrome", "edition": "证候", "code": "B04.03.01.01", "name": "肝阳上亢证"},
    ]
    assert [t["id"] for t in client.get(MINE).json()] == [template["id"]]
    assert client.get(f"{MINE}/{template['id']}").json()["name"] == "高血压复诊"

    updated = client.put(f"{MINE}/{template['id']}", json=_body(name="高血压复诊（调整）", version=1))
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = client.put(f"{MINE}/{template['id']}", json=_body(version=1))
    assert stale.status_code == 409 and stale.json()["errors"][0]["field"] == "body.version"

    assert client.delete(f"{MINE}/{template['id']}").status_code == 204
    assert client.get(f"{MINE}/{template['id']}").status_code == 404
    assert client.get(MINE).json() == []


def test_diagnoses_must_be_in_the_current_edition(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept = _world(db)
    make_edition(db, inst, [("Z99.999", "只在旧版", None)], name="旧版", current=False)
    login_as(client, db, _doctor(db, inst, dept), settings)
    cases = [
        ([{"system": "icd10", "code": "Z99.999"}], "body.diagnoses.0.code"),
        (
            [{"system": "icd10", "code": "I10.x00x002"}, {"system": "icd9", "code": "401"}],
            "body.diagnoses.1.system",
        ),
        ([{"system": "tcm-disease", "code": "A17.01"}], "body.diagnoses.0.code"),  # no current edition
        (
            [{"system": "icd10", "code": "E11.900"}, {"system": "icd10", "code": "e11.900"}],
            "body.diagnoses.1.code",
        ),
        ([{"system": "icd10"}], "body.diagnoses.0.code"),
    ]
    for diagnoses, field in cases:
        response = client.post(MINE, json=_body(diagnoses=diagnoses))
        assert response.status_code == 422, diagnoses
        assert [e["field"] for e in response.json()["errors"]] == [field], diagnoses
    assert client.get(MINE).json() == []


def test_bad_template_fields_are_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst, dept = _world(db)
    login_as(client, db, _doctor(db, inst, dept), settings)
    for body, field in (
        (_body(name=""), "body.name"),
        (_body(chief_complaint="x" * 501), "body.chief_complaint"),
        (_body(unknown="x"), "body.unknown"),
        (_body(diagnoses=[{"system": "icd10", "code": "I10"}] * 21), "body.diagnoses"),
    ):
        response = client.post(MINE, json=body)
        assert response.status_code == 422
        assert field in [e["field"] for e in response.json()["errors"]]
    assert client.post(MINE, json=_body()).status_code == 201
    taken = client.post(MINE, json=_body())
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "body.name"
    assert client.put(f"{MINE}/1", json=_body()).status_code == 422  # version missing


def test_personal_templates_are_private(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept = _world(db)
    login_as(client, db, _doctor(db, inst, dept), settings)
    template_id = client.post(MINE, json=_body()).json()["id"]
    assert anon.get(MINE).status_code == 401
    assert anon.post(MINE, json=_body()).status_code == 401
    assert anon.get(f"{MINE}/{template_id}").status_code == 401
    assert anon.delete(f"{MINE}/{template_id}").status_code == 401

    login_as(client, db, _doctor(db, inst, dept), settings)  # a colleague
    assert client.get(f"{MINE}/{template_id}").status_code == 404
    assert client.put(f"{MINE}/{template_id}", json=_body(version=1)).status_code == 404
    assert client.delete(f"{MINE}/{template_id}").status_code == 404
    assert client.get(f"{DEPT}/{template_id}").status_code == 404  # not a department template

    login_as(client, db, make_staff(db, inst, roles=["nurse"]), settings)
    assert client.get(MINE).status_code == 403
    login_as(client, db, make_patient(db, inst), settings)
    assert client.get(MINE).status_code == 403
    assert client.post(MINE, json=_body()).status_code == 403


def test_department_templates_are_shared_by_the_departments_doctors(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept = _world(db)
    login_as(client, db, _doctor(db, inst, dept), settings)
    created = client.post(DEPT, json=_body(department_id=dept.id))
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["scope"] == "department" and template["owner_user_id"] is None

    login_as(client, db, _doctor(db, inst, dept), settings)  # a colleague of the department
    assert [t["id"] for t in client.get(DEPT).json()] == [template["id"]]
    assert [t["id"] for t in client.get(DEPT, params={"department_id": dept.id}).json()] == [template["id"]]
    assert client.get(MINE).json() == []
    changed = client.put(f"{DEPT}/{template['id']}", json=_body(treatment_advice="改为两周复诊", version=1))
    assert changed.status_code == 200 and changed.json()["updated_by"] != template["created_by"]
    assert client.delete(f"{DEPT}/{template['id']}").status_code == 204
    assert client.get(DEPT).json() == []


def test_other_departments_and_institutions_cannot_use_a_departments_templates(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept = _world(db)
    login_as(client, db, _doctor(db, inst, dept), settings)
    template_id = client.post(DEPT, json=_body(department_id=dept.id)).json()["id"]
    assert anon.get(DEPT).status_code == 401
    assert anon.post(DEPT, json=_body(department_id=dept.id)).status_code == 401

    other_dept = make_department(db, inst, name="内分泌科")
    login_as(client, db, _doctor(db, inst, other_dept), settings)
    assert client.get(DEPT, params={"department_id": dept.id}).status_code == 403
    assert client.post(DEPT, json=_body(department_id=dept.id)).status_code == 403
    assert client.get(f"{DEPT}/{template_id}").status_code == 404
    assert client.put(f"{DEPT}/{template_id}", json=_body(version=1)).status_code == 404
    assert client.delete(f"{DEPT}/{template_id}").status_code == 404
    assert client.get(DEPT).json() == []

    elsewhere, _ = _world(db)
    their_dept = make_department(db, elsewhere)
    assert client.get(DEPT, params={"department_id": their_dept.id}).status_code == 404
    assert client.post(DEPT, json=_body(department_id=their_dept.id)).status_code == 404

    login_as(client, db, make_patient(db, inst), settings)
    assert client.get(DEPT, params={"department_id": dept.id}).status_code == 403


def test_a_doctor_without_a_department_must_name_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, _ = _world(db)
    login_as(client, db, _doctor(db, inst), settings)
    response = client.get(DEPT)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.department_id"
    missing = client.post(DEPT, json=_body())
    assert missing.status_code == 422 and "body.department_id" in [
        e["field"] for e in missing.json()["errors"]
    ]
