"""Tables of the billing domain: bills, payment attempts, channel transactions, refunds.

Money is integer fen; states follow ``ihis.billing.states``; the exactly-once key of a payment is
(channel, channel_transaction_id) in ``channel_transaction`` (DOMAIN §7).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

CHANNELS = ("wechat", "alipay")
KINDS = ("registration", "drug", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Bill(InstitutionScoped, Timestamped, Base):
    """账单 — what a payer owes for one thing (a registration, drugs, ...) — FHIR Invoice."""

    __tablename__ = "bill"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within_amount"),
        CheckConstraint(
            _in("status", ("unpaid", "paid", "refunding", "refunded", "partially_refunded", "closed")),
            name="status",
        ),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        UniqueConstraint("institution_id", "reference_type", "reference_id", "kind"),
        Index("ix_bill_payer_created", "payer_account_id", "created_at"),
        Index("ix_bill_status_expires", "status", "expires_at"),
    )

    id: Mapped[IntPk]
    payer_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("visitor.id"))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128))
    reference_type: Mapped[str] = mapped_column(String(32))
    reference_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(Integer)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(24), default="unpaid")
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    channel: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)


class PaymentAttempt(InstitutionScoped, Timestamped, Base):
    """支付单 — one prepay of a bill at one channel (a bill may be retried at another channel)."""

    __tablename__ = "payment_attempt"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", ("created", "awaiting", "paid", "closed", "failed")), name="status"),
        Index("ix_payment_attempt_status_created", "status", "created_at"),
    )

    id: Mapped[IntPk]
    bill_id: Mapped[int] = mapped_column(BigId, ForeignKey("bill.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    cashier_url: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default="created")
    last_queried_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ChannelTransaction(InstitutionScoped, Base):
    """渠道交易 — money the channel says it took; (channel, channel_transaction_id) is processed once."""

    __tablename__ = "channel_transaction"
    __table_args__ = (UniqueConstraint("channel", "channel_transaction_id"),)

    id: Mapped[IntPk]
    channel: Mapped[str] = mapped_column(String(16))
    channel_transaction_id: Mapped[str] = mapped_column(String(64))
    bill_id: Mapped[int] = mapped_column(BigId, ForeignKey("bill.id"), index=True)
    attempt_id: Mapped[int] = mapped_column(BigId, ForeignKey("payment_attempt.id"))
    amount_fen: Mapped[int] = mapped_column(Integer)
    paid_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # How we learnt of it: the channel's notify id, or "query" for the overdue-notify job.
    source: Mapped[str] = mapped_column(String(64))
    # False when the bill could not take it (closed meanwhile): money without a bill, for 对账.
    applied: Mapped[bool] = mapped_column(default=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Refund(InstitutionScoped, Timestamped, Base):
    """退款 — money going back to the payer by the original channel (BJ 5.4.2)."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", ("requested", "processing", "succeeded", "failed")), name="status"),
    )

    id: Mapped[IntPk]
    bill_id: Mapped[int] = mapped_column(BigId, ForeignKey("bill.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    out_refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    channel_refund_id: Mapped[str | None] = mapped_column(String(64))
    expected_arrival: Mapped[str] = mapped_column(String(80))
    succeeded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
