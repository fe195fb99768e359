"""Request and response bodies of the organization console and of a staff member's own profile."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ihis.organization.models import DisclosureKey, DocumentKind, ReviewStatus, ServiceMode
from ihis.organization.subjects import SUBJECT_CODE_SHAPE
from ihis.organization.titles import TITLE_NAMES, Profession
from ihis.platform.clock import local_today

T = TypeVar("T")

ShortText = Annotated[str, Field(min_length=1, max_length=64)]
LongText = Annotated[str, Field(max_length=4000)]
CertificateNo = Annotated[str, Field(min_length=4, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")]
PriceFen = Annotated[int, Field(ge=0, le=10_000_000)]
EARLIEST_PRACTICE_START = dt.date(1950, 1, 1)


class In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _known_title(value: str | None) -> str | None:
    if value is not None and value not in TITLE_NAMES:
        raise ValueError("unknown title; one of " + ", ".join(TITLE_NAMES))
    return value


# --- campuses and departments ----------------------------------------------------------------


class CampusIn(In):
    name: ShortText
    address: Annotated[str, Field(max_length=255)] | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+\-() ]{5,32}$")] | None = None
    enabled: bool = True


class CampusOut(Out):
    id: int
    name: str
    address: str | None
    phone: str | None
    enabled: bool


class DepartmentIn(In):
    name: ShortText
    subject_code: Annotated[str, Field(pattern=SUBJECT_CODE_SHAPE.pattern)]
    # Needed only for a registered subject that the built-in catalogue does not list.
    subject_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    campus_id: int | None = None
    introduction: LongText | None = None
    scope: LongText | None = None
    strengths: LongText | None = None
    sort_order: Annotated[int, Field(ge=0, le=9999)] = 0


class DepartmentOut(Out):
    id: int
    name: str
    subject_code: str
    subject_name: str
    campus_id: int | None
    introduction: str | None
    scope: str | None
    strengths: str | None
    sort_order: int
    enabled: bool


class SubjectOut(BaseModel):
    code: str
    name: str | None
    parent_code: str | None
    registered: bool


# --- prices and disclosure -------------------------------------------------------------------


class ServicePriceIn(In):
    title: str
    mode: ServiceMode
    price_fen: PriceFen

    _title = field_validator("title")(_known_title)


class ServicePriceOut(Out):
    id: int
    title: str
    mode: ServiceMode
    price_fen: int
    updated_at: dt.datetime


class DisclosureIn(In):
    title: Annotated[str, Field(min_length=1, max_length=128)]
    body: Annotated[str, Field(max_length=20000)]


class DisclosureOut(BaseModel):
    key: DisclosureKey
    title: str
    body: str
    updated_by: int | None
    updated_at: dt.datetime | None


# --- staff profiles --------------------------------------------------------------------------


class ModeSetting(In):
    enabled: bool
    # Price override for this doctor in fen; null means "the title's price".
    price_fen: PriceFen | None = None


class ModeOut(BaseModel):
    mode: ServiceMode
    enabled: bool
    price_override_fen: int | None
    title_price_fen: int | None
    # What a patient pays: the override if set, else the title's price; null = not bookable.
    price_fen: int | None


class OwnProfileIn(In):
    """A staff member's own profile; qualification fields are frozen while under review."""

    profession: Profession
    department_id: int | None = None
    title: str | None = None
    licence_no: CertificateNo | None = None
    qualification_no: CertificateNo | None = None
    practice_cert_no: CertificateNo | None = None
    practice_started_on: dt.date | None = None
    specialties: Annotated[str, Field(max_length=1000)] | None = None
    introduction: LongText | None = None
    service_on: bool = False

    _title = field_validator("title")(_known_title)

    @field_validator("practice_started_on")
    @classmethod
    def _not_in_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > local_today():
            raise ValueError("practice start date is in the future")
        if value is not None and value < EARLIEST_PRACTICE_START:
            raise ValueError("practice start date is implausibly early")
        return value


class AdminProfileIn(In):
    """What the hospital manages for a profile (BJ 5.5.2.1 账户管理)."""

    title: str | None = None
    department_id: int | None = None
    prescription_right: bool = False
    service_on: bool = False
    modes: dict[ServiceMode, ModeSetting] = Field(default_factory=dict)

    _title = field_validator("title")(_known_title)


class DocumentOut(Out):
    id: int
    kind: DocumentKind
    content_type: str
    size_bytes: int
    filename: str | None
    uploaded_at: dt.datetime


class DecisionOut(BaseModel):
    decision: ReviewStatus
    reason: str | None
    reviewer_id: int
    reviewer_name: str | None
    decided_at: dt.datetime


class StaffProfileOut(BaseModel):
    id: int
    user_id: int
    display_name: str
    staff_no: str | None
    account_status: str
    profession: Profession
    department_id: int | None
    department_name: str | None
    title: str | None
    licence_no: str | None
    qualification_no: str | None
    practice_cert_no: str | None
    practice_started_on: dt.date | None
    practice_years: int | None
    specialties: str | None
    introduction: str | None
    has_photo: bool
    prescription_right: bool
    service_on: bool
    review_status: ReviewStatus
    review_reason: str | None
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    modes: list[ModeOut]


class StaffProfilePage(Page[StaffProfileOut]):
    """One page of staff profiles."""


class StaffProfileDetailOut(StaffProfileOut):
    documents: list[DocumentOut]
    decisions: list[DecisionOut]


class RejectIn(In):
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    # Also close the self-registered account (no resubmission possible), e.g. for forged papers.
    close_application: bool = False
