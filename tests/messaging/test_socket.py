"""The chat WebSocket: authentication, subscribe/backlog, sends and acks, delivery, resume, receipts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketDenialResponse

from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient
from tests.factories_messaging import connect, make_chat, recv, recv_until, send_text, subscribe


def test_an_anonymous_socket_is_refused_with_401(anon: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused, connect(anon):
        pass
    assert refused.value.status_code == 401
    assert refused.value.json()["code"] == "unauthenticated"


def test_a_cookie_socket_from_a_foreign_origin_is_refused_with_403(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        connect(client, headers={"origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.status_code == 403
    assert refused.value.json()["reason"] == "origin"


def test_a_cookie_socket_without_origin_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("/api/v1/ws"):
        pass
    assert refused.value.status_code == 403


def test_a_bearer_token_in_the_subprotocol_list_opens_the_socket(
    anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    issued = login_as(TestClient(anon.app), db, chat.doctor, settings, bearer=True)
    protocols = ["ihis.v1", f"ihis.bearer.{issued.token}"]
    with anon.websocket_connect("/api/v1/ws", subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "ihis.v1"
        hello = recv(ws)
        assert hello["type"] == "hello" and hello["account"] == chat.doctor.id


def test_a_revoked_bearer_token_is_refused(anon: TestClient, db: Session, settings: Settings) -> None:
    from ihis.identity import sessions

    chat = make_chat(db, make_institution(db))
    issued = login_as(TestClient(anon.app), db, chat.doctor, settings, bearer=True)
    sessions.revoke(db, issued.session_id, "test")
    db.commit()
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        anon.websocket_connect("/api/v1/ws", subprotocols=["ihis.v1", f"ihis.bearer.{issued.token}"]),
    ):
        pass
    assert refused.value.status_code == 401


def test_messages_are_acked_in_order_and_reach_the_other_member(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(client) as patient_ws, connect(anon) as doctor_ws:
        recv(patient_ws), recv(doctor_ws)
        subscribe(patient_ws, chat.room.id)
        subscribe(doctor_ws, chat.room.id)
        acks = [send_text(patient_ws, chat.room.id, f"第{i}条", f"c-{i}") for i in range(1, 6)]
        assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
        assert all(a["duplicate"] is False for a in acks)
        got = [recv_until(doctor_ws, "message") for _ in range(5)]
        assert [(m["seq"], m["body"], m["sender"]) for m in got] == [
            (i, f"第{i}条", chat.patient.id) for i in range(1, 6)
        ]


def test_a_retried_send_with_the_same_client_msg_id_is_stored_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        recv(ws)
        first = send_text(ws, chat.room.id, "hello", "same-id")
        again = send_text(ws, chat.room.id, "hello", "same-id")
    assert (first["seq"], first["duplicate"]) == (1, False)
    assert (again["seq"], again["duplicate"]) == (1, True)
    history = client.get(f"/api/v1/rooms/{chat.room.id}/messages").json()
    assert [m["seq"] for m in history["messages"]] == [1]


def test_resume_after_a_disconnect_delivers_the_missed_messages_once_in_order(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(anon) as doctor_ws:
        recv(doctor_ws)
        subscribe(doctor_ws, chat.room.id)
        with connect(client) as patient_ws:
            recv(patient_ws)
            send_text(patient_ws, chat.room.id, "one", "r-1")
            send_text(patient_ws, chat.room.id, "two", "r-2")
        assert recv_until(doctor_ws, "message")["seq"] == 1
        last_acknowledged = recv_until(doctor_ws, "message")["seq"]
    # The doctor is offline while three more arrive (and a retry of one of them).
    with connect(client) as patient_ws:
        recv(patient_ws)
        for i in (3, 4, 5):
            send_text(patient_ws, chat.room.id, f"m{i}", f"r-{i}")
        send_text(patient_ws, chat.room.id, "m4", "r-4")
    with connect(anon) as doctor_ws:
        recv(doctor_ws)
        backlog, subscribed = subscribe(doctor_ws, chat.room.id, after_seq=last_acknowledged)
        assert [m["seq"] for m in backlog] == [3, 4, 5]
        assert subscribed["last_seq"] == 5
        with connect(client) as patient_ws:
            recv(patient_ws)
            send_text(patient_ws, chat.room.id, "live", "r-6")
        live = recv_until(doctor_ws, "message")
        assert (live["seq"], live["body"]) == (6, "live")


def test_a_removed_participant_stops_receiving_on_an_open_socket(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, database: Any
) -> None:
    from ihis.messaging import service

    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(client) as patient_ws, connect(anon) as doctor_ws:
        recv(patient_ws), recv(doctor_ws)
        subscribe(patient_ws, chat.room.id)
        subscribe(doctor_ws, chat.room.id)
        send_text(doctor_ws, chat.room.id, "before", "d-1")
        assert recv_until(patient_ws, "message")["body"] == "before"

        with database.serial_lock:
            service.remove_participant(db, chat.room, chat.patient.id)
            db.commit()
        assert recv_until(patient_ws, "removed")["room"] == chat.room.id

        send_text(doctor_ws, chat.room.id, "after", "d-2")
        patient_ws.send_json({"type": "ping"})
        assert recv_until(patient_ws, "pong")["type"] == "pong"
        patient_ws.send_json({"type": "ping"})
        assert recv(patient_ws)["type"] == "pong"  # nothing of the room in between
        patient_ws.send_json({"type": "subscribe", "room": chat.room.id, "after_seq": 0})
        refused = recv_until(patient_ws, "error")
        assert refused["status"] == 404


def test_a_removal_committed_without_an_event_is_still_enforced_at_delivery(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, database: Any
) -> None:
    from sqlalchemy import update

    from ihis.messaging.models import ChatParticipant
    from ihis.platform.clock import utcnow

    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(client) as patient_ws, connect(anon) as doctor_ws:
        recv(patient_ws), recv(doctor_ws)
        subscribe(patient_ws, chat.room.id)
        subscribe(doctor_ws, chat.room.id)
        # Removed behind the hub's back (no "member" event): the delivery-time check catches it.
        with database.serial_lock:
            db.execute(
                update(ChatParticipant)
                .where(ChatParticipant.room_id == chat.room.id, ChatParticipant.account_id == chat.patient.id)
                .values(removed_at=utcnow())
            )
            db.commit()
        send_text(doctor_ws, chat.room.id, "secret", "d-1")
        assert recv_until(patient_ws, "removed")["room"] == chat.room.id
        patient_ws.send_json({"type": "ping"})
        assert recv(patient_ws)["type"] == "pong"


def test_a_non_participant_gets_404_on_subscribe_and_send(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    chat = make_chat(db, inst)
    stranger = make_patient(db, inst)
    login_as(client, db, stranger, settings)
    with connect(client) as ws:
        recv(ws)
        ws.send_json({"type": "subscribe", "room": chat.room.id, "after_seq": 0})
        assert recv_until(ws, "error")["status"] == 404
        ws.send_json(
            {"type": "send", "room": chat.room.id, "client_msg_id": "x", "kind": "text", "body": "hi"}
        )
        error = recv_until(ws, "error")
        assert (error["status"], error["ref"]) == (404, "x")


def test_bad_frames_are_answered_with_errors_naming_the_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        recv(ws)
        ws.send_text("not json")
        assert recv_until(ws, "error")["errors"][0]["field"] == "type"
        ws.send_json(
            {"type": "send", "room": chat.room.id, "client_msg_id": "e1", "kind": "text", "body": "  "}
        )
        assert recv_until(ws, "error")["errors"][0]["field"] == "body"
        ws.send_json({"type": "send", "room": "x", "client_msg_id": "e2", "kind": "text", "body": "a"})
        assert recv_until(ws, "error")["errors"][0]["field"] == "room"
        ws.send_json(
            {
                "type": "send",
                "room": chat.room.id,
                "client_msg_id": "e3",
                "kind": "image",
                "file_key": "0" * 32,
            }
        )
        assert recv_until(ws, "error")["errors"][0]["field"] == "file_key"
        ws.send_json({"type": "nonsense"})
        assert recv_until(ws, "error")["errors"][0]["field"] == "type"


def test_read_receipts_reach_the_sender(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(client) as patient_ws, connect(anon) as doctor_ws:
        recv(patient_ws), recv(doctor_ws)
        subscribe(patient_ws, chat.room.id)
        subscribe(doctor_ws, chat.room.id)
        send_text(patient_ws, chat.room.id, "a", "p-1")
        send_text(patient_ws, chat.room.id, "b", "p-2")
        doctor_ws.send_json({"type": "receipt", "room": chat.room.id, "seq": 2, "status": "read"})
        receipt = recv_until(patient_ws, "receipt")
        assert receipt == {
            "type": "receipt",
            "room": chat.room.id,
            "account": chat.doctor.id,
            "delivered_seq": 2,
            "read_seq": 2,
        }
    rooms = client.get("/api/v1/rooms").json()
    assert rooms[0]["unread"] == 0 and rooms[0]["last_seq"] == 2


def test_a_closed_room_refuses_sends_but_keeps_its_history(
    client: TestClient, db: Session, settings: Settings, database: Any
) -> None:
    from ihis.messaging import service

    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        recv(ws)
        subscribe(ws, chat.room.id)
        send_text(ws, chat.room.id, "before close", "c-1")
        with database.serial_lock:
            service.close_room(db, chat.room)
            service.post_system_message(db, chat.room, "问诊已结束")
            db.commit()
        assert recv_until(ws, "room")["status"] == "closed"
        ws.send_json(
            {"type": "send", "room": chat.room.id, "client_msg_id": "c-2", "kind": "text", "body": "late"}
        )
        assert recv_until(ws, "error")["status"] == 409
    history = client.get(f"/api/v1/rooms/{chat.room.id}/messages").json()
    assert [(m["kind"], m["body"]) for m in history["messages"]] == [
        ("text", "before close"),
        ("system", "问诊已结束"),
    ]
