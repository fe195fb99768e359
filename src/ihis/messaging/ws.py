"""The WebSocket ``/api/v1/ws``: one socket per user session, multiplexing rooms (protocol: docs/chat.md).

Each socket runs three tasks: a reader (client frames), a writer (one ordered queue of server frames)
and a heartbeat (ping, idle timeout, session re-check). Room events from the hub are delivered only
after the receiver's membership is checked again (``_deliver``), in seq order, with gaps filled from
the database, so a socket sees every message of a subscribed room exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import anyio
import structlog
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from ihis.identity.access import Actor
from ihis.messaging import calls, service
from ihis.messaging.config import ChatConfig, chat_config
from ihis.messaging.fanout import admitted, deliver, frames_unit
from ihis.messaging.hub import Connection, configure_hub, current_hub
from ihis.messaging.ice import ice_servers
from ihis.messaging.socket_auth import (
    SUBPROTOCOL,
    authenticate_socket,
    handshake_request,
    offered_subprotocols,
    session_alive,
    touch_session,
)
from ihis.platform import audit
from ihis.platform.db import Database
from ihis.platform.errors import PROBLEM_JSON, IhisError, InvalidInput
from ihis.platform.http import get_gate
from ihis.platform.i18n import language_of
from ihis.settings import Settings

router = APIRouter()
log = structlog.get_logger(__name__)

T = TypeVar("T")
BACKLOG_PAGE: Final = 200
MAX_FRAME_CHARS: Final = 64 * 1024  # an SDP offer is a few KiB
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_IDLE: Final = 4408
CLOSE_SLOW: Final = 4429
CLOSE_TOO_BIG: Final = 1009
SIGNAL_ACTIONS: Final = frozenset({"invite", "accept", "decline", "hangup", "offer", "answer", "ice"})


async def _unit(conn: Connection, fn: Callable[[Session], T], *, write: bool = True) -> T:
    def run() -> T:
        with conn.database.unit_of_work(write=write) as db:
            return fn(db)

    return await admitted(conn.gate, write, run)


def _int(frame: dict[str, Any], name: str, *, minimum: int = 1) -> int:
    value = frame.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInput.field(
            name, f"{name}_invalid", f"{name} 无效", f"{name} must be an integer >= {minimum}"
        )
    return value


def _str(frame: dict[str, Any], name: str, *, required: bool = True, max_length: int = 64) -> str | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidInput.field(
            name, f"{name}_invalid", f"{name} 无效", f"{name} must be a string of 1..{max_length}"
        )
    return value


class Socket:
    """One accepted socket and its actor."""

    def __init__(
        self, websocket: WebSocket, actor: Actor, conn: Connection, config: ChatConfig, lang: str
    ) -> None:
        self.websocket = websocket
        self.actor = actor
        self.conn = conn
        self.config = config
        self.lang = lang
        self.settings: Settings = websocket.app.state.settings
        self.database: Database = websocket.app.state.db
        self.last_heard = asyncio.get_running_loop().time()

    def error(self, exc: IhisError, ref: object) -> None:
        problem = exc.problem(self.lang)
        self.conn.push(
            {
                "type": "error",
                "ref": ref,
                **{k: problem[k] for k in ("status", "code", "detail")},
                "errors": problem.get("errors", []),
            }
        )

    # --- tasks ---------------------------------------------------------------------------------

    async def write(self) -> int | None:
        while True:
            text = await self.conn.outbox.get()
            if text is None:
                return CLOSE_SLOW
            await self.websocket.send_text(text)

    async def read(self) -> int | None:
        loop = asyncio.get_running_loop()
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            self.last_heard = loop.time()
            text = message.get("text")
            if text is not None and len(text) > MAX_FRAME_CHARS:
                return CLOSE_TOO_BIG
            try:
                frame = json.loads(text) if text is not None else None
            except ValueError:
                frame = None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                self.error(
                    InvalidInput.field(
                        "type", "frame_invalid", "消息格式无效", "Frames are JSON objects with a type"
                    ),
                    None,
                )
                continue
            ref = frame.get("client_msg_id") or frame.get("ref")
            try:
                await self.handle(frame)
            except IhisError as exc:
                self.error(exc, ref)

    async def heartbeat(self) -> int | None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            if loop.time() - self.last_heard > self.config.idle_timeout_seconds:
                return CLOSE_IDLE  # a dead peer: drop it, it resumes by seq when it comes back
            alive = await admitted(
                self.conn.gate, False, session_alive, self.database, self.settings, self.actor.session_id
            )
            if not alive:
                return CLOSE_UNAUTHENTICATED  # logged out, revoked, expired or disabled meanwhile
            current_hub().touch(self.conn)
            self.conn.push({"type": "ping"})

    # --- client frames -------------------------------------------------------------------------

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            self.conn.push({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self.subscribe(
                _int(frame, "room"), _int(frame, "after_seq", minimum=0) if "after_seq" in frame else 0
            )
        elif kind == "unsubscribe":
            room = _int(frame, "room")
            current_hub().leave(self.conn, room)
            self.conn.push({"type": "unsubscribed", "room": room})
        elif kind == "send":
            await self.send(frame)
        elif kind == "receipt":
            await self.receipt(frame)
        elif kind == "typing":
            room = _int(frame, "room")
            if room in self.conn.rooms:
                relay = {"type": "typing", "room": room, "from": self.actor.user_id}
                current_hub().publish({"t": "typing", "room": room, "conn": self.conn.id, "frame": relay})
        elif kind == "signal":
            await self.signal(frame)
        else:
            raise InvalidInput.field(
                "type", "type_unknown", "未知的消息类型", f"Unknown frame type {kind[:32]!r}"
            )

    async def subscribe(self, room_id: int, after_seq: int) -> None:
        actor = self.actor

        def check(db: Session) -> tuple[int, str, list[dict[str, int]]]:
            room, _ = service.require_participant(db, actor, room_id)
            if after_seq > room.last_seq:
                raise InvalidInput.field(
                    "after_seq", "after_seq_invalid", "序号无效", "after_seq is beyond the last message"
                )
            audit.record(
                db,
                actor.audit(),
                "chat.history.read",
                resource_type="chat_room",
                resource_id=room.id,
                patient_id=service.patient_of(db, room.id),
                detail={"after_seq": after_seq, "via": "socket"},
            )
            receipts = [
                {"account": r.account_id, "delivered_seq": r.delivered_seq, "read_seq": r.read_seq}
                for r in service.receipts(db, room.id)
            ]
            return room.last_seq, room.status, receipts

        _, status, receipts = await _unit(self.conn, check)
        conn = self.conn
        async with conn.lock:  # live deliveries of this room wait until the backlog is out
            conn.rooms[room_id] = after_seq
            current_hub().join(conn, room_id)
            sent = after_seq
            while True:
                page = await admitted(
                    conn.gate, False, frames_unit, self.database, room_id, sent, BACKLOG_PAGE
                )
                for f in page:
                    await conn.outbox.put(json.dumps({"type": "message", **f}, ensure_ascii=False))
                    sent = f["seq"]
                if len(page) < BACKLOG_PAGE:
                    break
            conn.rooms[room_id] = sent
            conn.push(
                {
                    "type": "subscribed",
                    "room": room_id,
                    "last_seq": sent,
                    "status": status,
                    "receipts": receipts,
                }
            )

    async def send(self, frame: dict[str, Any]) -> None:
        room = _int(frame, "room")
        client_msg_id = _str(frame, "client_msg_id")
        kind = _str(frame, "kind", max_length=16)
        body = frame.get("body")
        if body is not None and not isinstance(body, str):
            raise InvalidInput.field("body", "body_invalid", "消息内容无效", "body must be a string")
        file_key = _str(frame, "file_key", required=False)
        actor, session_id = self.actor, self.actor.session_id

        def post(db: Session) -> service.Posted:
            touch_session(db, session_id)
            return service.post_message(
                db, actor, room, kind=kind or "", body=body, file_key=file_key, client_msg_id=client_msg_id
            )

        posted = await _unit(self.conn, post)
        self.conn.push(
            {
                "type": "ack",
                "room": room,
                "client_msg_id": client_msg_id,
                "seq": posted.message.seq,
                "duplicate": posted.duplicate,
            }
        )

    async def receipt(self, frame: dict[str, Any]) -> None:
        room = _int(frame, "room")
        seq = _int(frame, "seq", minimum=0)
        status = frame.get("status")
        if status not in ("delivered", "read"):
            raise InvalidInput.field(
                "status", "status_invalid", "回执类型无效", "status must be delivered or read"
            )
        actor, session_id = self.actor, self.actor.session_id

        def mark(db: Session) -> service.Receipt:
            touch_session(db, session_id)
            if status == "read":
                return service.mark_read(db, actor, room, seq)
            return service.mark_delivered(db, actor, room, seq)

        await _unit(self.conn, mark)

    async def signal(self, frame: dict[str, Any]) -> None:
        room = _int(frame, "room")
        action = frame.get("action")
        if action not in SIGNAL_ACTIONS:
            raise InvalidInput.field("action", "action_invalid", "信令类型无效", "Unknown signalling action")
        actor = self.actor
        call_id = None if action == "invite" else _str(frame, "call_id")
        media = frame.get("media", "video")
        reason = frame.get("reason")

        def apply(db: Session) -> calls.CallState | None:
            if action == "invite":
                return calls.invite(db, actor, room, str(media))
            assert call_id is not None
            if action == "accept":
                return calls.accept(db, actor, room, call_id)
            if action in ("decline", "hangup"):
                return calls.end(
                    db, actor, room, call_id, declined=action == "decline", missed=reason == "timeout"
                )
            calls.check_live(db, actor, room, call_id)
            return None

        state = await _unit(self.conn, apply)
        relay: dict[str, Any] = {
            "type": "signal",
            "room": room,
            "action": action,
            "call_id": state.call_id if state else call_id,
            "from": actor.user_id,
            "from_conn": self.conn.id,
        }
        if state is not None:
            relay |= {"status": state.status, "outcome": state.outcome}
            if action == "invite":
                relay["media"] = media
            self.conn.push({**relay, "type": "call", "ref": frame.get("ref")})  # the sender's confirmation
        if action in ("offer", "answer", "ice"):
            relay["data"] = frame.get("data")
        current_hub().publish({"t": "signal", "room": room, "conn": self.conn.id, "frame": relay})


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket) -> None:
    """The chat and signalling socket (docs/chat.md)."""
    settings: Settings = websocket.app.state.settings
    config = chat_config(settings)
    hub = configure_hub(settings)
    hub.set_deliverer(deliver)
    lang = language_of(handshake_request(websocket))
    try:
        actor = await run_in_threadpool(authenticate_socket, websocket, settings, config.allowed_origins)
    except IhisError as exc:
        problem = exc.problem(lang, instance="/api/v1/ws")
        await websocket.send_denial_response(
            JSONResponse(problem, status_code=exc.status, media_type=PROBLEM_JSON)
        )
        return
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered_subprotocols(websocket) else None
    await websocket.accept(subprotocol=subprotocol)
    conn = Connection(
        account_id=actor.user_id,
        institution_id=actor.institution_id,
        session_id=actor.session_id,
        database=websocket.app.state.db,
        loop=asyncio.get_running_loop(),
        gate=get_gate(cast(Request, websocket)),
    )
    sock = Socket(websocket, actor, conn, config, lang)
    hub.register(conn)
    conn.push(
        {
            "type": "hello",
            "conn": conn.id,
            "account": actor.user_id,
            "heartbeat_seconds": config.heartbeat_seconds,
            "idle_timeout_seconds": config.idle_timeout_seconds,
            **ice_servers(config, actor.user_id),
        }
    )
    tasks = {asyncio.create_task(t) for t in (sock.write(), sock.read(), sock.heartbeat())}
    code: int | None = None
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.cancelled():
                continue
            if task.exception() is not None:
                log.error("chat_socket_failed", error=repr(task.exception()))
                code = code or 1011
            else:
                code = code or task.result()
    finally:
        hub.unregister(conn)
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):  # a cancelled handler still reaps its tasks
            await asyncio.gather(*tasks, return_exceptions=True)
    if (
        websocket.client_state == WebSocketState.CONNECTED
        and websocket.application_state == WebSocketState.CONNECTED
    ):
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=code or 1000)
