"""Periodic work of billing: ask channels about overdue notifies, close expired bills, chase refunds.

Each function takes the jobs' ``HandlerContext`` (database, settings, outbound HTTP) and a ``now``
(tests pass a later one instead of sleeping). Channel calls run outside writing units; the
changes they lead to go through the same guarded paths as notifies (``apply_trade``).
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import or_, select, update

from ihis.billing import states
from ihis.billing.models import Bill, PaymentAttempt, Refund
from ihis.billing.payments import NOTIFY_OVERDUE, NotifyMismatch, apply_trade
from ihis.billing.refunds import apply_refund_outcome
from ihis.billing.service import BILL_CLOSED, event_topic
from ihis.integrations.payment.channels import channel_client
from ihis.integrations.payment.protocol import PaymentError, PaymentRejected, PaymentUnavailable
from ihis.platform import outbox
from ihis.platform.outbox import HandlerContext

log = structlog.get_logger(__name__)

BATCH = 100
REFUND_OVERDUE = dt.timedelta(minutes=5)


def recover_missing_notifies(ctx: HandlerContext, now: dt.datetime) -> int:
    """Query the channel about attempts whose notify is overdue; apply what was paid; how many were."""
    with ctx.database.unit_of_work(write=False) as db:
        rows = db.execute(
            select(PaymentAttempt.id, PaymentAttempt.channel, PaymentAttempt.out_trade_no)
            .join(Bill, Bill.id == PaymentAttempt.bill_id)
            .where(
                PaymentAttempt.status == "awaiting",
                PaymentAttempt.created_at <= now - NOTIFY_OVERDUE,
                or_(
                    PaymentAttempt.last_queried_at.is_(None),
                    PaymentAttempt.last_queried_at <= now - NOTIFY_OVERDUE,
                ),
                Bill.status == states.UNPAID,
            )
            .order_by(PaymentAttempt.id)
            .limit(BATCH)
        ).all()
    recovered = 0
    for attempt_id, channel, out_trade_no in rows:
        try:
            with ctx.database.unit_of_work() as db:
                client = channel_client(channel, ctx.settings, ctx.http, db)
                db.execute(
                    update(PaymentAttempt).where(PaymentAttempt.id == attempt_id).values(last_queried_at=now)
                )
            trade = client.query(out_trade_no)
        except PaymentError as exc:
            log.warning("payment_query_failed", attempt_id=attempt_id, channel=channel, error_code=exc.code)
            continue
        if trade.state != "paid":
            continue
        try:
            with ctx.database.unit_of_work() as db:
                if apply_trade(db, channel, trade, "query") == "applied":
                    recovered += 1
                    log.info("payment_recovered_by_query", attempt_id=attempt_id, channel=channel)
        except NotifyMismatch as exc:
            log.warning("payment_query_mismatch", attempt_id=attempt_id, channel=channel, reason=exc.reason)
    return recovered


def close_expired_bills(ctx: HandlerContext, now: dt.datetime) -> int:
    """Close unpaid bills past ``expires_at`` at the channel and here; emits ``billing.bill_closed``."""
    with ctx.database.unit_of_work(write=False) as db:
        bill_ids = list(
            db.scalars(
                select(Bill.id)
                .where(Bill.status == states.UNPAID, Bill.expires_at <= now)
                .order_by(Bill.expires_at)
                .limit(BATCH)
            )
        )
    return sum(1 for bill_id in bill_ids if _close_one(ctx, bill_id, now))


def _close_one(ctx: HandlerContext, bill_id: int, now: dt.datetime) -> bool:
    with ctx.database.unit_of_work(write=False) as db:
        attempts = db.execute(
            select(PaymentAttempt.channel, PaymentAttempt.out_trade_no).where(
                PaymentAttempt.bill_id == bill_id, PaymentAttempt.status.in_(("created", "awaiting"))
            )
        ).all()
    for channel, out_trade_no in attempts:
        # Close at the channel first: once closed there, no payment can arrive for this order.
        try:
            with ctx.database.unit_of_work() as db:
                client = channel_client(channel, ctx.settings, ctx.http, db)
            client.close(out_trade_no)
        except PaymentRejected:
            try:
                trade = client.query(out_trade_no)  # refused because it was paid meanwhile
            except PaymentError as exc:
                log.warning("payment_query_failed", bill_id=bill_id, channel=channel, error_code=exc.code)
                return False
            if trade.state == "paid":
                with ctx.database.unit_of_work() as db:
                    apply_trade(db, channel, trade, "query")
                return False
        except PaymentUnavailable as exc:
            log.warning("payment_close_failed", bill_id=bill_id, channel=channel, error_code=exc.code)
            return False  # try again next round; never close here while the channel may still take money
    with ctx.database.unit_of_work() as db:
        if not states.move_bill(db, bill_id, states.UNPAID, states.CLOSED, closed_at=now):
            return False
        db.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.bill_id == bill_id, PaymentAttempt.status.in_(("created", "awaiting")))
            .values(status="closed")
        )
        bill = db.get(Bill, bill_id)
        assert bill is not None
        outbox.emit(
            db,
            event_topic(BILL_CLOSED, bill.reference_type),
            {
                "bill_id": bill.id,
                "institution_id": bill.institution_id,
                "reference_type": bill.reference_type,
                "reference_id": bill.reference_id,
                "amount_fen": bill.amount_fen,
            },
            key=f"bill-{bill.id}",
        )
    return True


def chase_refunds(ctx: HandlerContext, now: dt.datetime) -> int:
    """Query refunds still processing after a while (their notify may be lost); apply the answers."""
    with ctx.database.unit_of_work(write=False) as db:
        rows = db.execute(
            select(Refund.id, Refund.channel, Refund.out_refund_no, PaymentAttempt.out_trade_no)
            .join(
                PaymentAttempt, (PaymentAttempt.bill_id == Refund.bill_id) & (PaymentAttempt.status == "paid")
            )
            .where(Refund.status == states.PROCESSING, Refund.updated_at <= now - REFUND_OVERDUE)
            .limit(BATCH)
        ).all()
    settled = 0
    for _refund_id, channel, out_refund_no, out_trade_no in rows:
        try:
            with ctx.database.unit_of_work() as db:
                client = channel_client(channel, ctx.settings, ctx.http, db)
            outcome = client.query_refund(out_trade_no, out_refund_no)
        except PaymentError:
            continue
        with ctx.database.unit_of_work() as db:
            apply_refund_outcome(db, channel, outcome)
            settled += outcome.state != "processing"
    return settled
