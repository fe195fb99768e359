"""1:1 WebRTC calls in a room: state kept in ``chat_call``, the record kept as a ``call`` message.

Media never passes through IHIS; only signalling does (offer/answer/ICE relayed over the socket).
Transitions are guarded updates (``ringing -> active -> ended``, ``ringing -> ended``); when a call
ends, its record (who, start, answer, end, duration, outcome) joins the room's timeline, so it is
kept with the messages (DOMAIN §4).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.messaging.models import ChatCall, ChatMessage
from ihis.messaging.service import append_message, require_participant
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound

MEDIA: Final = ("audio", "video")


@dataclass(frozen=True)
class CallState:
    call_id: str
    room_id: int
    status: str
    outcome: str | None
    record: ChatMessage | None = None


def _call(db: Session, room_id: int, call_id: str) -> ChatCall:
    call = db.scalar(select(ChatCall).where(ChatCall.call_id == call_id, ChatCall.room_id == room_id))
    if call is None:
        raise NotFound("通话不存在", "Call not found")
    return call


def invite(db: Session, actor: Actor, room_id: int, media: str) -> CallState:
    """Start ringing the other members; refused while another call of the room is live."""
    room, _ = require_participant(db, actor, room_id)
    if media not in MEDIA:
        raise InvalidInput.field("media", "media_invalid", "通话类型无效", "media must be audio or video")
    if room.status != "open":
        raise Conflict("会话已结束", "The conversation is closed")
    live = db.scalar(select(ChatCall.id).where(ChatCall.room_id == room_id, ChatCall.status != "ended"))
    if live is not None:
        raise Conflict("已有进行中的通话", "Another call is in progress")
    call = ChatCall(
        institution_id=room.institution_id,
        call_id=secrets.token_hex(12),
        room_id=room_id,
        caller_account_id=actor.user_id,
        media=media,
        status="ringing",
        started_at=utcnow(),
    )
    db.add(call)
    db.flush()
    return CallState(call.call_id, room_id, "ringing", None)


def accept(db: Session, actor: Actor, room_id: int, call_id: str) -> CallState:
    """The callee picks up (only a ringing call, only someone other than the caller)."""
    require_participant(db, actor, room_id)
    call = _call(db, room_id, call_id)
    result = db.execute(
        update(ChatCall)
        .where(
            ChatCall.id == call.id, ChatCall.status == "ringing", ChatCall.caller_account_id != actor.user_id
        )
        .values(status="active", answered_at=utcnow(), answered_by=actor.user_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict("通话已结束或已接听", "The call is no longer ringing")
    return CallState(call_id, room_id, "active", None)


def end(
    db: Session, actor: Actor, room_id: int, call_id: str, *, declined: bool = False, missed: bool = False
) -> CallState:
    """Hang up, decline or give up; the call's record is appended to the timeline exactly once."""
    require_participant(db, actor, room_id)
    call = _call(db, room_id, call_id)
    db.refresh(call)
    if call.status == "active":
        outcome = "completed"
    elif declined:
        outcome = "declined"
    elif missed:
        outcome = "missed"
    else:
        outcome = "cancelled" if actor.user_id == call.caller_account_id else "declined"
    now = utcnow()
    result = db.execute(
        update(ChatCall)
        .where(ChatCall.id == call.id, ChatCall.status == call.status, ChatCall.status != "ended")
        .values(status="ended", ended_at=now, ended_by=actor.user_id, outcome=outcome)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict("通话已结束", "The call has already ended")
    duration = int((now - call.answered_at).total_seconds()) if call.answered_at else 0
    body = json.dumps(
        {
            "call_id": call.call_id,
            "media": call.media,
            "caller": call.caller_account_id,
            "answered_by": call.answered_by,
            "started_at": call.started_at.isoformat(),
            "answered_at": call.answered_at.isoformat() if call.answered_at else None,
            "ended_at": now.isoformat(),
            "ended_by": actor.user_id,
            "duration_seconds": duration,
            "outcome": outcome,
        },
        ensure_ascii=False,
    )
    record = append_message(
        db, room_id, call.institution_id, sender_account_id=call.caller_account_id, kind="call", body=body
    )
    return CallState(call_id, room_id, "ended", outcome, record)


def check_live(db: Session, actor: Actor, room_id: int, call_id: str) -> None:
    """Relayed signalling (offer/answer/ICE) needs a member and a call of the room not yet ended."""
    require_participant(db, actor, room_id)
    call = _call(db, room_id, call_id)
    if call.status == "ended":
        raise Conflict("通话已结束", "The call has already ended")
