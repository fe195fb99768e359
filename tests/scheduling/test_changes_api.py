"""Temporary changes (停诊、替诊、加号、改时间): guarded, recorded, audited, announced to registration."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import utcnow
from ihis.platform.outbox import OutboxMessage
from ihis.scheduling.models import ClinicSession, SessionChange
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient
from tests.factories_org import audit_actions, make_department, problem_fields
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session

URL = "/api/v1/admin/scheduling/sessions"


def _events(db: Session, topic: str) -> list[dict[str, Any]]:
    return [
        json.loads(p) for p in db.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == topic))
    ]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> dict[str, Any]:
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_scheduling_doctor(db, inst, dept)
    colleague = make_scheduling_doctor(db, inst, dept)
    login_as(client, db, make_scheduler(db, inst), settings)
    return {"inst": inst, "dept": dept, "doctor": doctor, "colleague": colleague}


def test_stop_closes_the_session_records_and_announces_it(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    session = make_session(db, world["doctor"], status="published", booked=2)
    r = client.post(f"{URL}/{session.id}/stop", json={"reason": "医师临时出差"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stopped"
    [event] = _events(db, "scheduling.session_stopped")
    assert event["session_id"] == session.id
    assert event["institution_id"] == world["inst"].id
    assert event["kind"] == "stop" and event["reason"] == "医师临时出差"
    [change] = client.get(f"{URL}/{session.id}/changes").json()
    assert change["kind"] == "stop"
    assert change["before"] == {"status": "published"} and change["after"] == {"status": "stopped"}
    assert audit_actions(db, "clinic_session", session.id) == ["schedule.session.stop"]
    # Stopped is final.
    assert client.post(f"{URL}/{session.id}/stop", json={"reason": "再次停诊"}).status_code == 409
    assert client.post(f"{URL}/{session.id}/publish").status_code == 409
    assert (
        client.post(f"{URL}/{session.id}/add-slots", json={"count": 1, "reason": "加号"}).status_code == 409
    )


def test_substitute_hands_the_session_to_a_colleague_of_the_department(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    session = make_session(db, world["doctor"], status="published", booked=1)
    colleague = world["colleague"]
    r = client.post(
        f"{URL}/{session.id}/substitute", json={"doctor_id": colleague.user_id, "reason": "原医师病假"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["doctor_id"] == colleague.user_id
    assert r.json()["substituted_from_id"] == world["doctor"].user_id
    [event] = _events(db, "scheduling.session_substituted")
    assert event["session_id"] == session.id and event["kind"] == "substitute"
    assert event["doctor_id"] == colleague.user_id
    [assigned] = _events(db, "scheduling.session_assigned")
    assert assigned["doctor_id"] == colleague.user_id
    change = db.scalars(select(SessionChange).where(SessionChange.session_id == session.id)).one()
    assert json.loads(change.before) == {"doctor_id": world["doctor"].user_id}
    assert json.loads(change.after) == {"doctor_id": colleague.user_id}
    # Handing it back to the scheduled doctor ends the substitution.
    back = client.post(
        f"{URL}/{session.id}/substitute", json={"doctor_id": world["doctor"].user_id, "reason": "原医师返岗"}
    )
    assert back.status_code == 200, back.text
    assert (back.json()["doctor_id"], back.json()["substituted_from_id"]) == (world["doctor"].user_id, None)


def test_substitute_refuses_other_departments_the_same_doctor_and_busy_colleagues(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    session = make_session(db, world["doctor"], status="published")
    stranger = make_scheduling_doctor(db, world["inst"], make_department(db, world["inst"]))
    busy = world["colleague"]
    make_session(db, busy, status="published", start=dt.time(10, 0), end=dt.time(12, 0))
    for doctor_id in (stranger.user_id, world["doctor"].user_id, busy.user_id, 999_999):
        r = client.post(f"{URL}/{session.id}/substitute", json={"doctor_id": doctor_id, "reason": "替诊"})
        assert r.status_code == 422, r.text
        assert problem_fields(r) in (["body.doctor_id"], ["body.department_id"]), r.text
    r = client.post(f"{URL}/{session.id}/substitute", json={"reason": "替诊"})
    assert r.status_code == 422 and problem_fields(r) == ["body.doctor_id"]


def test_add_slots_raises_the_capacity(client: TestClient, db: Session, world: dict[str, Any]) -> None:
    session = make_session(db, world["doctor"], status="published", capacity=5, booked=5)
    r = client.post(f"{URL}/{session.id}/add-slots", json={"count": 3, "reason": "患者较多"})
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == 8 and r.json()["remaining"] == 3
    assert _events(db, "scheduling.slots_added") == []  # nobody booked is affected: no announcement
    [change] = client.get(f"{URL}/{session.id}/changes").json()
    assert change["kind"] == "add_slots" and change["reason"] == "患者较多"
    r = client.post(f"{URL}/{session.id}/add-slots", json={"count": 0, "reason": "患者较多"})
    assert r.status_code == 422 and problem_fields(r) == ["body.count"]
    r = client.post(f"{URL}/{session.id}/add-slots", json={"count": 1, "reason": ""})
    assert r.status_code == 422 and problem_fields(r) == ["body.reason"]


def test_shift_moves_the_times_and_resets_the_reminder(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    session = make_session(db, world["doctor"], status="published", reminded_at=utcnow())
    r = client.post(
        f"{URL}/{session.id}/shift", json={"start_time": "14:00", "end_time": "16:00", "reason": "上午会诊"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["start_at"].endswith("06:00:00Z") or "T06:00:00" in r.json()["start_at"]
    db.expire_all()
    assert db.get_one(ClinicSession, session.id).reminded_at is None
    [event] = _events(db, "scheduling.session_shifted")
    assert event["kind"] == "shift"
    r = client.post(
        f"{URL}/{session.id}/shift", json={"start_time": "16:00", "end_time": "15:00", "reason": "x改"}
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.end_time"]


def test_a_started_session_cannot_be_shifted_or_substituted(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    session = make_session(db, world["doctor"], status="published")
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == session.id)
        .values(start_at=utcnow() - dt.timedelta(minutes=5), end_at=utcnow() + dt.timedelta(hours=1))
    )
    db.commit()
    body = {"start_time": "14:00", "end_time": "16:00", "reason": "改时间"}
    assert client.post(f"{URL}/{session.id}/shift", json=body).status_code == 409
    sub = {"doctor_id": world["colleague"].user_id, "reason": "替诊"}
    assert client.post(f"{URL}/{session.id}/substitute", json=sub).status_code == 409
    # 加号 during the session is allowed.
    assert (
        client.post(f"{URL}/{session.id}/add-slots", json={"count": 1, "reason": "加号"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("stop", {"reason": "停诊原因"}),
        ("substitute", {"doctor_id": 1, "reason": "替诊原因"}),
        ("add-slots", {"count": 1, "reason": "加号原因"}),
        ("shift", {"start_time": "14:00", "end_time": "15:00", "reason": "改时间"}),
    ],
)
def test_changes_need_schedule_manage_and_the_own_institution(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, action: str, body: dict[str, Any]
) -> None:
    other = make_institution(db)
    foreign = make_session(
        db, make_scheduling_doctor(db, other, make_department(db, other)), status="published"
    )
    assert anon.post(f"{URL}/{foreign.id}/{action}", json=body).status_code == 401
    doctor_account = db.get_one(UserAccount, foreign.doctor_id)
    login_as(anon, db, doctor_account, settings)
    assert anon.post(f"{URL}/{foreign.id}/{action}", json=body).status_code == 403
    login_as(anon, db, make_patient(db, other), settings)
    assert anon.post(f"{URL}/{foreign.id}/{action}", json=body).status_code == 403
    inst = make_institution(db)
    login_as(client, db, make_scheduler(db, inst), settings)
    assert client.post(f"{URL}/{foreign.id}/{action}", json=body).status_code == 404
    db.expire_all()
    assert db.get_one(ClinicSession, foreign.id).version == 1
