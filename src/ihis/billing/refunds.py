"""Refunds by the original channel (BJ 5.4.2): requested in the caller's transaction, submitted to
the channel after commit (outbox ``billing.refund_submit``), settled by the channel's answer, its
refund notify or a refund query — each settlement a guarded transition, so whichever comes first
wins and the others change nothing.
"""

from __future__ import annotations

import secrets
from typing import Final

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing import states
from ihis.billing.models import Bill, PaymentAttempt, Refund
from ihis.billing.service import REFUND_SETTLED, BillNotFound, event_topic
from ihis.integrations.payment.channels import channel_client
from ihis.integrations.payment.protocol import EXPECTED_REFUND_ARRIVAL, PaymentRejected, RefundOutcome
from ihis.platform import outbox
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import Conflict, InvalidInput
from ihis.platform.outbox import HandlerContext

log = structlog.get_logger(__name__)

SUBMIT_TOPIC: Final = "billing.refund_submit"


class RefundNotAllowed(Conflict):
    code = "refund_not_allowed"

    def __init__(self) -> None:
        super().__init__(
            "账单未支付、已全额退款或另有退款正在处理",
            "The bill is unpaid, fully refunded or has a refund in progress",
        )


def request_refund(
    db: Session, bill_id: int, amount_fen: int, reason: str, *, institution_id: int | None = None
) -> Refund:
    """Start a refund of ``amount_fen`` (one at a time per bill); the channel is asked after commit.

    Callers pass the bill id of their own institution-scoped row; ``institution_id`` narrows the
    lookup further (another institution's bill is then not found).
    """
    query = select(Bill).where(Bill.id == bill_id)
    if institution_id is not None:
        query = query.where(Bill.institution_id == institution_id)
    bill = db.scalar(query.execution_options(populate_existing=True))
    if bill is None:
        raise BillNotFound()
    if not isinstance(amount_fen, int) or amount_fen <= 0 or amount_fen > bill.amount_fen - bill.refunded_fen:
        raise InvalidInput.field(
            "amount_fen", "refund_amount_invalid", "退款金额无效或超出可退金额", "Invalid refund amount"
        )
    if not reason.strip():
        raise InvalidInput.field("reason", "reason_required", "请填写退款原因", "A reason is required")
    if bill.status not in (states.PAID, states.PARTIALLY_REFUNDED) or bill.channel is None:
        raise RefundNotAllowed()
    if not states.move_bill(db, bill.id, bill.status, states.REFUNDING):
        raise RefundNotAllowed()
    refund = Refund(
        institution_id=bill.institution_id,
        bill_id=bill.id,
        channel=bill.channel,
        out_refund_no="R"
        + utcnow().astimezone(HOSPITAL_TZ).strftime("%Y%m%d%H%M%S")
        + secrets.token_hex(6).upper(),
        amount_fen=amount_fen,
        reason=reason.strip()[:80],
        status=states.REQUESTED,
        expected_arrival=EXPECTED_REFUND_ARRIVAL[bill.channel],
    )
    db.add(refund)
    db.flush()
    outbox.emit(db, SUBMIT_TOPIC, {"refund_id": refund.id}, key=f"refund-{refund.id}")
    return refund


def _paid_attempt(db: Session, bill_id: int) -> PaymentAttempt | None:
    return db.scalar(
        select(PaymentAttempt).where(PaymentAttempt.bill_id == bill_id, PaymentAttempt.status == "paid")
    )


def submit_refund(ctx: HandlerContext, refund_id: int) -> None:
    """Ask the channel for the money back (outbox handler; an unavailable channel raises and is retried)."""
    with ctx.database.unit_of_work() as db:
        refund = db.get(Refund, refund_id)
        if refund is None or refund.status != states.REQUESTED:
            return  # already submitted and answered (delivery is at least once)
        bill = db.get(Bill, refund.bill_id)
        attempt = _paid_attempt(db, refund.bill_id)
        if bill is None or attempt is None:
            log.error("refund_without_paid_attempt", refund_id=refund_id)
            return
        client = channel_client(refund.channel, ctx.settings, ctx.http, db)
        args = (attempt.out_trade_no, refund.out_refund_no, refund.amount_fen, bill.amount_fen, refund.reason)
    try:
        outcome = client.refund(*args)
    except PaymentRejected as exc:
        log.warning("refund_rejected", refund_id=refund_id, error_code=exc.code)
        with ctx.database.unit_of_work() as db:
            fail_refund(db, refund_id, states.REQUESTED)
        return
    with ctx.database.unit_of_work() as db:
        apply_refund_outcome(db, refund.channel, outcome)


def apply_refund_outcome(db: Session, channel: str, outcome: RefundOutcome) -> None:
    """Apply what the channel says about a refund (answer, notify or query); idempotent."""
    refund = db.scalar(
        select(Refund).where(Refund.channel == channel, Refund.out_refund_no == outcome.out_refund_no)
    )
    if refund is None:
        log.warning("refund_outcome_unknown_refund", channel=channel)
        return
    if outcome.state == "processing":
        states.move_refund(
            db, refund.id, states.REQUESTED, states.PROCESSING, channel_refund_id=outcome.refund_id
        )
    elif outcome.state == "succeeded":
        settle_refund(db, refund, outcome)
    else:
        fail_refund(db, refund.id, refund.status)


def settle_refund(db: Session, refund: Refund, outcome: RefundOutcome) -> bool:
    """The money went back: refund succeeded, bill counter up, bill refunded or partially refunded."""
    values = {
        "channel_refund_id": outcome.refund_id or refund.channel_refund_id,
        "succeeded_at": outcome.succeeded_at or utcnow(),
    }
    source = refund.status
    if source not in (states.REQUESTED, states.PROCESSING) or not states.move_refund(
        db, refund.id, source, states.SUCCEEDED, **values
    ):
        return False
    db.execute(
        update(Bill)
        .where(Bill.id == refund.bill_id, Bill.refunded_fen + refund.amount_fen <= Bill.amount_fen)
        .values(refunded_fen=Bill.refunded_fen + refund.amount_fen)
        .execution_options(synchronize_session=False)
    )
    bill = db.get(Bill, refund.bill_id, populate_existing=True)
    assert bill is not None
    target = states.REFUNDED if bill.refunded_fen >= bill.amount_fen else states.PARTIALLY_REFUNDED
    states.move_bill(db, bill.id, states.REFUNDING, target)
    outbox.emit(
        db,
        event_topic(REFUND_SETTLED, bill.reference_type),
        {
            "bill_id": bill.id,
            "refund_id": refund.id,
            "institution_id": bill.institution_id,
            "reference_type": bill.reference_type,
            "reference_id": bill.reference_id,
            "amount_fen": refund.amount_fen,
            "refunded_fen": bill.refunded_fen,
            "bill_amount_fen": bill.amount_fen,
        },
        key=f"refund-{refund.id}",
    )
    return True


def fail_refund(db: Session, refund_id: int, source: str) -> None:
    """The channel refused or abandoned the refund: the bill goes back to what it was before."""
    if source not in (states.REQUESTED, states.PROCESSING) or not states.move_refund(
        db, refund_id, source, states.FAILED
    ):
        return
    refund = db.get(Refund, refund_id)
    bill = db.get(Bill, refund.bill_id) if refund else None
    if bill is not None:
        states.move_bill(
            db,
            bill.id,
            states.REFUNDING,
            states.PAID if bill.refunded_fen == 0 else states.PARTIALLY_REFUNDED,
        )
