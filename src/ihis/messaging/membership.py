"""Who may see a room: live members, and quality staff for reading (always audited). Another
institution's room and a room the actor is not (or no longer) in answer 404, never 403."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, Role
from ihis.messaging.models import ChatParticipant, ChatRoom
from ihis.platform import audit
from ihis.platform.errors import NotFound


def _room_not_found() -> NotFound:
    return NotFound("会话不存在", "Conversation not found")


def _room_of(db: Session, actor: Actor, room_id: int) -> ChatRoom:
    room = db.scalar(
        select(ChatRoom).where(ChatRoom.id == room_id, ChatRoom.institution_id == actor.institution_id)
    )
    if room is None:
        raise _room_not_found()
    return room


def active_participant(db: Session, room_id: int, account_id: int) -> ChatParticipant | None:
    """The account's live membership of the room, if any."""
    return db.scalar(
        select(ChatParticipant).where(
            ChatParticipant.room_id == room_id,
            ChatParticipant.account_id == account_id,
            ChatParticipant.removed_at.is_(None),
        )
    )


def require_participant(db: Session, actor: Actor, room_id: int) -> tuple[ChatRoom, ChatParticipant]:
    """The room and the actor's membership; 404 for another institution's room or a non-member."""
    room = _room_of(db, actor, room_id)
    participant = active_participant(db, room_id, actor.user_id)
    if participant is None:
        raise _room_not_found()
    return room, participant


def is_quality_reviewer(actor: Actor) -> bool:
    """Quality staff read consultation histories (issue 4 §2), always audited."""
    return actor.is_staff and Role.QUALITY.value in actor.roles


def require_reader(db: Session, actor: Actor, room_id: int) -> ChatRoom:
    """A member, or quality staff of the institution; audits the read (personal health data)."""
    room = _room_of(db, actor, room_id)
    member = active_participant(db, room_id, actor.user_id) is not None
    if not member and not is_quality_reviewer(actor):
        raise _room_not_found()
    audit.record(
        db,
        actor.audit(),
        "chat.history.read" if member else "chat.history.review",
        resource_type="chat_room",
        resource_id=room.id,
        patient_id=patient_of(db, room.id),
        detail={"ref_type": room.ref_type, "ref_id": room.ref_id},
    )
    return room


def patient_of(db: Session, room_id: int) -> int | None:
    """The patient account of a room (for audit entries)."""
    return db.scalar(
        select(ChatParticipant.account_id).where(
            ChatParticipant.room_id == room_id, ChatParticipant.role == "patient"
        )
    )
