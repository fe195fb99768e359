"""The message center of the signed-in user, and the delivery log of operations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.notifications.models import Delivery, Message
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import NotFound


def _own(actor: Actor) -> list[ColumnElement[bool]]:
    # A user only ever sees their own messages: the filter is part of every query.
    return [Message.institution_id == actor.institution_id, Message.recipient_account_id == actor.user_id]


def unread_count(db: Session, actor: Actor) -> int:
    """How many of the actor's messages are unread."""
    stmt = select(func.count()).select_from(Message).where(*_own(actor), Message.read_at.is_(None))
    return int(db.scalar(stmt) or 0)


def list_messages(
    db: Session, actor: Actor, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Message], int]:
    """The actor's messages, unread first, newest first; and how many match."""
    where = _own(actor)
    if unread_only:
        where.append(Message.read_at.is_(None))
    total = int(db.scalar(select(func.count()).select_from(Message).where(*where)) or 0)
    rows = db.scalars(
        select(Message)
        .where(*where)
        .order_by(case((Message.read_at.is_(None), 0), else_=1), Message.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def mark_read(db: Session, actor: Actor, message_id: int) -> Message:
    """Mark one own message read (idempotent); 404 for anyone else's."""
    db.execute(
        update(Message)
        .where(Message.id == message_id, *_own(actor), Message.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    message = db.scalars(select(Message).where(Message.id == message_id, *_own(actor))).first()
    if message is None:
        raise NotFound("消息不存在", "No such message")
    db.refresh(message)
    return message


def mark_all_read(db: Session, actor: Actor) -> int:
    """Mark every unread own message read; returns how many changed."""
    result = db.execute(
        update(Message)
        .where(*_own(actor), Message.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DeliveryFilter:
    event: str | None = None
    channel: str | None = None
    status: str | None = None
    recipient_account_id: int | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None


def list_deliveries(
    db: Session, actor: Actor, filters: DeliveryFilter, *, limit: int, offset: int
) -> tuple[list[tuple[Delivery, str]], int]:
    """The institution's deliveries, newest first, with each recipient's name (audited read)."""
    where: list[ColumnElement[bool]] = [Delivery.institution_id == actor.institution_id]
    if filters.event:
        where.append(Delivery.event == filters.event)
    if filters.channel:
        where.append(Delivery.channel == filters.channel)
    if filters.status:
        where.append(Delivery.status == filters.status)
    if filters.recipient_account_id is not None:
        where.append(Delivery.recipient_account_id == filters.recipient_account_id)
    if filters.date_from is not None:
        where.append(Delivery.created_at >= filters.date_from)
    if filters.date_to is not None:
        where.append(Delivery.created_at < filters.date_to)
    total = int(db.scalar(select(func.count()).select_from(Delivery).where(*where)) or 0)
    rows = db.execute(
        select(Delivery, UserAccount.display_name)
        .join(UserAccount, UserAccount.id == Delivery.recipient_account_id)
        .where(*where)
        .order_by(Delivery.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    audit.record(
        db,
        actor.audit(),
        "notification.delivery.list",
        resource_type="notification_delivery",
        detail={"returned": len(rows), "recipient_account_id": filters.recipient_account_id},
    )
    return [(d, name) for d, name in rows], total
