"""Rooms, participants, messages and receipts: the API other domains call.

Stable API (other domains use only these; ids are integers, ``db`` is the caller's unit of work;
nothing here commits; events go out to live sockets after the caller's commit):

    create_room(db, institution_id=, ref_type="consultation", ref_id=12) -> ChatRoom   # idempotent
    room_for_ref(db, institution_id=, ref_type=, ref_id=) -> ChatRoom | None
    add_participant(db, room, account_id, role="patient"|"doctor"|"observer") -> ChatParticipant
    remove_participant(db, room, account_id) -> bool      # stops delivery at once, even on open sockets
    close_room(db, room) -> bool                          # no more sends; history stays readable
    post_system_message(db, room, body) -> ChatMessage
    post_message(db, actor, room_id, kind=, body=, file_key=, client_msg_id=) -> Posted  # idempotent
    history(db, actor, room_id, after_seq=0, limit=50) -> list[ChatMessage]   # access-checked, audited
    mark_delivered(db, actor, room_id, seq) / mark_read(db, actor, room_id, seq) -> Receipt
    unread_counts(db, actor) -> dict[room_id, int]

The system-level functions (create/add/remove/close/system message) trust their caller: the calling
domain has already authorised its actor (e.g. the doctor accepting a consultation). Functions taking
an ``Actor`` check it themselves: another institution's room or a room the actor is not (or no
longer) in answers 404. Messages are never deleted (DOMAIN §4: kept at least three years).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.messaging import delivery, events
from ihis.messaging.membership import (
    active_participant,
    is_quality_reviewer,
    patient_of,
    require_participant,
    require_reader,
)
from ihis.messaging.models import PARTICIPANT_ROLES, ChatMessage, ChatParticipant, ChatRoom, ChatUpload
from ihis.messaging.reads import (
    Receipt,
    audience,
    mark_delivered,
    mark_read,
    my_rooms,
    receipts,
    unread_counts,
)
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput

USER_KINDS: Final = ("text", "image", "voice")
MAX_TEXT_LENGTH: Final = 4000
MAX_HISTORY_PAGE: Final = 200
CLIENT_MSG_ID_MAX: Final = 64

# Part of the stable API, kept in their own modules (membership.py, reads.py).
__all__ = [
    "MAX_HISTORY_PAGE",
    "Posted",
    "Receipt",
    "active_participant",
    "add_participant",
    "append_message",
    "audience",
    "close_room",
    "create_room",
    "history",
    "history_page",
    "is_quality_reviewer",
    "mark_delivered",
    "mark_read",
    "messages_between",
    "my_rooms",
    "patient_of",
    "post_message",
    "post_system_message",
    "receipts",
    "remove_participant",
    "require_participant",
    "require_reader",
    "room_for_ref",
    "unread_counts",
]


@dataclass(frozen=True)
class Posted:
    message: ChatMessage
    duplicate: bool  # True: an earlier send with the same client_msg_id; nothing new was stored


# --- system-level (called by the owning domain) -------------------------------------------------


def room_for_ref(db: Session, *, institution_id: int, ref_type: str, ref_id: int) -> ChatRoom | None:
    """The room of one thing of another domain, if it has one."""
    return db.scalar(
        select(ChatRoom).where(
            ChatRoom.institution_id == institution_id,
            ChatRoom.ref_type == ref_type,
            ChatRoom.ref_id == ref_id,
        )
    )


def create_room(db: Session, *, institution_id: int, ref_type: str, ref_id: int) -> ChatRoom:
    """The room of ``(ref_type, ref_id)``, created if missing (idempotent; unique per institution)."""
    existing = room_for_ref(db, institution_id=institution_id, ref_type=ref_type, ref_id=ref_id)
    if existing is not None:
        return existing
    room = ChatRoom(
        institution_id=institution_id, ref_type=ref_type, ref_id=ref_id, status="open", last_seq=0
    )
    try:
        with db.begin_nested():
            db.add(room)
            db.flush()
    except IntegrityError:  # created concurrently: the unique constraint decided, take the winner
        found = room_for_ref(db, institution_id=institution_id, ref_type=ref_type, ref_id=ref_id)
        assert found is not None
        return found
    return room


def add_participant(db: Session, room: ChatRoom, account_id: int, role: str) -> ChatParticipant:
    """Put an account of the room's institution into the room (again, if it was removed)."""
    if role not in PARTICIPANT_ROLES:
        raise ValueError(f"unknown participant role {role!r}")
    in_institution = db.scalar(
        select(UserAccount.id).where(
            UserAccount.id == account_id, UserAccount.institution_id == room.institution_id
        )
    )
    if in_institution is None:
        raise ValueError(f"account {account_id} is not in institution {room.institution_id}")
    existing = db.scalar(
        select(ChatParticipant).where(
            ChatParticipant.room_id == room.id, ChatParticipant.account_id == account_id
        )
    )
    if existing is None:
        participant = ChatParticipant(
            institution_id=room.institution_id,
            room_id=room.id,
            account_id=account_id,
            role=role,
            added_at=utcnow(),
        )
        db.add(participant)
        db.flush()
        return participant
    db.execute(
        update(ChatParticipant)
        .where(ChatParticipant.id == existing.id, ChatParticipant.removed_at.is_not(None))
        .values(removed_at=None, role=role, added_at=utcnow())
    )
    db.refresh(existing)
    return existing


def remove_participant(db: Session, room: ChatRoom, account_id: int) -> bool:
    """Take an account out of the room; its sockets stop receiving the room at once. False if not in."""
    result = db.execute(
        update(ChatParticipant)
        .where(
            ChatParticipant.room_id == room.id,
            ChatParticipant.account_id == account_id,
            ChatParticipant.removed_at.is_(None),
        )
        .values(removed_at=utcnow())
    )
    removed = bool(result.rowcount)  # type: ignore[attr-defined]
    if removed:
        events.publish_after_commit(db, {"t": "member", "room": room.id, "account": account_id})
    return removed


def close_room(db: Session, room: ChatRoom) -> bool:
    """No more sends (the consultation ended); history stays readable. False if already closed."""
    result = db.execute(
        update(ChatRoom)
        .where(ChatRoom.id == room.id, ChatRoom.status == "open")
        .values(status="closed", closed_at=utcnow())
    )
    closed = bool(result.rowcount)  # type: ignore[attr-defined]
    if closed:
        events.publish_after_commit(db, {"t": "room", "room": room.id, "status": "closed"})
    return closed


def post_system_message(db: Session, room: ChatRoom, body: str) -> ChatMessage:
    """A system line in the timeline (e.g. "医生已接诊"); allowed in a closed room too."""
    return append_message(db, room.id, room.institution_id, sender_account_id=None, kind="system", body=body)


# --- actor-level -------------------------------------------------------------------------------


def _check_text(body: str | None) -> str:
    text = (body or "").strip()
    if not text:
        raise InvalidInput.field("body", "body_empty", "消息内容不能为空", "The message is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput.field(
            "body",
            "body_too_long",
            f"消息不能超过 {MAX_TEXT_LENGTH} 字",
            f"At most {MAX_TEXT_LENGTH} characters",
        )
    return text


def _upload_for(db: Session, room_id: int, actor: Actor, kind: str, file_key: str | None) -> ChatUpload:
    upload = (
        db.scalar(
            select(ChatUpload).where(
                ChatUpload.file_key == file_key,
                ChatUpload.room_id == room_id,
                ChatUpload.uploader_account_id == actor.user_id,
            )
        )
        if file_key
        else None
    )
    if upload is None or upload.kind != kind:
        raise InvalidInput.field(
            "file_key", "file_unknown", "文件不存在或类型不符", "Unknown file for this message"
        )
    return upload


def post_message(
    db: Session,
    actor: Actor,
    room_id: int,
    *,
    kind: str,
    body: str | None = None,
    file_key: str | None = None,
    client_msg_id: str | None = None,
) -> Posted:
    """Store a text/image/voice message of a member (idempotent by ``client_msg_id``)."""
    room, _ = require_participant(db, actor, room_id)
    if kind not in USER_KINDS:
        raise InvalidInput.field("kind", "kind_invalid", "消息类型无效", "Unknown message kind")
    if client_msg_id is not None and not (0 < len(client_msg_id) <= CLIENT_MSG_ID_MAX):
        raise InvalidInput.field(
            "client_msg_id", "client_msg_id_invalid", "消息编号无效", "Invalid client_msg_id"
        )
    if client_msg_id:
        earlier = _by_client_id(db, room_id, actor.user_id, client_msg_id)
        if earlier is not None:
            return Posted(earlier, duplicate=True)
    if room.status != "open":
        raise Conflict("会话已结束，不能再发送消息", "The conversation is closed")
    text = _check_text(body) if kind == "text" else None
    upload = None if kind == "text" else _upload_for(db, room_id, actor, kind, file_key)
    try:
        message = append_message(
            db,
            room.id,
            room.institution_id,
            sender_account_id=actor.user_id,
            kind=kind,
            body=text,
            upload=upload,
            client_msg_id=client_msg_id,
            require_open=True,
        )
    except IntegrityError:
        # The same client_msg_id was stored concurrently: the unique constraint decided.
        earlier = _by_client_id(db, room_id, actor.user_id, client_msg_id or "")
        if earlier is None:
            raise
        return Posted(earlier, duplicate=True)
    delivery.notify_offline(db, room, message, sender_name=actor.display_name)
    return Posted(message, duplicate=False)


def _by_client_id(db: Session, room_id: int, sender_id: int, client_msg_id: str) -> ChatMessage | None:
    return db.scalar(
        select(ChatMessage).where(
            ChatMessage.room_id == room_id,
            ChatMessage.sender_account_id == sender_id,
            ChatMessage.client_msg_id == client_msg_id,
        )
    )


def append_message(
    db: Session,
    room_id: int,
    institution_id: int,
    *,
    sender_account_id: int | None,
    kind: str,
    body: str | None = None,
    upload: ChatUpload | None = None,
    client_msg_id: str | None = None,
    require_open: bool = False,
) -> ChatMessage:
    """Take the room's next seq (conditional UPDATE) and store the message; published after commit."""
    with db.begin_nested():
        stmt = update(ChatRoom).where(ChatRoom.id == room_id)
        if require_open:
            stmt = stmt.where(ChatRoom.status == "open")
        seq = db.execute(
            stmt.values(last_seq=ChatRoom.last_seq + 1)
            .returning(ChatRoom.last_seq)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if seq is None:
            raise Conflict("会话已结束，不能再发送消息", "The conversation is closed")
        message = ChatMessage(
            institution_id=institution_id,
            room_id=room_id,
            seq=seq,
            sender_account_id=sender_account_id,
            kind=kind,
            body=body,
            file_key=upload.file_key if upload else None,
            content_type=upload.content_type if upload else None,
            size_bytes=upload.size_bytes if upload else None,
            duration_ms=upload.duration_ms if upload else None,
            client_msg_id=client_msg_id,
            created_at=utcnow(),
        )
        db.add(message)
        db.flush()
    events.publish_after_commit(db, {"t": "msg", "room": room_id, "seq": seq})
    return message


def messages_between(db: Session, room_id: int, after_seq: int, limit: int) -> list[ChatMessage]:
    """Messages of a room with ``seq > after_seq`` in order (no access check: callers check)."""
    return list(
        db.scalars(
            select(ChatMessage)
            .where(ChatMessage.room_id == room_id, ChatMessage.seq > after_seq)
            .order_by(ChatMessage.seq)
            .limit(limit)
        )
    )


def history(
    db: Session, actor: Actor, room_id: int, *, after_seq: int = 0, limit: int = 50
) -> list[ChatMessage]:
    """A page of a room's messages after ``after_seq`` for a member or quality staff (audited)."""
    return history_page(db, actor, room_id, after_seq=after_seq, limit=limit)[1]


def history_page(
    db: Session, actor: Actor, room_id: int, *, after_seq: int = 0, limit: int = 50
) -> tuple[ChatRoom, list[ChatMessage]]:
    """``history`` with the room (for its ``last_seq``)."""
    if after_seq < 0:
        raise InvalidInput.field("after_seq", "after_seq_invalid", "序号无效", "after_seq must be >= 0")
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInput.field("limit", "limit_invalid", "数量无效", f"limit must be 1..{MAX_HISTORY_PAGE}")
    room = require_reader(db, actor, room_id)
    return room, messages_between(db, room_id, after_seq, limit)
