"""Finding a slot without login, a doctor page's next sessions, and a doctor's own sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import local_today, utcnow
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient
from tests.factories_org import make_campus, make_department, problem_fields
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session

URL = "/api/v1/public/sessions"


@pytest.fixture
def world(db: Session, settings: Settings) -> dict[str, Any]:
    inst = make_institution(db)
    campus = make_campus(db, inst, name="南院")
    dept = make_department(db, inst, name="心内科", campus_id=campus.id)
    other_dept = make_department(db, inst, name="呼吸科")
    doctor = make_scheduling_doctor(db, inst, dept, display_name="张医生", title="主任医师")
    colleague = make_scheduling_doctor(db, inst, other_dept, display_name="李医生")
    s1 = make_session(db, doctor, days=1, status="published", capacity=3, booked=1, campus_id=campus.id)
    s2 = make_session(
        db, colleague, days=2, status="published", mode="video", price_fen=5000, capacity=2, booked=2
    )
    s3 = make_session(db, doctor, days=3, status="published", disease_tags="I10,I20")
    make_session(db, doctor, days=4)  # draft: not shown
    make_session(db, doctor, days=5, status="stopped")  # stopped: not shown
    make_session(db, doctor, days=settings.booking_window_days + 1, status="published")  # beyond window
    started = make_session(db, colleague, days=6, status="published")
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == started.id)
        .values(start_at=utcnow() - dt.timedelta(minutes=1), end_at=utcnow() + dt.timedelta(hours=1))
    )
    db.commit()
    return {
        "inst": inst,
        "dept": dept,
        "campus": campus,
        "doctor": doctor,
        "colleague": colleague,
        "s": [s1, s2, s3],
    }


def _ids(r: Any) -> list[int]:
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["items"]]


def test_search_shows_open_sessions_soonest_first_with_what_patients_need(
    anon: TestClient, world: dict[str, Any]
) -> None:
    s1, s2, s3 = world["s"]
    h = {"X-IHIS-Institution": world["inst"].code}
    r = anon.get(URL, headers=h)
    assert _ids(r) == [s1.id, s2.id, s3.id]
    assert r.json()["total"] == 3
    first = r.json()["items"][0]
    assert first["doctor_name"] == "张医生" and first["doctor_title"] == "主任医师"
    assert first["department_name"] == "心内科" and first["campus_name"] == "南院"
    assert first["remaining"] == 2 and first["price_fen"] == 2000
    assert r.json()["items"][2]["disease_tags"] == ["I10", "I20"]


def test_search_filters(anon: TestClient, world: dict[str, Any]) -> None:
    s1, s2, s3 = world["s"]
    h = {"X-IHIS-Institution": world["inst"].code}
    assert _ids(anon.get(URL, headers=h, params={"department_id": world["dept"].id})) == [s1.id, s3.id]
    assert _ids(anon.get(URL, headers=h, params={"doctor_id": world["colleague"].user_id})) == [s2.id]
    assert _ids(anon.get(URL, headers=h, params={"mode": "video"})) == [s2.id]
    assert _ids(anon.get(URL, headers=h, params={"max_price_fen": 2000})) == [s1.id, s3.id]
    assert _ids(anon.get(URL, headers=h, params={"campus_id": world["campus"].id})) == [s1.id]
    assert _ids(anon.get(URL, headers=h, params={"available_only": True})) == [s1.id, s3.id]
    day2 = (local_today() + dt.timedelta(days=2)).isoformat()
    assert _ids(anon.get(URL, headers=h, params={"date_from": day2})) == [s2.id, s3.id]
    assert _ids(anon.get(URL, headers=h, params={"date_to": day2})) == [s1.id, s2.id]
    assert _ids(anon.get(URL, headers=h, params={"limit": 1, "offset": 1})) == [s2.id]


def test_search_input_names_the_field(anon: TestClient, world: dict[str, Any]) -> None:
    h = {"X-IHIS-Institution": world["inst"].code}
    for params, field in (
        ({"mode": "letter"}, "query.mode"),
        ({"max_price_fen": -1}, "query.max_price_fen"),
        ({"date_from": "tomorrow"}, "query.date_from"),
        ({"date_from": local_today().isoformat(), "date_to": "2000-01-01"}, "query.date_to"),
        ({"limit": 1000}, "query.limit"),
    ):
        r = anon.get(URL, headers=h, params=params)
        assert r.status_code == 422 and problem_fields(r) == [field], r.text


def test_another_institution_sees_none_of_these_sessions(
    anon: TestClient, db: Session, world: dict[str, Any]
) -> None:
    other = make_institution(db)
    db.commit()
    assert _ids(anon.get(URL, headers={"X-IHIS-Institution": other.code})) == []
    doctor_url = f"/api/v1/public/doctors/{world['doctor'].user_id}/sessions"
    assert _ids(anon.get(doctor_url, headers={"X-IHIS-Institution": other.code})) == []
    assert anon.get(URL, headers={"X-IHIS-Institution": "NO-SUCH"}).status_code == 404


def test_a_doctor_page_lists_the_doctors_next_open_sessions(anon: TestClient, world: dict[str, Any]) -> None:
    s1, _, s3 = world["s"]
    h = {"X-IHIS-Institution": world["inst"].code}
    r = anon.get(f"/api/v1/public/doctors/{world['doctor'].user_id}/sessions", headers=h)
    assert _ids(r) == [s1.id, s3.id]
    r = anon.get(f"/api/v1/public/doctors/{world['doctor'].user_id}/sessions", headers=h, params={"limit": 0})
    assert r.status_code == 422 and problem_fields(r) == ["query.limit"]
    assert _ids(anon.get("/api/v1/public/doctors/999999/sessions", headers=h)) == []


def test_doctors_see_their_own_published_and_stopped_sessions(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, world: dict[str, Any]
) -> None:
    s1, _, s3 = world["s"]
    assert anon.get("/api/v1/me/sessions").status_code == 401
    login_as(client, db, db.get_one(UserAccount, world["doctor"].user_id), settings)
    r = client.get("/api/v1/me/sessions")
    assert r.status_code == 200, r.text
    statuses = [s["status"] for s in r.json()]
    assert "draft" not in statuses and "stopped" in statuses
    assert {s1.id, s3.id} <= {s["id"] for s in r.json()}
    assert all(s["doctor_id"] == world["doctor"].user_id for s in r.json())
    day1 = (local_today() + dt.timedelta(days=1)).isoformat()
    r = client.get("/api/v1/me/sessions", params={"date_from": day1, "date_to": day1})
    assert [s["id"] for s in r.json()] == [s1.id]
    r = client.get("/api/v1/me/sessions", params={"date_from": day1, "date_to": "2000-01-01"})
    assert r.status_code == 422 and problem_fields(r) == ["query.date_to"]


def test_only_doctors_have_own_sessions(
    client: TestClient, db: Session, settings: Settings, world: dict[str, Any]
) -> None:
    login_as(client, db, make_patient(db, world["inst"]), settings)
    assert client.get("/api/v1/me/sessions").status_code == 403
    login_as(client, db, make_scheduler(db, world["inst"]), settings)
    assert client.get("/api/v1/me/sessions").status_code == 403
    # A doctor of another institution sees nothing of this one.
    other = make_institution(db)
    stranger = make_scheduling_doctor(db, other, make_department(db, other))
    login_as(client, db, db.get_one(UserAccount, stranger.user_id), settings)
    assert client.get("/api/v1/me/sessions").json() == []
