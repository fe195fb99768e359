"""Weekly templates: CRUD and idempotent generation of draft sessions for a date range."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import local_today
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_org import audit_actions, make_department, problem_fields
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session, next_day_of

URL = "/api/v1/admin/scheduling/templates"


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> dict[str, Any]:
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_scheduling_doctor(db, inst, dept)
    login_as(client, db, make_scheduler(db, inst), settings)
    return {"inst": inst, "dept": dept, "doctor": doctor}


def _tpl(doctor_id: int, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "doctor_id": doctor_id,
        "weekday": 1,
        "start_time": "08:00",
        "end_time": "11:00",
        "mode": "text",
        "capacity": 12,
    }
    body.update(kw)
    return body


def test_templates_are_created_listed_replaced_and_deleted(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    doctor = world["doctor"]
    r = client.post(URL, json=_tpl(doctor.user_id, disease_tags=["E11"]))
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert r.json()["department_id"] == world["dept"].id and r.json()["disease_tags"] == ["E11"]
    assert client.post(URL, json=_tpl(doctor.user_id)).status_code == 409  # same weekday, time, mode
    assert [t["id"] for t in client.get(URL, params={"doctor_id": doctor.user_id}).json()] == [tid]
    r = client.put(f"{URL}/{tid}", json=_tpl(doctor.user_id, weekday=3, capacity=6))
    assert r.status_code == 200 and r.json()["weekday"] == 3 and r.json()["capacity"] == 6
    assert client.delete(f"{URL}/{tid}").status_code == 204
    assert client.get(URL).json() == []
    assert audit_actions(db, "weekly_template", tid) == [
        "schedule.template.create",
        "schedule.template.update",
        "schedule.template.delete",
    ]


def test_template_input_names_the_field(client: TestClient, db: Session, world: dict[str, Any]) -> None:
    doctor = world["doctor"]
    for body, field in (
        (_tpl(doctor.user_id, weekday=8), "body.weekday"),
        (_tpl(doctor.user_id, end_time="07:00"), "body.end_time"),
        (_tpl(doctor.user_id, mode="phone"), "body.mode"),
        (_tpl(999_999), "body.doctor_id"),
    ):
        r = client.post(URL, json=body)
        assert r.status_code == 422, (field, r.text)
        assert problem_fields(r) == [field]


def test_generation_creates_drafts_once_and_skips_overlaps(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    doctor = world["doctor"]
    monday = next_day_of(1, after_days=1)
    client.post(URL, json=_tpl(doctor.user_id, weekday=1))
    client.post(URL, json=_tpl(doctor.user_id, weekday=3, mode="video", price_fen=8800))
    body = {"date_from": monday.isoformat(), "date_to": (monday + dt.timedelta(days=13)).isoformat()}
    r = client.post(f"{URL}/generate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 4 and r.json()["skipped"] == 0
    again = client.post(f"{URL}/generate", json=body)
    assert again.json()["created"] == 0 and again.json()["skipped"] == 4
    sessions = db.scalars(select(ClinicSession).where(ClinicSession.doctor_id == doctor.user_id)).all()
    assert {s.status for s in sessions} == {"draft"}
    assert sorted(s.price_fen for s in sessions) == [2000, 2000, 8800, 8800]
    assert all(s.template_id is not None for s in sessions)
    # A hand-made session in the way is not doubled.
    other = make_scheduling_doctor(db, world["inst"], world["dept"])
    days = (monday - local_today()).days
    make_session(db, other, days=days, start=dt.time(9, 0), end=dt.time(10, 0))
    client.post(URL, json=_tpl(other.user_id, weekday=1))
    r = client.post(f"{URL}/generate", json={**body, "doctor_id": other.user_id})
    assert r.json()["created"] == 1 and r.json()["skipped"] == 1
    count = select(func.count()).select_from(ClinicSession).where(ClinicSession.doctor_id == other.user_id)
    assert db.scalar(count) == 2


def test_generation_ranges_are_checked(client: TestClient, world: dict[str, Any]) -> None:
    today = local_today()
    cases = [
        (
            {"date_from": (today + dt.timedelta(days=5)).isoformat(), "date_to": today.isoformat()},
            "body.date_to",
        ),
        (
            {"date_from": today.isoformat(), "date_to": (today + dt.timedelta(days=120)).isoformat()},
            "body.date_to",
        ),
        (
            {"date_from": (today - dt.timedelta(days=3)).isoformat(), "date_to": today.isoformat()},
            "body.date_from",
        ),
    ]
    for body, field in cases:
        r = client.post(f"{URL}/generate", json=body)
        assert r.status_code == 422 and problem_fields(r) == [field], r.text


def test_templates_need_schedule_manage_and_the_own_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, world: dict[str, Any]
) -> None:
    doctor = world["doctor"]
    tid = client.post(URL, json=_tpl(doctor.user_id)).json()["id"]
    assert anon.get(URL).status_code == 401
    assert anon.post(f"{URL}/generate", json={}).status_code == 401
    login_as(anon, db, db.get_one(UserAccount, doctor.user_id), settings)
    assert anon.get(URL).status_code == 403
    assert anon.delete(f"{URL}/{tid}").status_code == 403
    other = make_institution(db)
    login_as(anon, db, make_scheduler(db, other), settings)
    assert anon.get(URL).json() == []
    assert anon.put(f"{URL}/{tid}", json=_tpl(doctor.user_id)).status_code == 404
    assert anon.delete(f"{URL}/{tid}").status_code == 404
