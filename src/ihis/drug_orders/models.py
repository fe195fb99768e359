"""Drug orders (药品订单): one per approved prescription, from the patient's confirmation through payment,
dispensing with a pharmacist's re-check, packing, courier handover or window pickup, to the verified
sign-off (DOMAIN §6, BJ 5.3.4-5.3.10); the patient's address book; adverse-reaction reports."""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.crypto.fields import EncryptedString
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

AWAITING_CONFIRMATION: Final = "awaiting_confirmation"
AWAITING_PAYMENT: Final = "awaiting_payment"
PAID: Final = "paid"
DISPENSING: Final = "dispensing"
DISPENSED: Final = "dispensed"  # re-checked by a pharmacist
PACKED: Final = "packed"
HANDED_OVER: Final = "handed_over"  # to the courier
READY_FOR_PICKUP: Final = "ready_for_pickup"  # window or partner pharmacy
DELIVERED: Final = "delivered"
RETURNED: Final = "returned"  # the courier brought the parcel back to the pharmacy
SIGNED_OFF: Final = "signed_off"
REFUND_REQUESTED: Final = "refund_requested"
REFUNDED: Final = "refunded"
CANCELLED: Final = "cancelled"
EXPIRED: Final = "expired"
STATUSES: Final = (
    AWAITING_CONFIRMATION,
    AWAITING_PAYMENT,
    PAID,
    DISPENSING,
    DISPENSED,
    PACKED,
    HANDED_OVER,
    READY_FOR_PICKUP,
    DELIVERED,
    RETURNED,
    SIGNED_OFF,
    REFUND_REQUESTED,
    REFUNDED,
    CANCELLED,
    EXPIRED,
)
# Before courier handover a refund goes through the ordinary request + approval (BJ 5.4.2.1).
BEFORE_HANDOVER: Final = (PAID, DISPENSING, DISPENSED, PACKED)

WINDOW: Final = "window"
DELIVERY: Final = "delivery"
PARTNER_PHARMACY: Final = "partner_pharmacy"
PICKUPS: Final = (WINDOW, DELIVERY, PARTNER_PHARMACY)

MAX_ADDRESSES: Final = 20

ADR_NEW: Final = "new"
ADR_REVIEWED: Final = "reviewed"
ADR_REPORTED: Final = "reported"  # to the national ADR monitoring system
ADR_STATUSES: Final = (ADR_NEW, ADR_REVIEWED, ADR_REPORTED)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DrugOrder(InstitutionScoped, Timestamped, Base):
    """药品订单 — the drugs of one approved prescription on their way to the patient."""

    __tablename__ = "drug_order"
    __table_args__ = (
        UniqueConstraint("prescription_id"),  # one order per prescription (idempotent creation)
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(f"pickup IS NULL OR {_in('pickup', PICKUPS)}", name="pickup"),
        CheckConstraint("total_fen >= 0 AND self_pay_fen >= 0 AND insurance_fen >= 0", name="amounts"),
        CheckConstraint("self_pay_fen + insurance_fen = total_fen", name="split_adds_up"),
        CheckConstraint(
            "pickup <> 'delivery' OR status IN ('awaiting_confirmation','cancelled','expired')"
            " OR address_id IS NOT NULL",
            name="delivery_has_address",
        ),
        CheckConstraint("pickup_attempts >= 0", name="attempts_non_negative"),
        Index("ix_drug_order_account", "account_id", "id"),
        Index("ix_drug_order_queue", "institution_id", "status", "id"),
    )

    id: Mapped[IntPk]
    prescription_id: Mapped[int] = mapped_column(BigId, ForeignKey("prescription.id"))
    number: Mapped[str] = mapped_column(String(32))  # the prescription number
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    status: Mapped[str] = mapped_column(String(24), default=AWAITING_CONFIRMATION)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    self_pay_fen: Mapped[int] = mapped_column(Integer, default=0)
    insurance_fen: Mapped[int] = mapped_column(Integer, default=0)
    pickup: Mapped[str | None] = mapped_column(String(24))
    pharmacy_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pharmacy.id"))
    address_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("patient_address.id"))
    bill_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("bill.id"))
    bill_attempt: Mapped[int] = mapped_column(Integer, default=0)  # a closed bill is followed by a new one
    dispensed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    rechecked_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    waybill_no: Mapped[str | None] = mapped_column(String(40))
    supplier_order_no: Mapped[str | None] = mapped_column(String(64))
    # The pickup code: HMAC (blind-index key) for verification; the code itself encrypted so that
    # only its owner can see it in the app until sign-off clears it (BJ 5.3.10).
    pickup_code_hash: Mapped[str | None] = mapped_column(String(128))
    pickup_code: Mapped[str | None] = mapped_column(EncryptedString())
    pickup_attempts: Mapped[int] = mapped_column(Integer, default=0)
    signoff_method: Mapped[str | None] = mapped_column(String(16))
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    refund_reason: Mapped[str | None] = mapped_column(String(500))
    refund_from: Mapped[str | None] = mapped_column(String(24))  # where a rejected request returns to
    # The insurance settlement of the drug bill (infno 2207 when paid, reversed by 2208 on refund).
    insurance_settlement_id: Mapped[str | None] = mapped_column(String(64))
    insurance_state: Mapped[str | None] = mapped_column(String(16))  # settled | cancelled
    version: Mapped[int] = mapped_column(Integer, default=1)


class DrugOrderLine(InstitutionScoped, Base):
    """One drug of an order, priced from the prescription line."""

    __tablename__ = "drug_order_line"
    __table_args__ = (UniqueConstraint("order_id", "position"),)

    id: Mapped[IntPk]
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug_order.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    drug_id: Mapped[int] = mapped_column(BigId)
    drug_code: Mapped[str] = mapped_column(String(32))
    drug_name: Mapped[str] = mapped_column(String(128))
    strength: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(String(64))
    usage: Mapped[str] = mapped_column(String(200))  # dose, frequency, route, days as written
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)


class DrugOrderEvent(InstitutionScoped, Base):
    """One step of an order's timeline, never changed."""

    __tablename__ = "drug_order_event"

    id: Mapped[IntPk]
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug_order.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    actor_role: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(Text)  # JSON, no personal data


class PatientAddress(InstitutionScoped, Timestamped, Base):
    """收货地址 — an entry of a patient's address book; phone and detail encrypted."""

    __tablename__ = "patient_address"
    __table_args__ = (Index("ix_patient_address_account", "account_id", "id"),)

    id: Mapped[IntPk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    recipient: Mapped[str] = mapped_column(EncryptedString())
    phone: Mapped[str] = mapped_column(EncryptedString())
    region: Mapped[str] = mapped_column(String(128))  # province/city/district, not personal alone
    detail: Mapped[str] = mapped_column(EncryptedString())
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class AdverseReaction(InstitutionScoped, Base):
    """药品不良反应报告 — from the patient after sign-off, seen by quality staff."""

    __tablename__ = "adverse_reaction_report"
    __table_args__ = (
        CheckConstraint(_in("severity", ("mild", "moderate", "severe")), name="severity"),
        CheckConstraint(_in("status", ADR_STATUSES), name="status"),
        CheckConstraint("status <> 'reported' OR national_report_no IS NOT NULL", name="reported_has_number"),
        Index("ix_adverse_reaction_queue", "institution_id", "status", "id"),
    )

    id: Mapped[IntPk]
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug_order.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    description: Mapped[str] = mapped_column(EncryptedString())
    onset_date: Mapped[dt.date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Quality staff's handling: reviewed (assessed, with a note), then reported to the national
    # ADR monitoring system (国家药品不良反应监测系统) under its report number.
    status: Mapped[str] = mapped_column(String(16), default=ADR_NEW, server_default=ADR_NEW)
    reviewed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_note: Mapped[str | None] = mapped_column(EncryptedString())
    national_report_no: Mapped[str | None] = mapped_column(String(64))
    national_reported_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    national_reported_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
