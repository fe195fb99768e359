"""HTTP endpoints: the message center of any signed-in user, templates and the delivery log of
operations. Mounted by ``create_app`` under ``/api/v1``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ihis.identity.access import Actor, CurrentActor, Permission, require
from ihis.notifications import inbox_service, template_service
from ihis.notifications.models import Message
from ihis.notifications.schemas import (
    DeliveryChannel,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    LinkOut,
    MessageOut,
    MessagePage,
    PreviewIn,
    PreviewOut,
    ReadAllOut,
    TemplateDetailOut,
    TemplateIn,
    TemplateOut,
    TemplateVersionOut,
    UnreadCountOut,
    VariableOut,
)
from ihis.notifications.template_service import TemplateDraft, TemplateView
from ihis.notifications.templates import SPECS, VARIABLE_LABELS, Event
from ihis.platform.clock import HOSPITAL_TZ
from ihis.platform.errors import InvalidInput
from ihis.platform.http import Db, ReadDb
from ihis.platform.masking import mask_name

router = APIRouter(tags=["notifications"])

# Operations edit templates and read the delivery log (ORG_MANAGE, held by operations).
NotificationManager = Annotated[Actor, Depends(require(Permission.NOTIFICATION_MANAGE))]


# --- message center ---------------------------------------------------------------------------


def _message_out(m: Message) -> MessageOut:
    link = LinkOut(type=m.link_type, id=m.link_id, route=m.link_route) if m.link_type and m.link_id else None
    return MessageOut(
        id=m.id,
        event=m.event,
        title=m.title,
        body=m.body,
        link=link,
        created_at=m.created_at,
        read_at=m.read_at,
    )


@router.get("/me/messages", response_model=MessagePage)
def list_my_messages(
    actor: CurrentActor,
    db: ReadDb,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MessagePage:
    """Own messages, unread first, newest first."""
    rows, total = inbox_service.list_messages(db, actor, unread_only=unread_only, limit=limit, offset=offset)
    return MessagePage(
        items=[_message_out(m) for m in rows],
        total=total,
        unread=inbox_service.unread_count(db, actor),
        limit=limit,
        offset=offset,
    )


@router.get("/me/messages/unread-count", response_model=UnreadCountOut)
def my_unread_count(actor: CurrentActor, db: ReadDb) -> UnreadCountOut:
    """How many own messages are unread (the badge)."""
    return UnreadCountOut(unread=inbox_service.unread_count(db, actor))


@router.post("/me/messages/read-all", response_model=ReadAllOut)
def read_all_my_messages(actor: CurrentActor, db: Db) -> ReadAllOut:
    """Mark every own message read."""
    marked = inbox_service.mark_all_read(db, actor)
    return ReadAllOut(marked=marked, unread=inbox_service.unread_count(db, actor))


@router.post("/me/messages/{message_id}/read", response_model=MessageOut)
def read_my_message(message_id: int, actor: CurrentActor, db: Db) -> MessageOut:
    """Mark one own message read (404 for anyone else's)."""
    return _message_out(inbox_service.mark_read(db, actor, message_id))


# --- templates --------------------------------------------------------------------------------


def _texts(view: TemplateView) -> dict[str, object]:
    d = view.draft
    return {
        "title": d.title,
        "body": d.body,
        "sms_text": d.sms_text,
        "wechat_template_id": d.wechat_template_id,
        "wechat_fields": d.wechat_fields,
    }


def _template_out(view: TemplateView) -> TemplateOut:
    spec = SPECS[view.event]
    variables = [
        VariableOut(name=n, label=VARIABLE_LABELS.get(n, n), required=n in spec.required)
        for n in spec.allowed
    ]
    return TemplateOut(
        event=view.event.value,
        label=spec.label,
        version=view.version,
        variables=variables,
        default_title_en=spec.title_en,
        default_body_en=spec.body_en,
        updated_by=view.updated_by,
        updated_at=view.updated_at,
        **_texts(view),
    )


def _draft(body: TemplateIn) -> TemplateDraft:
    return TemplateDraft(
        body.title, body.body, body.sms_text, body.wechat_template_id, dict(body.wechat_fields)
    )


@router.get("/admin/notification-templates", response_model=list[TemplateOut])
def list_templates(actor: NotificationManager, db: ReadDb) -> list[TemplateOut]:
    """The template in force for every event."""
    return [_template_out(template_service.current_template(db, actor.institution_id, e)) for e in Event]


def _detail(db: ReadDb, actor: Actor, event: Event) -> TemplateDetailOut:
    current = _template_out(template_service.current_template(db, actor.institution_id, event))
    history = [
        TemplateVersionOut(version=v.version, created_by=v.updated_by, created_at=v.updated_at, **_texts(v))
        for v in template_service.history(db, actor, event)
    ]
    return TemplateDetailOut(**current.model_dump(), history=history)


@router.get("/admin/notification-templates/{event}", response_model=TemplateDetailOut)
def get_template(event: str, actor: NotificationManager, db: ReadDb) -> TemplateDetailOut:
    """The template in force for an event, its variables and every saved version."""
    return _detail(db, actor, template_service.event_of(event))


@router.put("/admin/notification-templates/{event}", response_model=TemplateDetailOut)
def save_template(event: str, body: TemplateIn, actor: NotificationManager, db: Db) -> TemplateDetailOut:
    """Save a new version (variables checked; audited); 409 if ``expected_version`` is stale."""
    chosen = template_service.event_of(event)
    template_service.save_template(db, actor, chosen, _draft(body), expected_version=body.expected_version)
    return _detail(db, actor, chosen)


@router.post("/admin/notification-templates/{event}/preview", response_model=PreviewOut)
def preview_template(event: str, body: PreviewIn, actor: NotificationManager, db: ReadDb) -> PreviewOut:
    """Render a draft (or the template in force) with sample variables."""
    chosen = template_service.event_of(event)
    draft = _draft(body.template) if body.template is not None else None
    rendered = template_service.preview(db, actor, chosen, draft, dict(body.variables))
    return PreviewOut(
        title=rendered.title,
        body=rendered.body,
        sms_text=rendered.sms_text,
        wechat_template_id=rendered.wechat_template_id,
        wechat_data=rendered.wechat_data,
        variables={**template_service.sample_variables(chosen), **body.variables},
    )


# --- delivery log -----------------------------------------------------------------------------


def _day_start(day: dt.date) -> dt.datetime:
    # Dates are the hospital's calendar days (Asia/Shanghai), stored times are UTC.
    return dt.datetime.combine(day, dt.time.min, tzinfo=HOSPITAL_TZ).astimezone(dt.UTC)


@router.get("/admin/notifications/deliveries", response_model=DeliveryPage)
def list_deliveries(
    actor: NotificationManager,
    db: ReadDb,
    event: Event | None = None,
    channel: DeliveryChannel | None = None,
    status: DeliveryStatus | None = None,
    recipient: Annotated[int | None, Query(ge=1, description="recipient account id")] = None,
    date_from: Annotated[dt.date | None, Query(description="first day (hospital time)")] = None,
    date_to: Annotated[dt.date | None, Query(description="last day, inclusive (hospital time)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveryPage:
    """Deliveries of the institution, newest first; phone numbers and names masked."""
    if date_from and date_to and date_to < date_from:
        raise InvalidInput.field(
            "query.date_to", "before_date_from", "结束日期不能早于开始日期", "date_to is before date_from"
        )
    filters = inbox_service.DeliveryFilter(
        event=event.value if event else None,
        channel=channel,
        status=status,
        recipient_account_id=recipient,
        date_from=_day_start(date_from) if date_from else None,
        date_to=_day_start(date_to + dt.timedelta(days=1)) if date_to else None,
    )
    rows, total = inbox_service.list_deliveries(db, actor, filters, limit=limit, offset=offset)
    items = [
        DeliveryOut(
            id=d.id,
            event=d.event,
            channel=d.channel,
            status=d.status,
            attempts=d.attempts,
            recipient_account_id=d.recipient_account_id,
            recipient_name=mask_name(name),
            address=d.address_masked,
            template_version=d.template_version,
            last_error=d.last_error,
            provider_ref=d.provider_ref,
            created_at=d.created_at,
            updated_at=d.updated_at,
            sent_at=d.sent_at,
        )
        for d, name in rows
    ]
    return DeliveryPage(items=items, total=total, limit=limit, offset=offset)
