"""The sandbox channels' order book: orders, payment by the cashier, refunds, daily statements.

Shared by the WeChat Pay and Alipay simulators; each renders these facts in its own protocol.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.integrations.payment.models import SandboxPaymentOrder, SandboxPaymentRefund
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.settings import Settings

UNPAID: Final = "unpaid"
PAID: Final = "paid"
CLOSED: Final = "closed"
REFUNDED: Final = "refunded"

# Builds and queues the payment notification of a just-paid order (channel specific).
PaidHook = Callable[[Session, Settings, SandboxPaymentOrder], None]


def new_prepay_id(channel: str) -> str:
    """WeChat: ``wx`` + time + random; Alipay's sandbox uses the same shape for its cashier token."""
    stamp = utcnow().astimezone(HOSPITAL_TZ).strftime("%Y%m%d%H%M%S")
    return ("wx" if channel == "wechat" else "ap") + stamp + secrets.token_hex(8)


def new_transaction_id(channel: str) -> str:
    """A channel transaction id (WeChat: 28 digits starting 42; Alipay: 32 digits starting with the date)."""
    today = utcnow().astimezone(HOSPITAL_TZ).strftime("%Y%m%d")
    if channel == "wechat":
        return "42" + f"{secrets.randbelow(10**8):08d}" + today + f"{secrets.randbelow(10**10):010d}"
    return today + "22" + f"{secrets.randbelow(10**22):022d}"


def order_by_trade_no(
    db: Session, channel: str, merchant_id: str, out_trade_no: str
) -> SandboxPaymentOrder | None:
    """The merchant's order with that number, if the channel holds it."""
    return db.scalar(
        select(SandboxPaymentOrder).where(
            SandboxPaymentOrder.channel == channel,
            SandboxPaymentOrder.merchant_id == merchant_id,
            SandboxPaymentOrder.out_trade_no == out_trade_no,
        )
    )


def order_by_prepay_id(db: Session, channel: str, prepay_id: str) -> SandboxPaymentOrder | None:
    """The order a cashier page is for."""
    return db.scalar(
        select(SandboxPaymentOrder).where(
            SandboxPaymentOrder.channel == channel, SandboxPaymentOrder.prepay_id == prepay_id
        )
    )


def open_order(
    db: Session,
    *,
    channel: str,
    merchant_id: str,
    app_id: str,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    notify_url: str,
    return_url: str | None,
    expires_at: dt.datetime | None,
) -> SandboxPaymentOrder:
    """Create the order, or return the existing one of that number (prepay is idempotent)."""
    existing = order_by_trade_no(db, channel, merchant_id, out_trade_no)
    if existing is not None:
        return existing
    order = SandboxPaymentOrder(
        channel=channel,
        merchant_id=merchant_id,
        app_id=app_id,
        out_trade_no=out_trade_no,
        prepay_id=new_prepay_id(channel),
        description=description,
        amount_fen=amount_fen,
        refunded_fen=0,
        notify_url=notify_url,
        return_url=return_url,
        state=UNPAID,
        expires_at=expires_at,
        created_at=utcnow(),
    )
    db.add(order)
    db.flush()
    return order


def pay(db: Session, settings: Settings, order: SandboxPaymentOrder, on_paid: PaidHook) -> bool:
    """The payer confirmed at the cashier: unpaid -> paid (guarded), then the notify is queued."""
    if order.expires_at is not None and order.expires_at < utcnow():
        return False
    now = utcnow()
    moved = db.execute(
        update(SandboxPaymentOrder)
        .where(SandboxPaymentOrder.id == order.id, SandboxPaymentOrder.state == UNPAID)
        .values(state=PAID, transaction_id=new_transaction_id(order.channel), paid_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return False
    db.refresh(order)
    on_paid(db, settings, order)
    return True


def close(db: Session, order: SandboxPaymentOrder) -> bool:
    """unpaid -> closed; False if the order is paid (or refunded) already."""
    if order.state == CLOSED:
        return True
    moved = db.execute(
        update(SandboxPaymentOrder)
        .where(SandboxPaymentOrder.id == order.id, SandboxPaymentOrder.state == UNPAID)
        .values(state=CLOSED)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.refresh(order)
    return bool(moved)


def refund(
    db: Session,
    order: SandboxPaymentOrder,
    out_refund_no: str,
    amount_fen: int,
    reason: str | None,
    notify_url: str | None,
) -> SandboxPaymentRefund | str:
    """Accept a refund (idempotent by ``out_refund_no``), or return the channel's refusal code."""
    existing = db.scalar(
        select(SandboxPaymentRefund).where(
            SandboxPaymentRefund.channel == order.channel, SandboxPaymentRefund.out_refund_no == out_refund_no
        )
    )
    if existing is not None:
        return existing
    if order.state not in (PAID, REFUNDED):
        return "TRADE_STATUS_ERROR"
    # Guarded counter: the refunded total never exceeds what was paid.
    moved = db.execute(
        update(SandboxPaymentOrder)
        .where(
            SandboxPaymentOrder.id == order.id,
            SandboxPaymentOrder.refunded_fen + amount_fen <= SandboxPaymentOrder.amount_fen,
        )
        .values(refunded_fen=SandboxPaymentOrder.refunded_fen + amount_fen, state=REFUNDED)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return "NOT_ENOUGH"
    row = SandboxPaymentRefund(
        channel=order.channel,
        order_id=order.id,
        out_refund_no=out_refund_no,
        refund_id=("50" if order.channel == "wechat" else "RF") + f"{secrets.randbelow(10**28):028d}",
        amount_fen=amount_fen,
        reason=reason,
        notify_url=notify_url,
        state="succeeded",
        succeeded_at=utcnow(),
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    db.refresh(order)
    return row


def refund_by_no(db: Session, channel: str, out_refund_no: str) -> SandboxPaymentRefund | None:
    """A refund the channel accepted."""
    return db.scalar(
        select(SandboxPaymentRefund).where(
            SandboxPaymentRefund.channel == channel, SandboxPaymentRefund.out_refund_no == out_refund_no
        )
    )


def day_bounds(bill_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The statement day: midnight to midnight, Beijing time."""
    start = dt.datetime.combine(bill_date, dt.time(), tzinfo=HOSPITAL_TZ)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def statement_rows(
    db: Session, channel: str, merchant_id: str, bill_date: dt.date
) -> tuple[list[SandboxPaymentOrder], list[tuple[SandboxPaymentRefund, SandboxPaymentOrder]]]:
    """Orders paid and refunds succeeded on ``bill_date``."""
    start, end = day_bounds(bill_date)
    orders = list(
        db.scalars(
            select(SandboxPaymentOrder)
            .where(
                SandboxPaymentOrder.channel == channel,
                SandboxPaymentOrder.merchant_id == merchant_id,
                SandboxPaymentOrder.paid_at >= start,
                SandboxPaymentOrder.paid_at < end,
            )
            .order_by(SandboxPaymentOrder.paid_at)
        )
    )
    refunds = [
        (refund, order)
        for refund, order in db.execute(
            select(SandboxPaymentRefund, SandboxPaymentOrder)
            .join(SandboxPaymentOrder, SandboxPaymentOrder.id == SandboxPaymentRefund.order_id)
            .where(
                SandboxPaymentRefund.channel == channel,
                SandboxPaymentOrder.merchant_id == merchant_id,
                SandboxPaymentRefund.succeeded_at >= start,
                SandboxPaymentRefund.succeeded_at < end,
            )
            .order_by(SandboxPaymentRefund.succeeded_at)
        )
    ]
    return orders, refunds
