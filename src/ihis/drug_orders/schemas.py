"""Request and response bodies of the drug-order, address-book and adverse-reaction endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from ihis.integrations.logistics.schemas import ShipmentView, TimelineEntry


class ConfirmIn(BaseModel):
    pickup: Literal["window", "delivery", "partner_pharmacy"]
    address_id: int | None = None
    pharmacy_id: int | None = None
    # Pay everything yourself (自费) although 医保 is bound, e.g. when the platform is unavailable.
    self_pay: bool = False


class AddressIn(BaseModel):
    recipient: str = Field(max_length=64)
    phone: str = Field(max_length=32)
    region: str = Field(max_length=200)
    detail: str = Field(max_length=400)
    is_default: bool = False


class AddressOut(BaseModel):
    id: int
    recipient: str | None
    phone: str | None  # masked
    region: str
    detail: str | None  # masked
    is_default: bool


class LineOut(BaseModel):
    position: int
    drug_id: int
    drug_code: str
    drug_name: str
    strength: str
    package: str
    usage: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


class EventOut(BaseModel):
    kind: str
    actor_role: str
    occurred_at: dt.datetime
    detail: dict[str, Any] | None


class OrderOut(BaseModel):
    id: int
    prescription_id: int
    number: str
    status: str
    valid_until: dt.date | None
    total_fen: int
    self_pay_fen: int
    insurance_fen: int  # 医保统筹 part (pre-settled at confirmation, 2206)
    insurance_state: str | None = None  # pending | settled | cancelled; None: self-pay
    pickup: str | None
    pharmacy_id: int | None
    address_id: int | None
    bill_id: int | None
    waybill_no: str | None
    signoff_method: str | None
    signed_off_at: dt.datetime | None
    lines: list[LineOut]
    timeline: list[EventOut]


class PatientOrderOut(OrderOut):
    pickup_code: str | None = None  # shown to its owner only, until sign-off
    pickup_locked: bool = False
    shipment: ShipmentView | None = None
    shipment_events: list[TimelineEntry] = []
    guidance: list[dict[str, str]] = []


class PharmacyOrderOut(OrderOut):
    patient_name: str | None  # masked
    dispensed_by: int | None
    rechecked_by: int | None
    pickup_attempts: int
    shipment: ShipmentView | None = None


class RecheckIn(BaseModel):
    note: str | None = Field(default=None, max_length=500)


class SignOffIn(BaseModel):
    code: str | None = Field(default=None, max_length=16)
    id_check: bool = False
    id_last4: str | None = Field(default=None, max_length=8)


class RefundRequestIn(BaseModel):
    reason: str = Field(max_length=1000)


class RefundDecisionIn(BaseModel):
    approve: bool
    note: str | None = Field(default=None, max_length=500)


class SpecialRefundIn(BaseModel):
    reason: str = Field(max_length=1000)
    parties: list[str] = Field(max_length=20)


class ReactionIn(BaseModel):
    description: str = Field(max_length=4000)
    onset_date: dt.date
    severity: Literal["mild", "moderate", "severe"]


class ReactionOut(BaseModel):
    id: int
    order_id: int
    number: str
    patient_name: str | None  # masked
    description: str
    onset_date: dt.date
    severity: str
    reported_at: dt.datetime


class PickupPharmacyOut(BaseModel):
    """A partner pharmacy a patient may choose to collect their drugs at."""

    id: int
    name: str
    address: str | None
