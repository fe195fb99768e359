"""Tables of the logistics adapter: our shipments and their tracking events, the nonces seen on
the courier's pushes, and (sandbox only) the simulated courier's waybills and pushes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.crypto.fields import EncryptedString
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

# pending (booking not confirmed by the courier yet), the courier's statuses, cancelled.
SHIPMENT_PENDING = "pending"
SHIPMENT_CANCELLED = "cancelled"


class Shipment(InstitutionScoped, Timestamped, Base):
    """发货 — one parcel handed to the courier for an order of ours (``ref``)."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("institution_id", "ref"),
        # The polling sweep: open shipments by the time of their last event.
        Index("ix_shipment_status_last_event_at", "status", "last_event_at"),
    )

    id: Mapped[IntPk]
    ref: Mapped[str] = mapped_column(String(64))
    # What the courier knows us by: unique across institutions (``I<institution id>-<ref>``).
    courier_ref: Mapped[str] = mapped_column(String(96), unique=True)
    waybill_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=SHIPMENT_PENDING)
    sender_name: Mapped[str] = mapped_column(String(100))
    sender_phone: Mapped[str] = mapped_column(String(30))
    sender_address: Mapped[str] = mapped_column(String(300))
    receiver_name: Mapped[str] = mapped_column(EncryptedString())
    receiver_phone: Mapped[str] = mapped_column(EncryptedString())
    receiver_address: Mapped[str] = mapped_column(EncryptedString())
    description: Mapped[str] = mapped_column(String(100))
    pieces: Mapped[int] = mapped_column(Integer, default=1)
    cold_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    booked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # When we last heard of this waybill (push or poll): the polling sweep picks stale ones.
    last_event_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(80))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class ShipmentEvent(InstitutionScoped, Base):
    """One tracking event of a shipment, stored exactly once (unique per waybill and event id)."""

    __tablename__ = "shipment_event"
    __table_args__ = (
        UniqueConstraint("waybill_no", "event_id"),
        Index("ix_shipment_event_shipment_occurred", "shipment_id", "occurred_at"),
    )

    id: Mapped[IntPk]
    shipment_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipment.id"))
    waybill_no: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    location: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(8))  # push | poll
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class LogisticsNonce(Base):
    """A signature nonce already seen (replay protection); kept for the timestamp window."""

    __tablename__ = "logistics_nonce"
    __table_args__ = (UniqueConstraint("scope", "nonce"),)

    id: Mapped[IntPk]
    scope: Mapped[str] = mapped_column(String(16))  # notify (our endpoint) | sandbox (the courier's)
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


class SandboxCourierWaybill(Base):
    """A waybill the sandbox courier issued (demo and tests only: the courier's side of the wire)."""

    __tablename__ = "sandbox_courier_waybill"

    id: Mapped[IntPk]
    waybill_no: Mapped[str] = mapped_column(String(40), unique=True)
    order_ref: Mapped[str] = mapped_column(String(96), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # the courier statuses, or cancelled
    notify_url: Mapped[str] = mapped_column(String(512))
    receiver_name: Mapped[str] = mapped_column(EncryptedString())
    receiver_phone: Mapped[str] = mapped_column(EncryptedString())
    receiver_address: Mapped[str] = mapped_column(EncryptedString())
    sender_address: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(String(100))
    pieces: Mapped[int] = mapped_column(Integer)
    cold_chain: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    advanced_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxCourierEvent(Base):
    """A tracking event of the sandbox courier and its push to us (retried until answered OK)."""

    __tablename__ = "sandbox_courier_event"
    __table_args__ = (Index("ix_sandbox_courier_event_push", "push_status", "next_attempt_at"),)

    id: Mapped[IntPk]
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    waybill_no: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    location: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500))
    # pending | delivered | abandoned | suppressed (a lost push, for the polling demo)
    push_status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
