"""Tables of the notifications domain: messages, template versions, deliveries, scheduled reminders."""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.clock import utcnow
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, UtcDateTime

# Delivery lifecycle (docs/notifications.md): pending -> sending -> sent | retrying | failed | skipped.
PENDING: Final = "pending"
SENDING: Final = "sending"
RETRYING: Final = "retrying"
SENT: Final = "sent"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
DELIVERY_STATUSES: Final = (PENDING, SENDING, RETRYING, SENT, FAILED, SKIPPED)
# A handler run may (re)claim a delivery only from these states; sent/skipped are final.
CLAIMABLE: Final = (PENDING, SENDING, RETRYING, FAILED)

SCHEDULED: Final = "scheduled"
DISPATCHED: Final = "dispatched"
CANCELLED: Final = "cancelled"
REMINDER_STATUSES: Final = (SCHEDULED, DISPATCHED, CANCELLED)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


class Message(InstitutionScoped, Base):
    """站内消息 — one in-app message in a recipient's message center."""

    __tablename__ = "notification_message"
    __table_args__ = (
        # The inbox query and the unread count: a recipient's messages, unread first, newest first.
        Index("ix_notification_message_recipient_read", "recipient_account_id", "read_at", "id"),
    )

    id: Mapped[IntPk]
    recipient_account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user_account.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # Typed reference to what the message is about ({"type": "registration", "id": 12}) and the
    # client route that opens it.
    link_type: Mapped[str | None] = mapped_column(String(40))
    link_id: Mapped[int | None] = mapped_column(BigId)
    link_route: Mapped[str | None] = mapped_column(String(200))
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class TemplateVersion(InstitutionScoped, Base):
    """通知模板 — one saved version of an event's texts; the highest version is in force."""

    __tablename__ = "notification_template_version"
    __table_args__ = (
        # Two concurrent saves of the same next version: one wins, the other answers 409.
        UniqueConstraint("institution_id", "event", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[IntPk]
    event: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # None: this event sends no SMS / no WeChat template message.
    sms_text: Mapped[str | None] = mapped_column(Text)
    wechat_template_id: Mapped[str | None] = mapped_column(String(64))
    wechat_fields: Mapped[str | None] = mapped_column(Text)  # JSON {"thing1": "{doctor_name}", ...}
    created_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Delivery(InstitutionScoped, Base):
    """发送记录 — one notification through one external channel (SMS, WeChat) and its outcome."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(DELIVERY_STATUSES)})", name="status"),
        CheckConstraint("channel IN ('sms', 'wechat')", name="channel"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_notification_delivery_institution_created", "institution_id", "created_at"),
    )

    id: Mapped[IntPk]
    recipient_account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user_account.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("notification_message.id"))
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    # The rendered content, JSON; holds no phone number (the address is read at send time).
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Masked only (130******89): the delivery log never holds a full phone number.
    address_masked: Mapped[str | None] = mapped_column(String(40))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    # A short, personal-data-free reason (provider code, "wechat_not_configured").
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ScheduledNotification(InstitutionScoped, Base):
    """定时提醒 — a notification to send at ``due_at`` (visit and shift reminders)."""

    __tablename__ = "notification_scheduled"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(REMINDER_STATUSES)})", name="status"),
        # The minute job's scan: scheduled rows that are due.
        Index("ix_notification_scheduled_status_due", "status", "due_at"),
    )

    id: Mapped[IntPk]
    recipient_account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user_account.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(40))
    variables: Mapped[str] = mapped_column(Text)  # JSON; names and times, no phone numbers
    link_type: Mapped[str | None] = mapped_column(String(40))
    link_id: Mapped[int | None] = mapped_column(BigId)
    link_route: Mapped[str | None] = mapped_column(String(200))
    channels: Mapped[str | None] = mapped_column(String(64))  # comma-separated, None = event default
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
