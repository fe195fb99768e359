"""Tables of real-time messaging: rooms, participants (with their receipts), messages, uploads, calls.

A room belongs to one thing of another domain (``ref_type``/``ref_id``, e.g. a consultation). Messages
are numbered per room by ``chat_room.last_seq`` (moved by a conditional UPDATE), so clients resume
from the last sequence number they hold. Nothing here is ever deleted: every message and call is
kept, traceable, for at least three years (DOMAIN §4, 监管细则) — there is no delete path.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.clock import utcnow
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, UtcDateTime

ROOM_STATUSES = ("open", "closed")
PARTICIPANT_ROLES = ("patient", "doctor", "observer")
MESSAGE_KINDS = ("text", "image", "voice", "system", "call")
CALL_STATUSES = ("ringing", "active", "ended")
CALL_OUTCOMES = ("completed", "missed", "declined", "cancelled", "failed")


class ChatRoom(InstitutionScoped, Base):
    """One conversation, e.g. the chat of one consultation."""

    __tablename__ = "chat_room"
    __table_args__ = (
        UniqueConstraint("institution_id", "ref_type", "ref_id"),
        CheckConstraint("status IN ('open','closed')", name="status"),
        CheckConstraint("last_seq >= 0", name="last_seq"),
    )

    id: Mapped[IntPk]
    ref_type: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The highest message sequence number handed out (conditional UPDATE ... RETURNING).
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ChatParticipant(InstitutionScoped, Base):
    """An account in a room; ``removed_at`` set = no longer sees anything. Receipts live here."""

    __tablename__ = "chat_participant"
    __table_args__ = (
        UniqueConstraint("room_id", "account_id"),
        CheckConstraint("role IN ('patient','doctor','observer')", name="role"),
        CheckConstraint("read_seq <= delivered_seq", name="read_after_delivered"),
        Index("ix_chat_participant_account", "account_id", "removed_at"),
    )

    id: Mapped[IntPk]
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("chat_room.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # Receipts: every message up to this seq was delivered to / read by this participant.
    delivered_seq: Mapped[int] = mapped_column(Integer, default=0)
    read_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The seq up to which an offline notice (留言) was sent: one notice per batch of unread messages.
    notified_seq: Mapped[int] = mapped_column(Integer, default=0)


class ChatMessage(InstitutionScoped, Base):
    """One message; persisted before any delivery. ``seq`` is dense per room."""

    __tablename__ = "chat_message"
    __table_args__ = (
        UniqueConstraint("room_id", "seq"),
        # Idempotent sends: a retried send with the same client id returns the first message.
        UniqueConstraint("room_id", "sender_account_id", "client_msg_id"),
        CheckConstraint("kind IN ('text','image','voice','system','call')", name="kind"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size"),
    )

    id: Mapped[IntPk]
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("chat_room.id"))
    seq: Mapped[int] = mapped_column(Integer)
    # None for system messages.
    sender_account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    file_key: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ChatUpload(InstitutionScoped, Base):
    """A file uploaded into a room (image or voice clip); a message refers to it by key."""

    __tablename__ = "chat_upload"
    __table_args__ = (UniqueConstraint("file_key"),)

    id: Mapped[IntPk]
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("chat_room.id"), index=True)
    uploader_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    file_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ChatCall(InstitutionScoped, Base):
    """A 1:1 WebRTC call in a room; when it ends a ``call`` message records it in the timeline."""

    __tablename__ = "chat_call"
    __table_args__ = (
        UniqueConstraint("call_id"),
        CheckConstraint("status IN ('ringing','active','ended')", name="status"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('completed','missed','declined','cancelled','failed')",
            name="outcome",
        ),
    )

    id: Mapped[IntPk]
    call_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("chat_room.id"), index=True)
    caller_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    media: Mapped[str] = mapped_column(String(8))  # audio | video
    status: Mapped[str] = mapped_column(String(16), default="ringing")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    answered_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    ended_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))
