"""WebRTC signalling relayed to the room only, call records in the timeline; heartbeats and re-checks."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity import sessions
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient
from tests.factories_messaging import connect, make_chat, recv, recv_until, subscribe


def test_a_call_is_signalled_between_the_members_and_recorded_in_the_timeline(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    login_as(anon, db, chat.doctor, settings)
    with connect(client) as patient_ws, connect(anon) as doctor_ws:
        recv(patient_ws), recv(doctor_ws)
        subscribe(patient_ws, chat.room.id)
        subscribe(doctor_ws, chat.room.id)
        doctor_ws.send_json(
            {"type": "signal", "room": chat.room.id, "action": "invite", "media": "video", "ref": "r1"}
        )
        ringing = recv_until(doctor_ws, "call")
        assert (ringing["status"], ringing["ref"]) == ("ringing", "r1")
        call_id = ringing["call_id"]
        invite = recv_until(patient_ws, "signal")
        assert (invite["action"], invite["call_id"], invite["from"]) == ("invite", call_id, chat.doctor.id)

        patient_ws.send_json({"type": "signal", "room": chat.room.id, "action": "accept", "call_id": call_id})
        assert recv_until(patient_ws, "call")["status"] == "active"
        assert recv_until(doctor_ws, "signal")["action"] == "accept"

        offer = {"type": "offer", "sdp": "v=0\r\n"}
        doctor_ws.send_json(
            {"type": "signal", "room": chat.room.id, "action": "offer", "call_id": call_id, "data": offer}
        )
        relayed = recv_until(patient_ws, "signal")
        assert (relayed["action"], relayed["data"]) == ("offer", offer)

        doctor_ws.send_json({"type": "signal", "room": chat.room.id, "action": "hangup", "call_id": call_id})
        assert recv_until(doctor_ws, "call")["outcome"] == "completed"
        record = recv_until(patient_ws, "message")
        assert record["kind"] == "call"
        body: dict[str, Any] = json.loads(record["body"])
        assert (body["call_id"], body["outcome"], body["caller"], body["answered_by"]) == (
            call_id,
            "completed",
            chat.doctor.id,
            chat.patient.id,
        )
        assert body["duration_seconds"] >= 0 and body["ended_at"] >= body["started_at"]

        doctor_ws.send_json(
            {"type": "signal", "room": chat.room.id, "action": "ice", "call_id": call_id, "data": {}}
        )
        assert recv_until(doctor_ws, "error")["status"] == 409  # the call is over


def test_signalling_from_outside_the_room_is_refused_with_404(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    chat = make_chat(db, inst)
    login_as(client, db, make_patient(db, inst), settings)
    with connect(client) as ws:
        recv(ws)
        ws.send_json({"type": "signal", "room": chat.room.id, "action": "invite", "media": "audio"})
        assert recv_until(ws, "error")["status"] == 404


def test_an_unanswered_call_cancelled_by_the_caller_is_recorded_as_cancelled(
    client: TestClient, db: Session, settings: Settings
) -> None:
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.doctor, settings)
    with connect(client) as ws:
        recv(ws)
        subscribe(ws, chat.room.id)
        ws.send_json({"type": "signal", "room": chat.room.id, "action": "invite", "media": "audio"})
        call_id = recv_until(ws, "call")["call_id"]
        ws.send_json({"type": "signal", "room": chat.room.id, "action": "invite", "media": "audio"})
        assert recv_until(ws, "error")["status"] == 409  # one live call per room
        ws.send_json({"type": "signal", "room": chat.room.id, "action": "hangup", "call_id": call_id})
        assert recv_until(ws, "call")["outcome"] == "cancelled"
        assert json.loads(recv_until(ws, "message")["body"])["outcome"] == "cancelled"


def test_a_silent_socket_is_dropped_after_the_idle_timeout(
    client: TestClient, db: Session, settings: Settings, app: FastAPI
) -> None:
    app.state.settings = settings.model_copy(
        update={"chat_heartbeat_seconds": 0.1, "chat_idle_timeout_seconds": 0.3}
    )
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        hello = recv(ws)
        assert hello["heartbeat_seconds"] == 0.1
        assert recv_until(ws, "__closed__")["code"] == 4408


def test_a_socket_that_answers_pings_stays_open(
    client: TestClient, db: Session, settings: Settings, app: FastAPI
) -> None:
    app.state.settings = settings.model_copy(
        update={"chat_heartbeat_seconds": 0.1, "chat_idle_timeout_seconds": 0.5}
    )
    chat = make_chat(db, make_institution(db))
    login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        recv(ws)
        for _ in range(10):  # ~1 s, twice the idle timeout
            assert recv(ws)["type"] == "ping"
            ws.send_json({"type": "pong"})
        ws.send_json({"type": "ping"})
        assert recv_until(ws, "pong")["type"] == "pong"


def test_a_socket_is_closed_once_its_session_is_revoked(
    client: TestClient, db: Session, settings: Settings, app: FastAPI, database: Any
) -> None:
    app.state.settings = settings.model_copy(update={"chat_heartbeat_seconds": 0.1})
    chat = make_chat(db, make_institution(db))
    issued = login_as(client, db, chat.patient, settings)
    with connect(client) as ws:
        recv(ws)
        assert recv(ws)["type"] == "ping"
        with database.serial_lock:
            sessions.revoke(db, issued.session_id, "logout")
            db.commit()
        assert recv_until(ws, "__closed__")["code"] == 4401
