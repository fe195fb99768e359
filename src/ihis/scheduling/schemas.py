"""Request and response bodies of scheduling: sessions, temporary changes, templates, search."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ihis.organization.models import ServiceMode
from ihis.scheduling.models import ChangeKind, SessionStatus

Capacity = Annotated[int, Field(ge=1, le=500)]
PriceFen = Annotated[int, Field(ge=0, le=10_000_000)]
Reason = Annotated[str, Field(min_length=2, max_length=500)]
Tag = Annotated[str, Field(min_length=1, max_length=16)]


class In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SessionIn(In):
    """One session, in hospital-local date and times."""

    doctor_id: int
    department_id: int | None = None  # default: the doctor's department
    campus_id: int | None = None  # default: the department's campus
    service_date: dt.date
    start_time: dt.time
    end_time: dt.time
    mode: ServiceMode
    capacity: Capacity
    price_fen: PriceFen | None = None  # default: the doctor's effective price for the mode
    disease_tags: Annotated[list[Tag], Field(max_length=20)] = []


class SessionEditIn(In):
    """Edit of a session nobody has booked; ``version`` is the one the editor saw."""

    version: int
    service_date: dt.date | None = None
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    capacity: Capacity | None = None
    price_fen: PriceFen | None = None
    campus_id: int | None = None
    disease_tags: Annotated[list[Tag], Field(max_length=20)] | None = None


class StopIn(In):
    reason: Reason


class SubstituteIn(In):
    doctor_id: int
    reason: Reason


class AddSlotsIn(In):
    count: Annotated[int, Field(ge=1, le=200)]
    reason: Reason


class ShiftIn(In):
    start_time: dt.time
    end_time: dt.time
    reason: Reason


class SessionOut(Out):
    id: int
    doctor_id: int
    doctor_name: str
    department_id: int
    department_name: str
    campus_id: int | None
    campus_name: str | None
    service_date: dt.date
    start_at: dt.datetime
    end_at: dt.datetime
    mode: ServiceMode
    capacity: int
    booked: int
    remaining: int
    price_fen: int
    disease_tags: list[str]
    status: SessionStatus
    substituted_from_id: int | None
    version: int
    published_at: dt.datetime | None
    updated_at: dt.datetime


class SessionPage(BaseModel):
    items: list[SessionOut]
    total: int
    limit: int
    offset: int


class SessionChangeOut(Out):
    id: int
    kind: ChangeKind
    actor_id: int
    occurred_at: dt.datetime
    reason: str
    before: dict[str, object]
    after: dict[str, object]


class TemplateIn(In):
    doctor_id: int
    department_id: int | None = None
    campus_id: int | None = None
    weekday: Annotated[int, Field(ge=1, le=7, description="ISO weekday: Monday 1 .. Sunday 7")]
    start_time: dt.time
    end_time: dt.time
    mode: ServiceMode
    capacity: Capacity
    price_fen: PriceFen | None = None
    disease_tags: Annotated[list[Tag], Field(max_length=20)] = []


class TemplateOut(Out):
    id: int
    doctor_id: int
    department_id: int
    campus_id: int | None
    weekday: int
    start_time: dt.time
    end_time: dt.time
    mode: ServiceMode
    capacity: int
    price_fen: int | None
    disease_tags: list[str]


class GenerateIn(In):
    date_from: dt.date
    date_to: dt.date
    doctor_id: int | None = None
    department_id: int | None = None


class GenerateOut(BaseModel):
    created: int
    skipped: int
    session_ids: list[int]


class ImportReportOut(BaseModel):
    created: int
    session_ids: list[int]


class PublicSessionOut(BaseModel):
    id: int
    doctor_id: int
    doctor_name: str
    doctor_title: str | None
    department_id: int
    department_name: str
    campus_id: int | None
    campus_name: str | None
    service_date: dt.date
    start_at: dt.datetime
    end_at: dt.datetime
    mode: ServiceMode
    price_fen: int
    remaining: int
    disease_tags: list[str]


class PublicSessionPage(BaseModel):
    items: list[PublicSessionOut]
    total: int
    limit: int
    offset: int
