"""Notification templates: the version in force per event, versioned edits by operations, previews."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.notifications.channels import Rendered
from ihis.notifications.models import TemplateVersion
from ihis.notifications.templates import (
    SMS_MAX_LENGTH,
    SPECS,
    VARIABLE_LABELS,
    WECHAT_FIELD_KEY,
    Event,
    EventSpec,
    check_text,
    render,
)
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound


@dataclass(frozen=True)
class TemplateDraft:
    """The editable texts of one event (what operations save)."""

    title: str
    body: str
    sms_text: str | None
    wechat_template_id: str | None
    wechat_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateView:
    """The texts in force for an event; version 0 is the built-in default."""

    event: Event
    version: int
    draft: TemplateDraft
    updated_by: int | None = None
    updated_at: Any = None


def event_of(name: str) -> Event:
    """The event named in a path, or 404."""
    try:
        return Event(name)
    except ValueError:
        raise NotFound("没有该通知事件", "No such notification event") from None


def default_draft(spec: EventSpec) -> TemplateDraft:
    return TemplateDraft(spec.title, spec.body, spec.sms_text, None, dict(spec.wechat_fields))


def _view(row: TemplateVersion) -> TemplateView:
    draft = TemplateDraft(
        row.title,
        row.body,
        row.sms_text,
        row.wechat_template_id,
        json.loads(row.wechat_fields) if row.wechat_fields else {},
    )
    return TemplateView(Event(row.event), row.version, draft, row.created_by, row.created_at)


def current_template(db: Session, institution_id: int, event: Event) -> TemplateView:
    """The highest saved version of the institution's template, else the built-in default."""
    row = db.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.institution_id == institution_id, TemplateVersion.event == event.value)
        .order_by(TemplateVersion.version.desc())
        .limit(1)
    ).first()
    return _view(row) if row else TemplateView(event, 0, default_draft(SPECS[event]))


def render_template(view: TemplateView, variables: dict[str, str]) -> Rendered:
    """Fill every channel's text of ``view`` with ``variables``."""
    draft = view.draft
    return Rendered(
        title=render(draft.title, variables),
        body=render(draft.body, variables),
        sms_text=render(draft.sms_text, variables)[:SMS_MAX_LENGTH] if draft.sms_text else None,
        wechat_template_id=draft.wechat_template_id,
        wechat_data={k: render(v, variables) for k, v in draft.wechat_fields.items()},
    )


def validate_draft(event: Event, draft: TemplateDraft, prefix: str = "body") -> None:
    """422 naming every bad field: unknown or missing variables, over-long SMS, bad WeChat mapping."""
    spec = SPECS[event]
    errors = check_text(spec, draft.title, f"{prefix}.title", require=False)
    errors += check_text(spec, draft.body, f"{prefix}.body", require=True)
    if draft.sms_text is not None:
        errors += check_text(spec, draft.sms_text, f"{prefix}.sms_text", require=True)
        if len(draft.sms_text) > SMS_MAX_LENGTH:
            errors.append(
                FieldError(
                    f"{prefix}.sms_text",
                    "too_long",
                    f"短信内容不能超过{SMS_MAX_LENGTH}个字",
                    f"SMS text is limited to {SMS_MAX_LENGTH} characters",
                )
            )
    # The mapping may be kept without a template id (nothing is sent until the id is entered), but
    # a template id needs its field mapping.
    if draft.wechat_template_id and not draft.wechat_fields:
        errors.append(
            FieldError(
                f"{prefix}.wechat_fields",
                "required",
                "填写了微信模板ID时必须填写字段映射",
                "A WeChat template id needs its field mapping",
            )
        )
    for key, value in draft.wechat_fields.items():
        name = f"{prefix}.wechat_fields.{key}"
        if not WECHAT_FIELD_KEY.match(key):
            errors.append(FieldError(name, "invalid_key", "字段名不合法", "Invalid WeChat field key"))
        errors += check_text(spec, value, name, require=False)
    if errors:
        raise InvalidInput("模板内容有误", "The template is invalid", errors=errors)


def history(db: Session, actor: Actor, event: Event) -> list[TemplateView]:
    """Every saved version of the event's template, newest first."""
    rows = db.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.institution_id == actor.institution_id, TemplateVersion.event == event.value)
        .order_by(TemplateVersion.version.desc())
    )
    return [_view(r) for r in rows]


def save_template(
    db: Session, actor: Actor, event: Event, draft: TemplateDraft, *, expected_version: int | None
) -> TemplateView:
    """Validate and store a new version; 409 when someone saved in between (``expected_version``)."""
    validate_draft(event, draft)
    current = db.scalar(
        select(func.coalesce(func.max(TemplateVersion.version), 0)).where(
            TemplateVersion.institution_id == actor.institution_id, TemplateVersion.event == event.value
        )
    )
    current = int(current or 0)
    if expected_version is not None and expected_version != current:
        raise _stale(current)
    row = TemplateVersion(
        institution_id=actor.institution_id,
        event=event.value,
        version=current + 1,
        title=draft.title,
        body=draft.body,
        sms_text=draft.sms_text,
        wechat_template_id=draft.wechat_template_id,
        wechat_fields=json.dumps(draft.wechat_fields, ensure_ascii=False) if draft.wechat_fields else None,
        created_by=actor.user_id,
        created_at=utcnow(),
    )
    try:
        # The unique (institution, event, version) decides between two concurrent saves.
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        raise _stale(current) from None
    audit.record(
        db,
        actor.audit(),
        "notification.template.update",
        resource_type="notification_template",
        resource_id=event.value,
        detail={"version": row.version},
    )
    return _view(row)


def _stale(current: int) -> Conflict:
    return Conflict(
        "模板已被他人修改，请刷新后重试",
        "The template was changed meanwhile; reload and try again",
        extra={"current_version": current},
    )


def sample_variables(event: Event) -> dict[str, str]:
    """Plausible values for a preview."""
    samples = {
        "patient_name": "张三",
        "doctor_name": "李医生",
        "new_doctor_name": "王医生",
        "department": "心内科",
        "start_time": "2026-05-06 09:00",
        "end_time": "2026-05-06 11:30",
        "service_mode": "视频",
        "queue_number": "3",
        "amount_yuan": "25.00",
        "item": "挂号费",
        "refund_status": "已受理",
        "refund_channel": "微信支付",
        "refund_arrival": "1-3个工作日",
        "booked_count": "12",
    }
    return {name: samples.get(name, VARIABLE_LABELS.get(name, name)) for name in SPECS[event].allowed}


def preview(
    db: Session, actor: Actor, event: Event, draft: TemplateDraft | None, overrides: dict[str, str]
) -> Rendered:
    """Render a draft (or the template in force) with sample values, overridden where given."""
    spec = SPECS[event]
    unknown = sorted(set(overrides) - set(spec.allowed))
    if unknown:
        raise InvalidInput.field(
            f"body.variables.{unknown[0]}",
            "unknown_variable",
            "该事件没有此变量",
            "Unknown variable for this event",
        )
    if draft is not None:
        validate_draft(event, draft, prefix="body.template")
        view = TemplateView(event, 0, draft)
    else:
        view = current_template(db, actor.institution_id, event)
    return render_template(view, {**sample_variables(event), **overrides})
