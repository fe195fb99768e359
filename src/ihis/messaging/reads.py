"""Receipts, unread counts and the room lists of an actor; the audience of a room's events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.messaging import events
from ihis.messaging.membership import require_participant
from ihis.messaging.models import ChatMessage, ChatParticipant, ChatRoom
from ihis.platform.errors import InvalidInput


@dataclass(frozen=True)
class Receipt:
    room_id: int
    account_id: int
    delivered_seq: int
    read_seq: int


def _mark(db: Session, actor: Actor, room_id: int, seq: int, *, read: bool) -> Receipt:
    room, participant = require_participant(db, actor, room_id)
    if seq < 0 or seq > room.last_seq:
        raise InvalidInput.field("seq", "seq_invalid", "序号无效", "seq is beyond the last message")
    # Receipts only move forward (conditional updates); reading implies delivery.
    db.execute(
        update(ChatParticipant)
        .where(ChatParticipant.id == participant.id, ChatParticipant.delivered_seq < seq)
        .values(delivered_seq=seq)
    )
    if read:
        db.execute(
            update(ChatParticipant)
            .where(ChatParticipant.id == participant.id, ChatParticipant.read_seq < seq)
            .values(read_seq=seq)
        )
    db.refresh(participant)
    receipt = Receipt(room_id, actor.user_id, participant.delivered_seq, participant.read_seq)
    events.publish_after_commit(
        db,
        {
            "t": "receipt",
            "room": room_id,
            "account": actor.user_id,
            "delivered": receipt.delivered_seq,
            "read": receipt.read_seq,
        },
    )
    return receipt


def mark_delivered(db: Session, actor: Actor, room_id: int, seq: int) -> Receipt:
    """Every message up to ``seq`` reached the actor's device."""
    return _mark(db, actor, room_id, seq, read=False)


def mark_read(db: Session, actor: Actor, room_id: int, seq: int) -> Receipt:
    """The actor has read every message up to ``seq``."""
    return _mark(db, actor, room_id, seq, read=True)


def receipts(db: Session, room_id: int) -> list[Receipt]:
    """Every live member's receipts in a room."""
    rows = db.execute(
        select(ChatParticipant.account_id, ChatParticipant.delivered_seq, ChatParticipant.read_seq).where(
            ChatParticipant.room_id == room_id, ChatParticipant.removed_at.is_(None)
        )
    )
    return [Receipt(room_id, a, d, r) for a, d, r in rows]


def my_rooms(db: Session, actor: Actor) -> list[tuple[ChatRoom, ChatParticipant]]:
    """The rooms the actor is a member of, newest first."""
    rows = db.execute(
        select(ChatRoom, ChatParticipant)
        .join(ChatParticipant, ChatParticipant.room_id == ChatRoom.id)
        .where(
            ChatParticipant.account_id == actor.user_id,
            ChatParticipant.removed_at.is_(None),
            ChatRoom.institution_id == actor.institution_id,
        )
        .order_by(ChatRoom.id.desc())
    )
    return [(room, participant) for room, participant in rows]


def unread_counts(db: Session, actor: Actor) -> dict[int, int]:
    """Per room: messages of others after the actor's read receipt."""
    rows = db.execute(
        select(ChatMessage.room_id, func.count())
        .join(ChatParticipant, ChatParticipant.room_id == ChatMessage.room_id)
        .where(
            ChatParticipant.account_id == actor.user_id,
            ChatParticipant.removed_at.is_(None),
            ChatParticipant.institution_id == actor.institution_id,
            ChatMessage.seq > ChatParticipant.read_seq,
            (ChatMessage.sender_account_id.is_(None)) | (ChatMessage.sender_account_id != actor.user_id),
        )
        .group_by(ChatMessage.room_id)
    )
    return {room_id: int(count) for room_id, count in rows}


def audience(db: Session, room_id: int) -> frozenset[int]:
    """Accounts allowed to receive the room's events right now (checked at every delivery)."""
    return frozenset(
        db.scalars(
            select(ChatParticipant.account_id).where(
                ChatParticipant.room_id == room_id, ChatParticipant.removed_at.is_(None)
            )
        )
    )
