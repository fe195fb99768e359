"""Delivery of hub events to this process's sockets: membership re-checked at every delivery, messages
in seq order, gaps filled from the database, so a subscribed socket sees each message exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ihis.messaging import service
from ihis.messaging.hub import Connection, current_hub
from ihis.messaging.models import ChatMessage
from ihis.messaging.schemas import message_frame
from ihis.platform.admission import DbGate
from ihis.platform.db import Database

T = TypeVar("T")


async def admitted(gate: DbGate | None, write: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking database work in the thread pool, admitted by the process's gate first."""
    if gate is None:
        return await run_in_threadpool(fn, *args)
    async with gate.admit(write=write):
        return await run_in_threadpool(fn, *args)


def _frames(db: Session, room_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
    return [message_frame(m) for m in service.messages_between(db, room_id, after_seq, limit)]


def _audience_and_message(
    database: Database, room_id: int, seq: int | None
) -> tuple[frozenset[int], dict[str, Any] | None]:
    with database.unit_of_work(write=False) as db:
        members = service.audience(db, room_id)
        message = (
            db.scalar(select(ChatMessage).where(ChatMessage.room_id == room_id, ChatMessage.seq == seq))
            if seq is not None
            else None
        )
        return members, message_frame(message) if message is not None else None


async def _drop_room(conn: Connection, room_id: int) -> None:
    async with conn.lock:
        if room_id in conn.rooms:
            current_hub().leave(conn, room_id)
            conn.push({"type": "removed", "room": room_id})


async def _deliver_message(conn: Connection, room_id: int, seq: int, frame: dict[str, Any] | None) -> None:
    async with conn.lock:
        last = conn.rooms.get(room_id)
        if last is None or seq <= last:
            return  # not subscribed (any more), or already sent with the backlog or a gap fill
        if seq == last + 1 and frame is not None:
            conn.push({"type": "message", **frame})
            conn.rooms[room_id] = seq
            return
        # A gap (an event was lost or overtaken): fill it from the database, in order.
        page = await admitted(conn.gate, False, frames_unit, conn.database, room_id, last, seq - last)
        for f in page:
            conn.push({"type": "message", **f})
            conn.rooms[room_id] = f["seq"]


def frames_unit(database: Database, room_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
    with database.unit_of_work(write=False) as db:
        return _frames(db, room_id, after_seq, limit)


async def deliver(event: dict[str, Any], conns: list[Connection]) -> None:
    """Deliver one hub event to this loop's sockets, re-checking each receiver's membership first."""
    kind, room = event.get("t"), event.get("room")
    if not isinstance(room, int):
        return
    if kind == "member":
        for conn in conns:
            if conn.account_id == event.get("account"):
                await _drop_room(conn, room)
        return
    seq = event.get("seq") if kind == "msg" else None
    members, frame = await admitted(conns[0].gate, False, _audience_and_message, conns[0].database, room, seq)
    for conn in conns:
        if room not in conn.rooms:
            continue
        if conn.account_id not in members:
            await _drop_room(conn, room)  # removed meanwhile: nothing more of this room
            continue
        if kind == "msg" and isinstance(seq, int):
            await _deliver_message(conn, room, seq, frame)
        elif kind == "receipt":
            conn.push(
                {
                    "type": "receipt",
                    "room": room,
                    "account": event["account"],
                    "delivered_seq": event["delivered"],
                    "read_seq": event["read"],
                }
            )
        elif kind in ("typing", "signal"):
            if conn.id != event.get("conn"):
                conn.push(event["frame"])
        elif kind == "room":
            conn.push({"type": "room", "room": room, "status": event.get("status")})
