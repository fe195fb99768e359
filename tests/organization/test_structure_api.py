"""Campuses, departments and the 诊疗科目 catalogue through HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.organization.models import Department
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_org import audit_actions, make_campus, make_department, make_profile, problem_fields

API = "/api/v1/admin"


def _operations(client: TestClient, db: Session, settings: Settings, inst=None):  # type: ignore[no-untyped-def]
    inst = inst or make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    return inst


# --- campuses --------------------------------------------------------------------------------


def test_operations_creates_reads_updates_and_deletes_a_campus(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _operations(client, db, settings)
    r = client.post(
        f"{API}/campuses", json={"name": "东院区", "address": "北京市东城区某路1号", "phone": "010-12345678"}
    )
    assert r.status_code == 201, r.text
    campus = r.json()
    assert campus["name"] == "东院区" and campus["enabled"] is True

    assert client.get(f"{API}/campuses/{campus['id']}").json()["address"] == "北京市东城区某路1号"
    r = client.put(f"{API}/campuses/{campus['id']}", json={"name": "东院", "enabled": False})
    assert r.status_code == 200 and r.json()["name"] == "东院" and r.json()["enabled"] is False
    assert [c["name"] for c in client.get(f"{API}/campuses").json()] == ["东院"]

    assert client.delete(f"{API}/campuses/{campus['id']}").status_code == 204
    assert client.get(f"{API}/campuses/{campus['id']}").status_code == 404
    assert audit_actions(db, "campus", campus["id"]) == ["campus.create", "campus.update", "campus.delete"]


def test_campus_with_a_taken_name_or_bad_phone_is_refused_naming_the_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    make_campus(db, inst, name="本部")
    db.commit()
    r = client.post(f"{API}/campuses", json={"name": "本部"})
    assert r.status_code == 422 and problem_fields(r) == ["body.name"]
    r = client.post(f"{API}/campuses", json={"name": "西院", "phone": "call me"})
    assert r.status_code == 422 and problem_fields(r) == ["body.phone"]
    r = client.post(f"{API}/campuses", json={})
    assert r.status_code == 422 and problem_fields(r) == ["body.name"]


def test_campus_with_departments_cannot_be_deleted(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    campus = make_campus(db, inst)
    make_department(db, inst, campus_id=campus.id)
    db.commit()
    assert client.delete(f"{API}/campuses/{campus.id}").status_code == 409


def test_campuses_of_another_institution_are_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _operations(client, db, settings)
    foreign = make_campus(db, make_institution(db))
    db.commit()
    assert client.get(f"{API}/campuses").json() == []
    assert client.get(f"{API}/campuses/{foreign.id}").status_code == 404
    assert client.put(f"{API}/campuses/{foreign.id}", json={"name": "x"}).status_code == 404
    assert client.delete(f"{API}/campuses/{foreign.id}").status_code == 404


# --- departments -----------------------------------------------------------------------------


def test_operations_opens_a_department_under_a_registered_subject(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    campus = make_campus(db, inst)
    db.commit()
    body = {
        "name": "呼吸内科",
        "subject_code": "03.01",
        "campus_id": campus.id,
        "introduction": "概况",
        "scope": "慢阻肺、哮喘复诊",
        "strengths": "呼吸康复",
        "sort_order": 3,
    }
    r = client.post(f"{API}/departments", json=body)
    assert r.status_code == 201, r.text
    dept = r.json()
    # The subject's name comes from the catalogue, not from the client.
    assert dept["subject_name"] == "呼吸内科专业" and dept["enabled"] is True
    assert client.get(f"{API}/departments/{dept['id']}").json()["scope"] == "慢阻肺、哮喘复诊"

    r = client.put(
        f"{API}/departments/{dept['id']}",
        json={**body, "name": "呼吸与危重症医学科", "subject_code": "03.03"},
    )
    assert r.status_code == 200 and r.json()["subject_name"] == "神经内科专业"
    assert [d["name"] for d in client.get(f"{API}/departments").json()] == ["呼吸与危重症医学科"]


def test_department_outside_the_registered_subjects_is_refused_naming_subject_code(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _operations(client, db, settings)  # registered: 03.01,03.03,03.04,03.05,04.01,07.01,12.01,13.01
    r = client.post(f"{API}/departments", json={"name": "精神科", "subject_code": "15.01"})
    assert r.status_code == 422
    assert problem_fields(r) == ["body.subject_code"]
    assert r.json()["errors"][0]["code"] == "subject_not_registered"
    assert db.scalar(select(Department).where(Department.name == "精神科")) is None


def test_department_update_to_an_unregistered_subject_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    dept = make_department(db, inst)
    db.commit()
    r = client.put(f"{API}/departments/{dept.id}", json={"name": dept.name, "subject_code": "50.01"})
    assert r.status_code == 422 and problem_fields(r) == ["body.subject_code"]


def test_registered_subject_missing_from_the_catalogue_needs_a_name(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db, registered_subjects="03.01,99.01")
    _operations(client, db, settings, inst)
    r = client.post(f"{API}/departments", json={"name": "特色科", "subject_code": "99.01"})
    assert r.status_code == 422 and problem_fields(r) == ["body.subject_name"]
    r = client.post(
        f"{API}/departments", json={"name": "特色科", "subject_code": "99.01", "subject_name": "特色专业"}
    )
    assert r.status_code == 201 and r.json()["subject_name"] == "特色专业"


def test_malformed_subject_code_and_campus_of_another_institution_are_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _operations(client, db, settings)
    foreign = make_campus(db, make_institution(db))
    db.commit()
    r = client.post(f"{API}/departments", json={"name": "x", "subject_code": "3.1"})
    assert r.status_code == 422 and problem_fields(r) == ["body.subject_code"]
    r = client.post(
        f"{API}/departments", json={"name": "x", "subject_code": "03.01", "campus_id": foreign.id}
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.campus_id"]


def test_department_names_are_unique_within_the_institution(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    make_department(db, inst, name="儿科")
    db.commit()
    r = client.post(f"{API}/departments", json={"name": "儿科", "subject_code": "07.01"})
    assert r.status_code == 422 and problem_fields(r) == ["body.name"]


def test_departments_are_disabled_and_enabled_again(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    dept = make_department(db, inst)
    db.commit()
    r = client.post(f"{API}/departments/{dept.id}/disable")
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert client.post(f"{API}/departments/{dept.id}/disable").json()["enabled"] is False
    assert [d["id"] for d in client.get(f"{API}/departments", params={"enabled": False}).json()] == [dept.id]
    assert client.get(f"{API}/departments", params={"enabled": True}).json() == []
    r = client.post(f"{API}/departments/{dept.id}/enable")
    assert r.status_code == 200 and r.json()["enabled"] is True
    # Only real changes are audited (the second disable changed nothing).
    assert audit_actions(db, "department", dept.id) == ["department.disable", "department.enable"]


def test_department_whose_subject_was_deregistered_cannot_be_enabled_again(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    dept = make_department(db, inst, subject_code="13.01", subject_name="皮肤病专业", enabled=False)
    inst.registered_subjects = "03.01"
    db.commit()
    r = client.post(f"{API}/departments/{dept.id}/enable")
    assert r.status_code == 422 and problem_fields(r) == ["body.subject_code"]


def test_department_with_staff_cannot_be_deleted_but_an_empty_one_can(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = _operations(client, db, settings)
    busy, empty = make_department(db, inst), make_department(db, inst)
    make_profile(db, make_staff(db, inst), department=busy)
    db.commit()
    assert client.delete(f"{API}/departments/{busy.id}").status_code == 409
    assert client.delete(f"{API}/departments/{empty.id}").status_code == 204
    assert client.get(f"{API}/departments/{empty.id}").status_code == 404


def test_departments_of_another_institution_are_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _operations(client, db, settings)
    foreign = make_department(db, make_institution(db))
    db.commit()
    assert client.get(f"{API}/departments").json() == []
    for method, path in [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/enable"),
        ("POST", "/disable"),
    ]:
        body = {"name": "x", "subject_code": "03.01"} if method == "PUT" else None
        r = client.request(method, f"{API}/departments/{foreign.id}{path}", json=body)
        assert r.status_code == 404, (method, path)


# --- subjects --------------------------------------------------------------------------------


def test_subject_catalogue_flags_the_institution_registered_subjects(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db, registered_subjects="03.01,13.01,98")
    _operations(client, db, settings, inst)
    subjects = {s["code"]: s for s in client.get(f"{API}/subjects").json()}
    assert subjects["03.01"] == {
        "code": "03.01",
        "name": "呼吸内科专业",
        "parent_code": "03",
        "registered": True,
    }
    assert subjects["03"]["registered"] is False and subjects["03"]["name"] == "内科"
    assert subjects["13.01"]["registered"] is True
    assert subjects["50"]["name"] == "中医科"
    # A registered code the catalogue does not list still appears, without a name.
    assert subjects["98"] == {"code": "98", "name": None, "parent_code": None, "registered": True}


# --- access ----------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/campuses"),
    ("POST", "/campuses"),
    ("GET", "/campuses/1"),
    ("PUT", "/campuses/1"),
    ("DELETE", "/campuses/1"),
    ("GET", "/departments"),
    ("POST", "/departments"),
    ("GET", "/departments/1"),
    ("PUT", "/departments/1"),
    ("DELETE", "/departments/1"),
    ("POST", "/departments/1/enable"),
    ("POST", "/departments/1/disable"),
    ("GET", "/subjects"),
]


def test_every_structure_endpoint_needs_a_session(anon: TestClient) -> None:
    for method, path in ENDPOINTS:
        assert anon.request(method, API + path).status_code == 401, (method, path)


def test_auditor_may_not_touch_the_structure(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["auditor"]), settings)
    for method, path in ENDPOINTS:
        assert client.request(method, API + path).status_code == 403, (method, path)


def test_doctors_read_the_structure_but_do_not_change_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get(f"{API}/departments").status_code == 200
    assert client.get(f"{API}/subjects").status_code == 200
    assert client.post(f"{API}/departments", json={"name": "x", "subject_code": "03.01"}).status_code == 403
    assert client.post(f"{API}/departments/{dept.id}/disable").status_code == 403
    assert client.post(f"{API}/campuses", json={"name": "x"}).status_code == 403
