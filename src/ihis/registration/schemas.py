"""Request and response shapes of the registration API (contract: docs/registration.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ihis.billing.schemas import RefundOut

RegistrationStatus = Literal["pending_payment", "confirmed", "cancelled", "closed", "no_show"]


class In(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class BookingIn(In):
    session_id: int = Field(ge=1)
    visitor_id: int = Field(ge=1)
    evidence_id: int = Field(ge=1, description="From an eligible check or an evidence upload")
    guardian_accompanied: bool = Field(
        default=False, description="Required true for a visitor under 6 (a guardian comes along)"
    )


class CancelIn(In):
    reason: str | None = Field(default=None, max_length=200)


class AppealIn(In):
    reason: str = Field(max_length=500)


class LiftIn(In):
    reason: str = Field(max_length=200)


class DecideIn(In):
    approve: bool
    note: str = Field(max_length=200)


class SessionBrief(BaseModel):
    id: int
    doctor_id: int
    doctor_name: str
    department_id: int
    department_name: str
    campus_name: str | None
    start_at: dt.datetime
    end_at: dt.datetime
    mode: str
    status: str
    original_doctor_name: str | None = Field(description="The doctor booked, when another one substitutes")


class VisitorBrief(BaseModel):
    id: int
    name_masked: str
    under_six: bool


class EvidenceBrief(BaseModel):
    id: int
    source: Literal["his", "upload"]
    upload_status: str | None


class RegistrationOut(BaseModel):
    id: int
    number: str
    status: RegistrationStatus
    created_at: dt.datetime
    session: SessionBrief
    visitor: VisitorBrief
    amount_fen: int
    bill_id: int | None
    bill_status: str | None
    pay_deadline: dt.datetime | None
    queue_number: int | None
    confirmed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_kind: Literal["patient", "session_stopped", "doctor_rejected"] | None
    cancel_reason: str | None
    guardian_accompanied: bool
    can_cancel: bool
    can_pay: bool
    evidence: EvidenceBrief


class RegistrationAdminOut(RegistrationOut):
    patient_phone_masked: str | None


class RegistrationDetailOut(RegistrationOut):
    refunds: list[RefundOut]


class RegistrationPage(BaseModel):
    items: list[RegistrationOut]
    total: int


class RegistrationAdminPage(BaseModel):
    items: list[RegistrationAdminOut]
    total: int


class WaitingListEntry(BaseModel):
    registration_id: int
    number: str
    queue_number: int
    visitor_name: str
    visitor_sex: int
    visitor_age: int
    status: RegistrationStatus
    confirmed_at: dt.datetime | None
    guardian_accompanied: bool


class AppealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    block_id: int
    reason: str
    status: Literal["pending", "approved", "rejected"]
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decision_note: str | None


class BlockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reason: Literal["no_show"]
    no_show_count: int
    started_at: dt.datetime
    ends_at: dt.datetime
    status: Literal["active", "lifted", "expired"]
    lifted_at: dt.datetime | None
    lift_reason: str | None


class MyBlockOut(BaseModel):
    blocked: bool
    block: BlockOut | None
    appeals: list[AppealOut]


class BlockAdminOut(BlockOut):
    account_id: int
    patient_name_masked: str | None
    phone_masked: str | None
    pending_appeal: AppealOut | None


class BlockPage(BaseModel):
    items: list[BlockAdminOut]
    total: int
