"""Message center: own messages only, unread counts, marking read."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_notifications import make_notification
from tests.factories_org import problem_fields


def test_a_notified_patient_sees_the_message_with_its_link_and_unread_count(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    notified = make_notification(db, patient, patient_name="张三", doctor_name="李医生")
    login_as(client, db, patient, settings)

    assert client.get("/api/v1/me/messages/unread-count").json() == {"unread": 1}
    page = client.get("/api/v1/me/messages").json()
    assert page["total"] == 1 and page["unread"] == 1
    item = page["items"][0]
    assert item["id"] == notified.message_id
    assert item["event"] == "booking_confirmed"
    assert item["title"] == "预约成功"
    assert "张三" in item["body"] and "李医生" in item["body"] and "{" not in item["body"]
    assert item["link"] == {"type": "registration", "id": 12, "route": "/registrations/12"}
    assert item["read_at"] is None


def test_marking_a_message_read_lowers_the_unread_count_and_is_idempotent(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    first = make_notification(db, patient)
    make_notification(db, patient)
    login_as(client, db, patient, settings)

    response = client.post(f"/api/v1/me/messages/{first.message_id}/read")
    assert response.status_code == 200, response.text
    read_at = response.json()["read_at"]
    assert read_at is not None
    assert client.get("/api/v1/me/messages/unread-count").json() == {"unread": 1}
    again = client.post(f"/api/v1/me/messages/{first.message_id}/read")
    assert again.status_code == 200 and again.json()["read_at"] == read_at


def test_unread_messages_come_first_and_can_be_filtered(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    older = make_notification(db, patient)
    newer = make_notification(db, patient)
    login_as(client, db, patient, settings)
    client.post(f"/api/v1/me/messages/{newer.message_id}/read")

    ids = [m["id"] for m in client.get("/api/v1/me/messages").json()["items"]]
    assert ids == [older.message_id, newer.message_id]
    unread = client.get("/api/v1/me/messages", params={"unread_only": True}).json()
    assert [m["id"] for m in unread["items"]] == [older.message_id] and unread["total"] == 1
    paged = client.get("/api/v1/me/messages", params={"limit": 1, "offset": 1}).json()
    assert [m["id"] for m in paged["items"]] == [newer.message_id] and paged["total"] == 2


def test_read_all_marks_every_own_message_and_nobody_elses(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient, other = make_patient(db, inst), make_patient(db, inst)
    make_notification(db, patient)
    make_notification(db, patient)
    others = make_notification(db, other)
    login_as(client, db, patient, settings)

    response = client.post("/api/v1/me/messages/read-all")
    assert response.status_code == 200, response.text
    assert response.json() == {"marked": 2, "unread": 0}
    from ihis.notifications.models import Message

    assert db.get(Message, others.message_id) is not None
    db.expire_all()
    assert db.get(Message, others.message_id).read_at is None  # type: ignore[union-attr]


def test_another_users_message_is_not_found_and_never_listed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient, other = make_patient(db, inst), make_patient(db, inst)
    theirs = make_notification(db, other)
    login_as(client, db, patient, settings)

    assert client.post(f"/api/v1/me/messages/{theirs.message_id}/read").status_code == 404
    assert client.get("/api/v1/me/messages").json()["items"] == []
    assert client.get("/api/v1/me/messages/unread-count").json() == {"unread": 0}


def test_a_message_of_another_institution_is_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, elsewhere = make_institution(db), make_institution(db)
    patient = make_patient(db, inst)
    foreign = make_notification(db, make_patient(db, elsewhere))
    login_as(client, db, patient, settings)
    assert client.post(f"/api/v1/me/messages/{foreign.message_id}/read").status_code == 404


def test_staff_have_a_message_center_too(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    doctor = make_staff(db, inst, roles=["doctor"])
    make_notification(db, doctor, event="session_assigned")
    login_as(client, db, doctor, settings)
    page = client.get("/api/v1/me/messages").json()
    assert [m["event"] for m in page["items"]] == ["session_assigned"]


def test_message_center_rejects_bad_input_naming_the_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    assert problem_fields(client.get("/api/v1/me/messages", params={"limit": 0})) == ["query.limit"]
    assert problem_fields(client.get("/api/v1/me/messages", params={"offset": -1})) == ["query.offset"]
    assert problem_fields(client.post("/api/v1/me/messages/abc/read")) == ["path.message_id"]


def test_message_center_requires_a_session(anon: TestClient) -> None:
    for method, path in (
        ("GET", "/api/v1/me/messages"),
        ("GET", "/api/v1/me/messages/unread-count"),
        ("POST", "/api/v1/me/messages/1/read"),
        ("POST", "/api/v1/me/messages/read-all"),
    ):
        assert anon.request(method, path).status_code == 401, path
