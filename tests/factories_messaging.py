"""Factories and socket helpers for messaging tests.

chat = make_chat(db, inst)                  # a room with a patient and a doctor, committed
with connect(client) as ws: hello = recv(ws)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketTestSession

from ihis.identity.models import UserAccount
from ihis.messaging import service
from ihis.messaging.models import ChatRoom
from ihis.tenancy.models import Institution
from tests.factories import make_patient, make_staff

ORIGIN = "http://testserver"
_ref_ids = iter(range(1, 10**9))


def mount_messaging(app: FastAPI) -> FastAPI:
    """Mount the messaging router under /api/v1 unless ``create_app`` already does."""
    from ihis.messaging.api import router

    paths = {getattr(r, "path", "") for r in app.router.routes}
    if "/api/v1/ws" not in paths:
        app.include_router(router, prefix="/api/v1")
    return app


@dataclass
class Chat:
    room: ChatRoom
    patient: UserAccount
    doctor: UserAccount


def make_chat(db: Session, inst: Institution) -> Chat:
    patient = make_patient(db, inst)
    doctor = make_staff(db, inst, roles=["doctor"])
    room = service.create_room(db, institution_id=inst.id, ref_type="consultation", ref_id=next(_ref_ids))
    service.add_participant(db, room, patient.id, "patient")
    service.add_participant(db, room, doctor.id, "doctor")
    db.commit()
    return Chat(room, patient, doctor)


def connect(client: TestClient, **kw: Any) -> Any:
    headers = {"origin": ORIGIN, **kw.pop("headers", {})}
    return client.websocket_connect("/api/v1/ws", headers=headers, **kw)


def recv(ws: WebSocketTestSession, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame, failing the test after ``timeout`` seconds instead of hanging."""

    async def get() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(get)
    if message["type"] == "websocket.close":
        return {"type": "__closed__", "code": message.get("code")}
    return dict(json.loads(message["text"]))


def recv_until(ws: WebSocketTestSession, frame_type: str, timeout: float = 10.0) -> dict[str, Any]:
    """Skip pings and other frames until one of ``frame_type`` arrives."""
    while True:
        frame = recv(ws, timeout)
        if frame["type"] == frame_type:
            return frame
        if frame["type"] == "__closed__":
            raise AssertionError(f"socket closed while waiting for {frame_type}: {frame}")


def subscribe(
    ws: WebSocketTestSession, room_id: int, after_seq: int = 0
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Subscribe and collect the backlog; returns (messages, the subscribed frame)."""
    ws.send_json({"type": "subscribe", "room": room_id, "after_seq": after_seq})
    messages = []
    while True:
        frame = recv(ws)
        if frame["type"] == "message":
            messages.append(frame)
        elif frame["type"] == "subscribed":
            return messages, frame
        elif frame["type"] == "error":
            raise AssertionError(frame)


def send_text(ws: WebSocketTestSession, room_id: int, text: str, client_msg_id: str) -> dict[str, Any]:
    ws.send_json(
        {"type": "send", "room": room_id, "client_msg_id": client_msg_id, "kind": "text", "body": text}
    )
    return recv_until(ws, "ack")


# --- media samples -------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def ogg_opus(seconds: float) -> bytes:
    """A minimal Ogg Opus stream: OpusHead page and one last page whose granule gives the length."""

    def page(granule: int, payload: bytes, flags: int = 0) -> bytes:
        header = b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, 1, 0, 0)
        return header + bytes([1, len(payload)]) + payload

    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    return (
        page(0, head, 2)
        + page(0, b"OpusTags" + b"\x00" * 8)
        + page(int(seconds * 48000) + 312, b"\x00" * 40, 4)
    )


def m4a(seconds: float, *, video: bool = False) -> bytes:
    """A minimal ISO BMFF file: ftyp, moov/mvhd (timescale 1000) and one trak with its handler."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    mvhd = box(
        b"mvhd",
        bytes(4) + struct.pack(">III", 0, 0, 1000) + struct.pack(">I", int(seconds * 1000)) + bytes(80),
    )
    handler = b"vide" if video else b"soun"
    trak = box(b"trak", box(b"mdia", box(b"hdlr", bytes(8) + handler + bytes(12))))
    brand = b"isom" if video else b"M4A "
    return box(b"ftyp", brand + bytes(4) + b"isomM4A ") + box(b"moov", mvhd + trak)
