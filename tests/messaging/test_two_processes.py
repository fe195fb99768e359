"""Two real API processes (uvicorn) sharing one database and Redis: a message sent through one
reaches a socket connected to the other (issue 4 §6)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session
from websockets.sync.client import ClientConnection, connect

from ihis.identity import sessions
from ihis.messaging import service
from tests.factories import make_institution, make_patient, make_staff
from tests.support.schema import create_schema

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shared_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own that both processes see committed (not the test's rolled-back one)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'two.db'}"
        return
    name = f"ihis_two_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.messaging.serve_app:create",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90  # two interpreters starting on a busy 2-core machine
    while time.monotonic() < deadline:
        assert proc.poll() is None, "API process exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("API process did not start")


def _frame(ws: ClientConnection, frame_type: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] == frame_type:
            return dict(frame)


def test_a_message_sent_through_one_process_reaches_a_socket_on_the_other(
    shared_database_url: str, redis_url: str, base_settings: Any, tmp_path: Path
) -> None:
    engine = create_engine(shared_database_url.replace("postgresql://", "postgresql+psycopg://"))
    create_schema(engine)
    with Session(engine) as db:
        inst = make_institution(db)
        patient, doctor = make_patient(db, inst), make_staff(db, inst, roles=["doctor"])
        room = service.create_room(db, institution_id=inst.id, ref_type="consultation", ref_id=1)
        service.add_participant(db, room, patient.id, "patient")
        service.add_participant(db, room, doctor.id, "doctor")
        tokens = {
            who: sessions.issue_session(
                db, account, base_settings, channel="bearer", ip=None, user_agent=None, mfa_verified=True
            ).token
            for who, account in (("patient", patient), ("doctor", doctor))
        }
        room_id, patient_id = room.id, patient.id
        db.commit()
    engine.dispose()
    env = {
        **os.environ,
        "IHIS_ENV": "test",
        "IHIS_DATABASE_URL": shared_database_url,
        "IHIS_REDIS_URL": redis_url,
        "IHIS_JOBS_IMMEDIATE": "true",
        "IHIS_RUN_WORKER_IN_PROCESS": "false",
        "IHIS_STORAGE_DIR": str(tmp_path / "files"),
        "IHIS_WEB_DIST_DIR": str(tmp_path / "web"),
        "IHIS_LOG_LEVEL": "WARNING",
    }
    ports = [_free_port(), _free_port()]
    while ports[1] == ports[0]:
        ports[1] = _free_port()
    procs = [_serve(env, port, tmp_path / f"api-{port}.log") for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            try:
                _wait_ready(port, proc)
            except AssertionError:
                raise AssertionError((tmp_path / f"api-{port}.log").read_text()[-3000:]) from None
        auth = {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
        with (
            connect(f"ws://127.0.0.1:{ports[0]}/api/v1/ws", additional_headers=auth["doctor"]) as doctor_ws,
            connect(f"ws://127.0.0.1:{ports[1]}/api/v1/ws", additional_headers=auth["patient"]) as patient_ws,
        ):
            for ws in (doctor_ws, patient_ws):
                _frame(ws, "hello")
                ws.send(json.dumps({"type": "subscribe", "room": room_id, "after_seq": 0}))
                _frame(ws, "subscribed")
            patient_ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "room": room_id,
                        "client_msg_id": "b-1",
                        "kind": "text",
                        "body": "医生您好",
                    }
                )
            )
            assert _frame(patient_ws, "ack")["seq"] == 1
            got = _frame(doctor_ws, "message")
            assert (got["seq"], got["body"], got["sender"]) == (1, "医生您好", patient_id)

            doctor_ws.send(
                json.dumps(
                    {"type": "send", "room": room_id, "client_msg_id": "a-1", "kind": "text", "body": "请讲"}
                )
            )
            assert _frame(doctor_ws, "ack")["seq"] == 2
            reply = _frame(patient_ws, "message")
            while reply["seq"] == 1:  # its own first message, delivered to it as well
                reply = _frame(patient_ws, "message")
            assert (reply["seq"], reply["body"]) == (2, "请讲")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
