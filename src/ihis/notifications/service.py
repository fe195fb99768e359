"""Sending notifications: ``notify`` now, ``schedule_reminder`` later; delivery of external channels.

    notify(db, institution_id=inst, recipient_account_id=acc, event="booking_confirmed",
           variables={...}, link=Link("registration", reg.id, f"/registrations/{reg.id}"))

The in-app message is written in the caller's transaction; each external channel (SMS, WeChat)
gets a ``Delivery`` row and an outbox message, so it goes out only after commit, with the
outbox's retries (ARCHITECTURE principle 1). Payloads carry the delivery id only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.notifications.channels import InAppChannel, Link, Outgoing, Recipient, Rendered, Sent
from ihis.notifications.models import (
    CANCELLED,
    CLAIMABLE,
    DISPATCHED,
    FAILED,
    PENDING,
    RETRYING,
    SCHEDULED,
    SENDING,
    SENT,
    SKIPPED,
    Delivery,
    ScheduledNotification,
)
from ihis.notifications.template_service import current_template, render_template
from ihis.notifications.templates import Event, check_variables
from ihis.platform import outbox
from ihis.platform.clock import utcnow

TOPIC: Final = "notifications.deliver"
IN_APP: Final = "in_app"
SMS: Final = "sms"
WECHAT: Final = "wechat"
CHANNELS: Final = (IN_APP, SMS, WECHAT)
EXTERNAL: Final = (SMS, WECHAT)


class UnknownRecipient(LookupError):
    """The recipient account is not in the institution (a programming error of the caller)."""


@dataclass(frozen=True)
class Notified:
    message_id: int | None
    delivery_ids: list[int]


def _check_recipient(db: Session, institution_id: int, account_id: int) -> None:
    found = db.scalar(
        select(UserAccount.id).where(
            UserAccount.id == account_id, UserAccount.institution_id == institution_id
        )
    )
    if found is None:
        raise UnknownRecipient(f"account {account_id} is not in institution {institution_id}")


def _chosen_channels(channels: Iterable[str] | None, rendered: Rendered) -> list[str]:
    if channels is None:
        chosen = [IN_APP]
        if rendered.sms_text:
            chosen.append(SMS)
        if rendered.wechat_template_id:
            chosen.append(WECHAT)
        return chosen
    chosen = list(dict.fromkeys(channels))
    unknown = [c for c in chosen if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown notification channel(s): {unknown}")
    return chosen


def notify(
    db: Session,
    *,
    institution_id: int,
    recipient_account_id: int,
    event: Event | str,
    variables: Mapping[str, str],
    link: Link | None,
    channels: Iterable[str] | None = None,
) -> Notified:
    """Write the in-app message and queue one delivery per external channel (sent after commit)."""
    chosen_event = Event(event)
    values = dict(variables)
    check_variables(chosen_event, values)
    _check_recipient(db, institution_id, recipient_account_id)
    view = current_template(db, institution_id, chosen_event)
    rendered = render_template(view, values)
    chosen = _chosen_channels(channels, rendered)
    outgoing = Outgoing(
        event=chosen_event.value,
        recipient=Recipient(recipient_account_id, institution_id),
        content=rendered,
        link=link,
        reference="",
        template_version=view.version,
    )
    message_id: int | None = None
    if IN_APP in chosen:
        sent = InAppChannel(db).send(outgoing)
        message_id = int(sent.provider_ref or 0) or None
    delivery_ids = [
        _queue_delivery(db, outgoing, channel, message_id) for channel in EXTERNAL if channel in chosen
    ]
    return Notified(message_id, delivery_ids)


def _queue_delivery(db: Session, outgoing: Outgoing, channel: str, message_id: int | None) -> int:
    now = utcnow()
    link = outgoing.link
    content = {
        "title": outgoing.content.title,
        "body": outgoing.content.body,
        "sms_text": outgoing.content.sms_text,
        "wechat_template_id": outgoing.content.wechat_template_id,
        "wechat_data": outgoing.content.wechat_data,
        "link": {"type": link.type, "id": link.id, "route": link.route} if link else None,
    }
    delivery = Delivery(
        institution_id=outgoing.recipient.institution_id,
        recipient_account_id=outgoing.recipient.account_id,
        event=outgoing.event,
        channel=channel,
        message_id=message_id,
        template_version=outgoing.template_version,
        content=json.dumps(content, ensure_ascii=False),
        status=PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    db.add(delivery)
    db.flush()
    outbox.emit(db, TOPIC, {"delivery_id": delivery.id}, key=f"delivery-{delivery.id}")
    return delivery.id


# --- delivery (called by the outbox handler in jobs.py) ----------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker holds; ``attempt`` fences the settling update."""

    delivery_id: int
    channel: str
    attempt: int
    outgoing: Outgoing


def claim_delivery(db: Session, delivery_id: int) -> ClaimedDelivery | None:
    """Take a delivery that is not final yet (guarded update); None if it is sent or skipped."""
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(CLAIMABLE))
        .values(status=SENDING, attempts=Delivery.attempts + 1, updated_at=utcnow())
        .returning(
            Delivery.channel,
            Delivery.attempts,
            Delivery.institution_id,
            Delivery.recipient_account_id,
            Delivery.event,
            Delivery.content,
            Delivery.template_version,
        )
        .execution_options(synchronize_session=False)
    )
    row = db.execute(stmt).first()
    if row is None:
        return None
    channel, attempt, institution_id, account_id, event, content_json, version = row
    content: dict[str, Any] = json.loads(content_json)
    phone = db.scalar(
        select(UserAccount.phone).where(
            UserAccount.id == account_id, UserAccount.institution_id == institution_id
        )
    )
    link_data = content.get("link")
    outgoing = Outgoing(
        event=event,
        # WeChat openids come with WeChat sign-in (a later issue); until then that channel skips.
        recipient=Recipient(account_id, institution_id, phone=phone, wechat_openid=None),
        content=Rendered(
            title=content["title"],
            body=content["body"],
            sms_text=content.get("sms_text"),
            wechat_template_id=content.get("wechat_template_id"),
            wechat_data=dict(content.get("wechat_data") or {}),
        ),
        link=Link(link_data["type"], int(link_data["id"]), link_data.get("route")) if link_data else None,
        reference=f"ntf{delivery_id}",
        template_version=version,
    )
    return ClaimedDelivery(delivery_id, channel, int(attempt), outgoing)


def settle_delivery(
    db: Session,
    claimed: ClaimedDelivery,
    status: str,
    *,
    sent: Sent | None = None,
    error: str | None = None,
    address_masked: str | None = None,
) -> bool:
    """Record the outcome of this attempt; False if another worker took the delivery meanwhile."""
    assert status in (SENT, FAILED, RETRYING, SKIPPED)
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "updated_at": now,
        "last_error": error[:200] if error else None,
    }
    masked = sent.address_masked if sent else address_masked
    if masked:
        values["address_masked"] = masked
    if sent is not None:
        values["provider_ref"] = (sent.provider_ref or "")[:64] or None
        values["sent_at"] = now
    stmt = (
        update(Delivery)
        .where(
            Delivery.id == claimed.delivery_id,
            Delivery.status == SENDING,
            Delivery.attempts == claimed.attempt,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


# --- scheduled reminders --------------------------------------------------------------------------


def schedule_reminder(
    db: Session,
    *,
    institution_id: int,
    recipient_account_id: int,
    event: Event | str,
    variables: Mapping[str, str],
    link: Link | None,
    at: dt.datetime,
    channels: Iterable[str] | None = None,
) -> ScheduledNotification:
    """Store a notification to be sent at ``at`` by the minute job (``jobs.send_due_notifications``)."""
    chosen_event = Event(event)
    values = dict(variables)
    check_variables(chosen_event, values)
    if at.tzinfo is None:
        raise ValueError("naive datetime refused; reminders are scheduled in aware UTC")
    _check_recipient(db, institution_id, recipient_account_id)
    chosen = list(dict.fromkeys(channels)) if channels is not None else None
    if chosen is not None and any(c not in CHANNELS for c in chosen):
        raise ValueError(f"unknown notification channel(s): {chosen}")
    row = ScheduledNotification(
        institution_id=institution_id,
        recipient_account_id=recipient_account_id,
        event=chosen_event.value,
        variables=json.dumps(values, ensure_ascii=False),
        link_type=link.type if link else None,
        link_id=link.id if link else None,
        link_route=link.route if link else None,
        channels=",".join(chosen) if chosen is not None else None,
        due_at=at,
        status=SCHEDULED,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    return row


def cancel_reminders(
    db: Session, *, institution_id: int, link: Link, event: Event | str | None = None
) -> int:
    """Cancel the scheduled reminders about ``link`` (e.g. a cancelled registration); returns how many."""
    stmt = update(ScheduledNotification).where(
        ScheduledNotification.institution_id == institution_id,
        ScheduledNotification.status == SCHEDULED,
        ScheduledNotification.link_type == link.type,
        ScheduledNotification.link_id == link.id,
    )
    if event is not None:
        stmt = stmt.where(ScheduledNotification.event == Event(event).value)
    result = db.execute(stmt.values(status=CANCELLED).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def due_reminder_ids(db: Session, now: dt.datetime, *, limit: int = 100) -> list[int]:
    """Scheduled reminders whose time has come, oldest first."""
    stmt = (
        select(ScheduledNotification.id)
        .where(ScheduledNotification.status == SCHEDULED, ScheduledNotification.due_at <= now)
        .order_by(ScheduledNotification.due_at, ScheduledNotification.id)
        .limit(limit)
    )
    return list(db.scalars(stmt))


def dispatch_reminder(db: Session, reminder_id: int, now: dt.datetime) -> bool:
    """Claim a due reminder (guarded update: two workers never both win) and notify; True if sent."""
    claimed = db.execute(
        update(ScheduledNotification)
        .where(
            ScheduledNotification.id == reminder_id,
            ScheduledNotification.status == SCHEDULED,
            ScheduledNotification.due_at <= now,
        )
        .values(status=DISPATCHED, dispatched_at=now)
        .returning(
            ScheduledNotification.institution_id,
            ScheduledNotification.recipient_account_id,
            ScheduledNotification.event,
            ScheduledNotification.variables,
            ScheduledNotification.link_type,
            ScheduledNotification.link_id,
            ScheduledNotification.link_route,
            ScheduledNotification.channels,
        )
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        return False
    institution_id, account_id, event, variables, link_type, link_id, link_route, channels = claimed
    notify(
        db,
        institution_id=institution_id,
        recipient_account_id=account_id,
        event=event,
        variables=json.loads(variables),
        link=Link(link_type, int(link_id), link_route) if link_type and link_id is not None else None,
        channels=channels.split(",") if channels is not None else None,
    )
    return True
