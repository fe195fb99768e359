"""Tables of the sandbox payment channels (demo and tests only): the channels' side of the wire.

``sandbox_payment_key`` holds the key pairs generated for this installation so that every process
(API, worker) signs and verifies with the same keys; the others are the simulated channel's orders,
refunds and the notifications it owes us (with their retry schedule).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxPaymentKey(Base):
    """The generated credentials of one sandbox channel (merchant side and channel side)."""

    __tablename__ = "sandbox_payment_key"

    id: Mapped[IntPk]
    channel: Mapped[str] = mapped_column(String(16), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    merchant_private_pem: Mapped[str] = mapped_column(Text)
    merchant_serial: Mapped[str] = mapped_column(String(64))
    channel_private_pem: Mapped[str] = mapped_column(Text)
    channel_serial: Mapped[str] = mapped_column(String(64))
    api_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxPaymentOrder(Base):
    """An order the sandbox channel holds (shown as NOTPAY/SUCCESS/... or WAIT_BUYER_PAY/...)."""

    __tablename__ = "sandbox_payment_order"
    __table_args__ = (UniqueConstraint("channel", "out_trade_no"),)

    id: Mapped[IntPk]
    channel: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    out_trade_no: Mapped[str] = mapped_column(String(64))
    prepay_id: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(256))
    amount_fen: Mapped[int] = mapped_column(Integer)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    notify_url: Mapped[str] = mapped_column(String(512))
    return_url: Mapped[str | None] = mapped_column(String(1024))
    # paid | unpaid | closed | refunded (the channel's own words are produced on the wire)
    state: Mapped[str] = mapped_column(String(16), default="unpaid")
    transaction_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxPaymentRefund(Base):
    """A refund the sandbox channel accepted."""

    __tablename__ = "sandbox_payment_refund"
    __table_args__ = (UniqueConstraint("channel", "out_refund_no"),)

    id: Mapped[IntPk]
    channel: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[int] = mapped_column(Integer)
    out_refund_no: Mapped[str] = mapped_column(String(64))
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(80))
    notify_url: Mapped[str | None] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16), default="processing")  # processing | succeeded
    succeeded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxPaymentNotify(Base):
    """A signed notification the sandbox channel owes the merchant, retried on the channel's schedule."""

    __tablename__ = "sandbox_payment_notify"
    __table_args__ = (Index("ix_sandbox_payment_notify_status_next", "status", "next_attempt_at"),)

    id: Mapped[IntPk]
    channel: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(512))
    headers: Mapped[str] = mapped_column(Text)  # JSON object
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | abandoned
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
