"""Every scheduling console route: anonymous 401, patients and doctors 403, bad ids named."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient
from tests.factories_org import make_department, problem_fields
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor

A = "/api/v1/admin/scheduling"
ROUTES = [
    ("POST", f"{A}/sessions"),
    ("GET", f"{A}/sessions"),
    ("GET", f"{A}/sessions/1"),
    ("PATCH", f"{A}/sessions/1"),
    ("POST", f"{A}/sessions/1/publish"),
    ("POST", f"{A}/sessions/1/unpublish"),
    ("POST", f"{A}/sessions/1/stop"),
    ("POST", f"{A}/sessions/1/substitute"),
    ("POST", f"{A}/sessions/1/add-slots"),
    ("POST", f"{A}/sessions/1/shift"),
    ("GET", f"{A}/sessions/1/changes"),
    ("GET", f"{A}/import-template"),
    ("POST", f"{A}/import"),
    ("GET", f"{A}/templates"),
    ("POST", f"{A}/templates"),
    ("PUT", f"{A}/templates/1"),
    ("DELETE", f"{A}/templates/1"),
    ("POST", f"{A}/templates/generate"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_console_routes_refuse_anonymous_patients_and_doctors(
    anon: TestClient, client: TestClient, db: Session, settings: Settings, method: str, path: str
) -> None:
    assert anon.request(method, path, json={}).status_code == 401
    inst = make_institution(db)
    login_as(anon, db, make_patient(db, inst), settings)
    assert anon.request(method, path, json={}).status_code == 403
    doctor = make_scheduling_doctor(db, inst, make_department(db, inst))
    login_as(client, db, db.get_one(UserAccount, doctor.user_id), settings)
    assert client.request(method, path, json={}).status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"{A}/sessions/abc", "path.session_id"),
        ("POST", f"{A}/sessions/abc/publish", "path.session_id"),
        ("GET", f"{A}/sessions/abc/changes", "path.session_id"),
        ("DELETE", f"{A}/templates/abc", "path.template_id"),
        ("GET", "/api/v1/public/doctors/abc/sessions", "path.user_id"),
    ],
)
def test_malformed_ids_are_named(
    client: TestClient, db: Session, settings: Settings, method: str, path: str, field: str
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_scheduler(db, inst), settings)
    r = client.request(method, path, headers={"X-IHIS-Institution": inst.code})
    assert r.status_code == 422
    assert problem_fields(r) == [field]
