"""Request and response models of the message center, templates and the delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LinkOut(BaseModel):
    type: str
    id: int
    route: str | None


class MessageOut(BaseModel):
    id: int
    event: str
    title: str
    body: str
    link: LinkOut | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    total: int
    unread: int
    limit: int
    offset: int


class UnreadCountOut(BaseModel):
    unread: int


class ReadAllOut(BaseModel):
    marked: int
    unread: int


class VariableOut(BaseModel):
    name: str
    label: str
    required: bool


class TemplateTextsOut(BaseModel):
    title: str
    body: str
    sms_text: str | None
    wechat_template_id: str | None
    wechat_fields: dict[str, str]


class TemplateOut(TemplateTextsOut):
    event: str
    label: str
    version: int  # 0: the built-in default is in force
    variables: list[VariableOut]
    default_title_en: str
    default_body_en: str
    updated_by: int | None
    updated_at: dt.datetime | None


class TemplateVersionOut(TemplateTextsOut):
    version: int
    created_by: int | None
    created_at: dt.datetime | None


class TemplateDetailOut(TemplateOut):
    history: list[TemplateVersionOut]


class TemplateIn(_In):
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=1000)
    # Omit (null) to send no SMS for this event.
    sms_text: str | None = Field(default=None, min_length=1, max_length=500)
    wechat_template_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    wechat_fields: dict[str, str] = Field(default_factory=dict, max_length=10)
    # The version the editor started from; a save over a newer version answers 409.
    expected_version: int | None = Field(default=None, ge=0)


class PreviewIn(_In):
    # A draft to render before saving; omit to render the template in force.
    template: TemplateIn | None = None
    variables: dict[str, str] = Field(default_factory=dict, max_length=20)


class PreviewOut(BaseModel):
    title: str
    body: str
    sms_text: str | None
    wechat_template_id: str | None
    wechat_data: dict[str, str]
    variables: dict[str, str]


DeliveryChannel = Literal["sms", "wechat"]
DeliveryStatus = Literal["pending", "sending", "retrying", "sent", "failed", "skipped"]


class DeliveryOut(BaseModel):
    id: int
    event: str
    channel: str
    status: str
    attempts: int
    recipient_account_id: int
    recipient_name: str | None  # masked
    address: str | None  # masked phone number (130******89)
    template_version: int
    last_error: str | None
    provider_ref: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
