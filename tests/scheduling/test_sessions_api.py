"""Operations create, edit, publish and list clinic sessions (SCHEDULE_MANAGE, per institution)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import local_today, utcnow
from ihis.platform.outbox import OutboxMessage
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_org import audit_actions, make_campus, make_department, problem_fields
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session

URL = "/api/v1/admin/scheduling/sessions"


def _body(doctor_id: int, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "doctor_id": doctor_id,
        "service_date": (local_today() + dt.timedelta(days=2)).isoformat(),
        "start_time": "08:30",
        "end_time": "11:30",
        "mode": "text",
        "capacity": 10,
    }
    body.update(kw)
    return body


def _setup(db: Session, client: TestClient, settings: Settings):  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    campus = make_campus(db, inst)
    dept = make_department(db, inst, campus_id=campus.id)
    doctor = make_scheduling_doctor(db, inst, dept)
    login_as(client, db, make_scheduler(db, inst), settings)
    return inst, dept, doctor


def test_operations_create_a_draft_session_priced_from_the_doctor(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, dept, doctor = _setup(db, client, settings)
    r = client.post(URL, json=_body(doctor.user_id, disease_tags=["j44", "I10"]))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "draft"
    assert out["price_fen"] == 2000
    assert out["department_id"] == dept.id
    assert out["campus_id"] == dept.campus_id
    assert out["disease_tags"] == ["I10", "J44"]
    assert out["remaining"] == 10
    # 08:30 Beijing time is 00:30 UTC.
    assert out["start_at"].startswith(f"{(local_today() + dt.timedelta(days=2)).isoformat()}T00:30:00")
    assert audit_actions(db, "clinic_session", out["id"]) == ["schedule.session.create"]


def test_the_price_can_be_overridden(client: TestClient, db: Session, settings: Settings) -> None:
    _, _, doctor = _setup(db, client, settings)
    r = client.post(URL, json=_body(doctor.user_id, mode="video", price_fen=3300))
    assert r.status_code == 201, r.text
    assert r.json()["price_fen"] == 3300


def test_create_names_the_bad_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst, _, doctor = _setup(db, client, settings)
    other_dept = make_department(db, inst)
    nurse = make_staff(db, inst, roles=["nurse"])
    cases = [
        (_body(doctor.user_id, end_time="08:00"), "body.end_time"),
        (_body(doctor.user_id, capacity=0), "body.capacity"),
        (_body(doctor.user_id, mode="phone"), "body.mode"),  # not enabled for this doctor
        (_body(nurse.id), "body.doctor_id"),
        (_body(doctor.user_id, department_id=other_dept.id), "body.department_id"),
        (_body(doctor.user_id, campus_id=999999), "body.campus_id"),
        (_body(doctor.user_id, service_date="2001-01-01"), "body.service_date"),
        (_body(doctor.user_id, disease_tags=["not-icd"]), "body.disease_tags"),
    ]
    for body, field in cases:
        r = client.post(URL, json=body)
        assert r.status_code == 422, (field, r.text)
        assert field in problem_fields(r), (field, r.text)


def test_a_doctor_cannot_hold_two_sessions_at_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, doctor = _setup(db, client, settings)
    assert client.post(URL, json=_body(doctor.user_id)).status_code == 201
    r = client.post(URL, json=_body(doctor.user_id, mode="video", start_time="10:00", end_time="12:00"))
    assert r.status_code == 422
    assert problem_fields(r) == ["body.start_time"]


def test_anonymous_and_doctors_and_patients_may_not_manage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    dept = make_department(db, inst)
    doctor = make_scheduling_doctor(db, inst, dept)
    assert anon.post(URL, json=_body(doctor.user_id)).status_code == 401
    assert anon.get(URL).status_code == 401
    login_as(client, db, db.get_one(UserAccount, doctor.user_id), settings)
    assert client.post(URL, json=_body(doctor.user_id)).status_code == 403
    login_as(anon, db, make_patient(db, inst), settings)
    assert anon.get(URL).status_code == 403


def test_sessions_of_another_institution_are_invisible(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _setup(db, client, settings)
    other = make_institution(db)
    foreign = make_session(db, make_scheduling_doctor(db, other, make_department(db, other)))
    for method, path in (
        ("GET", f"{URL}/{foreign.id}"),
        ("POST", f"{URL}/{foreign.id}/publish"),
        ("POST", f"{URL}/{foreign.id}/unpublish"),
        ("GET", f"{URL}/{foreign.id}/changes"),
    ):
        assert client.request(method, path).status_code == 404, path
    assert client.patch(f"{URL}/{foreign.id}", json={"version": 1, "capacity": 3}).status_code == 404
    assert client.get(URL).json()["total"] == 0
    # A doctor of another institution is unknown here.
    other_doc = make_scheduling_doctor(db, other, make_department(db, other))
    r = client.post(URL, json=_body(other_doc.user_id))
    assert r.status_code == 422 and problem_fields(r) == ["body.doctor_id"]


def test_publishing_tells_the_doctor_and_twice_is_a_conflict(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, doctor = _setup(db, client, settings)
    session = make_session(db, doctor)
    r = client.post(f"{URL}/{session.id}/publish")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published" and r.json()["published_at"]
    assert client.post(f"{URL}/{session.id}/publish").status_code == 409
    topics = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.topic == "scheduling.session_assigned")
    ).all()
    assert [p for p in topics if f'"session_id":{session.id}' in p and f'"doctor_id":{doctor.user_id}' in p]
    assert audit_actions(db, "clinic_session", session.id) == ["schedule.session.publish"]


def test_unpublish_only_while_nothing_is_booked(client: TestClient, db: Session, settings: Settings) -> None:
    _, _, doctor = _setup(db, client, settings)
    free = make_session(db, doctor, status="published")
    taken = make_session(db, doctor, days=2, status="published", booked=1)
    assert client.post(f"{URL}/{free.id}/unpublish").json()["status"] == "draft"
    assert client.post(f"{URL}/{free.id}/unpublish").status_code == 409
    r = client.post(f"{URL}/{taken.id}/unpublish")
    assert r.status_code == 409
    assert r.json()["booked"] == 1


def test_edit_while_nothing_is_booked_with_the_current_version(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, doctor = _setup(db, client, settings)
    session = make_session(db, doctor)
    r = client.patch(f"{URL}/{session.id}", json={"version": 1, "capacity": 8, "start_time": "08:00"})
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == 8 and r.json()["version"] == 2
    assert client.patch(f"{URL}/{session.id}", json={"version": 1, "capacity": 9}).status_code == 409
    booked = make_session(db, doctor, days=3, booked=1)
    assert client.patch(f"{URL}/{booked.id}", json={"version": 1, "capacity": 9}).status_code == 409
    r = client.patch(f"{URL}/{session.id}", json={"version": 2, "end_time": "07:00"})
    assert r.status_code == 422 and problem_fields(r) == ["body.end_time"]
    r = client.patch(f"{URL}/{session.id}", json={"version": 2, "capacity": 0})
    assert r.status_code == 422 and problem_fields(r) == ["body.capacity"]


def test_the_calendar_filters_by_department_doctor_dates_and_status(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, dept, doctor = _setup(db, client, settings)
    other = make_scheduling_doctor(db, inst, dept)
    a = make_session(db, doctor, days=1)
    b = make_session(db, doctor, days=3, status="published")
    c = make_session(db, other, days=2)
    r = client.get(URL, params={"department_id": dept.id})
    assert [s["id"] for s in r.json()["items"]] == [a.id, c.id, b.id]
    r = client.get(URL, params={"doctor_id": doctor.user_id, "status": "published"})
    assert [s["id"] for s in r.json()["items"]] == [b.id]
    day2 = (local_today() + dt.timedelta(days=2)).isoformat()
    r = client.get(URL, params={"date_from": day2, "date_to": day2})
    assert [s["id"] for s in r.json()["items"]] == [c.id]
    assert r.json()["items"][0]["doctor_name"]
    r = client.get(URL, params={"date_from": day2, "date_to": local_today().isoformat()})
    assert r.status_code == 422 and problem_fields(r) == ["query.date_to"]
    r = client.get(URL, params={"status": "nonsense"})
    assert r.status_code == 422 and problem_fields(r) == ["query.status"]
    assert client.get(f"{URL}/{a.id}").json()["id"] == a.id
    assert db.scalar(select(ClinicSession.id).where(ClinicSession.id == a.id)) == a.id


def test_a_session_cannot_be_published_once_started_or_for_a_disabled_doctor(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, doctor = _setup(db, client, settings)
    started = make_session(db, doctor)
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == started.id)
        .values(start_at=utcnow() - dt.timedelta(minutes=1), end_at=utcnow() + dt.timedelta(hours=1))
    )
    later = make_session(db, doctor, days=2)
    db.execute(update(UserAccount).where(UserAccount.id == doctor.user_id).values(status="disabled"))
    db.commit()
    assert client.post(f"{URL}/{later.id}/publish").status_code == 409
    db.execute(update(UserAccount).where(UserAccount.id == doctor.user_id).values(status="active"))
    db.commit()
    assert client.post(f"{URL}/{started.id}/publish").status_code == 409
    assert client.post(f"{URL}/{later.id}/publish").status_code == 200
