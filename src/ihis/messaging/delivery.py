"""Delayed mode (留言, issue 4 §2): a message to someone without a live socket waits in the room and
a notice goes out — one per batch of unread messages, never the message text itself."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.messaging.models import ChatMessage, ChatParticipant, ChatRoom
from ihis.notifications.channels import Link
from ihis.notifications.service import notify
from ihis.notifications.templates import Event


def notify_offline(db: Session, room: ChatRoom, message: ChatMessage, *, sender_name: str) -> list[int]:
    """Notify every other member who has no live socket and no earlier unread notice; their ids."""
    from ihis.messaging.hub import current_hub

    hub = current_hub()
    others = db.scalars(
        select(ChatParticipant).where(
            ChatParticipant.room_id == room.id,
            ChatParticipant.removed_at.is_(None),
            ChatParticipant.account_id != message.sender_account_id,
        )
    ).all()
    notified: list[int] = []
    for participant in others:
        if hub.is_online(participant.account_id):
            continue
        # Guarded: only if everything an earlier notice announced has been read since.
        result = db.execute(
            update(ChatParticipant)
            .where(
                ChatParticipant.id == participant.id, ChatParticipant.notified_seq <= ChatParticipant.read_seq
            )
            .values(notified_seq=message.seq)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue
        notify(
            db,
            institution_id=room.institution_id,
            recipient_account_id=participant.account_id,
            event=Event.CHAT_MESSAGE,
            variables={"sender_name": sender_name},
            link=Link(room.ref_type, room.ref_id, None),
        )
        notified.append(participant.account_id)
    return notified
