"""Paying a bill: prepay at a channel, then each channel transaction applied exactly once.

The exactly-once key is (channel, channel transaction id), unique in ``channel_transaction``: the
row is inserted with ON CONFLICT DO NOTHING, and only the inserter moves the bill
(``unpaid -> paid``, guarded). Replays, concurrent or not, find the row and change nothing, yet
the channel still gets its success answer (ARCHITECTURE principle 3; DOMAIN §7).

Channel calls are made outside any writing unit of work: a sandbox channel served by this very
process (or any slow channel) must never wait on, or hold, SQLite's single write lock.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ihis.billing import states
from ihis.billing.models import Bill, ChannelTransaction, PaymentAttempt
from ihis.billing.service import BILL_PAID, event_topic, readable_bill
from ihis.identity.access import Actor
from ihis.integrations.payment.channels import channel_client
from ihis.integrations.payment.protocol import Answer, NotifyRejected, PaymentError, Trade
from ihis.platform import audit, outbox
from ihis.platform.audit import AuditContext
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, UpstreamFailed
from ihis.settings import Settings

log = structlog.get_logger(__name__)

# A payment attempt whose notify has not come after this long is asked about (the query job).
NOTIFY_OVERDUE = dt.timedelta(seconds=60)


class BillNotPayable(Conflict):
    code = "bill_not_payable"

    def __init__(self) -> None:
        super().__init__("账单已支付、已关闭或已过期", "The bill is paid, closed or expired")


class PaymentUpstreamFailed(UpstreamFailed):
    code = "payment_channel_failed"

    def __init__(self) -> None:
        super().__init__(
            "支付渠道暂不可用，请稍后再试", "The payment channel is unavailable; try again later"
        )


class NotifyMismatch(Exception):
    """An authentic notify that does not match our records (unknown order, wrong amount)."""

    def __init__(self, reason: str, institution_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.institution_id = institution_id


def new_out_trade_no() -> str:
    """Our order number at the channel: local time + random (6-32 chars, WeChat and Alipay alike)."""
    return "B" + utcnow().astimezone(HOSPITAL_TZ).strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


def start_payment(
    database: Database,
    settings: Settings,
    http: httpx.Client,
    actor: Actor,
    bill_id: int,
    channel: str,
    return_url: str,
) -> str:
    """Prepay the bill at ``channel`` and return the cashier URL (the patient's own unpaid bill only)."""
    with database.unit_of_work() as db:
        bill = readable_bill(db, actor, bill_id)
        if bill.status != states.UNPAID or bill.expires_at <= utcnow():
            raise BillNotPayable()
        reuse = db.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.bill_id == bill.id,
                PaymentAttempt.channel == channel,
                PaymentAttempt.status == "awaiting",
                PaymentAttempt.cashier_url.is_not(None),
            )
        )
        if reuse is not None and reuse.cashier_url:
            return reuse.cashier_url  # the same order again: the channel must not see two for one bill
        client = channel_client(channel, settings, http, db)
        attempt = PaymentAttempt(
            institution_id=bill.institution_id,
            bill_id=bill.id,
            channel=channel,
            out_trade_no=new_out_trade_no(),
            amount_fen=bill.amount_fen,
            status="created",
        )
        db.add(attempt)
        db.flush()
        attempt_id, out_trade_no = attempt.id, attempt.out_trade_no
        amount, subject, expires_at = bill.amount_fen, bill.subject, bill.expires_at
    try:
        prepay = client.prepay(out_trade_no, amount, subject, expires_at, return_url)
    except PaymentError as exc:
        log.warning("payment_prepay_failed", channel=channel, attempt_id=attempt_id, error_code=exc.code)
        with database.unit_of_work() as db:
            _move_attempt(db, attempt_id, ("created",), "failed")
        raise PaymentUpstreamFailed() from exc
    with database.unit_of_work() as db:
        _move_attempt(
            db,
            attempt_id,
            ("created",),
            "awaiting",
            prepay_id=prepay.prepay_id,
            cashier_url=prepay.cashier_url,
        )
    return prepay.cashier_url


def _move_attempt(
    db: Session, attempt_id: int, sources: tuple[str, ...], target: str, **values: object
) -> bool:
    stmt = (
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt_id, PaymentAttempt.status.in_(sources))
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


Applied = Literal["applied", "duplicate", "ignored", "orphan"]


def apply_trade(db: Session, channel: str, trade: Trade, source: str) -> Applied:
    """Record a paid trade exactly once and move its bill to paid; ``NotifyMismatch`` if not ours."""
    attempt = db.scalar(
        select(PaymentAttempt).where(
            PaymentAttempt.channel == channel, PaymentAttempt.out_trade_no == trade.out_trade_no
        )
    )
    if attempt is None:
        raise NotifyMismatch("unknown_out_trade_no")
    if trade.state != "paid":
        return "ignored"  # only payments move a bill; closing is our own decision
    if trade.amount_fen != attempt.amount_fen or not trade.transaction_id:
        raise NotifyMismatch("amount_mismatch", attempt.institution_id)
    now = utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = db.execute(
        insert(ChannelTransaction)
        .values(
            institution_id=attempt.institution_id,
            channel=channel,
            channel_transaction_id=trade.transaction_id,
            bill_id=attempt.bill_id,
            attempt_id=attempt.id,
            amount_fen=trade.amount_fen,
            paid_at=trade.paid_at or now,
            source=source[:64],
            applied=True,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "channel_transaction_id"])
        .returning(ChannelTransaction.id)
    ).scalar_one_or_none()
    if inserted is None:
        return "duplicate"
    _move_attempt(db, attempt.id, ("created", "awaiting", "closed", "failed"), "paid")
    if not states.move_bill(
        db, attempt.bill_id, states.UNPAID, states.PAID, paid_at=trade.paid_at or now, channel=channel
    ):
        # Money without a payable bill (closed meanwhile, or paid at another channel): kept for 对账.
        db.execute(update(ChannelTransaction).where(ChannelTransaction.id == inserted).values(applied=False))
        log.warning("payment_for_unpayable_bill", bill_id=attempt.bill_id, channel=channel)
        return "orphan"
    bill = db.get(Bill, attempt.bill_id)
    assert bill is not None
    outbox.emit(
        db,
        event_topic(BILL_PAID, bill.reference_type),
        {
            "bill_id": bill.id,
            "institution_id": bill.institution_id,
            "reference_type": bill.reference_type,
            "reference_id": bill.reference_id,
            "amount_fen": bill.amount_fen,
            "channel": channel,
        },
        key=f"bill-{bill.id}",
    )
    return "applied"


@dataclass(frozen=True)
class NotifyCaller:
    """Where a notify came from (for the audit entry of a rejected one)."""

    ip: str | None
    user_agent: str | None


def receive_notify(
    database: Database,
    settings: Settings,
    http: httpx.Client,
    channel: str,
    headers: Mapping[str, str],
    body: bytes,
    caller: NotifyCaller,
) -> Answer:
    """Verify and apply one channel notify; the answer the channel expects (success or failure form)."""
    from ihis.billing.refunds import apply_refund_outcome

    reason: str | None = None
    institution_id: int | None = None
    with database.unit_of_work() as db:
        client = channel_client(channel, settings, http, db)
        try:
            notice = client.parse_notify(headers, body)
            if notice.trade is not None:
                apply_trade(db, channel, notice.trade, notice.notify_id)
            if notice.refund is not None:
                apply_refund_outcome(db, channel, notice.refund)
        except NotifyRejected as exc:
            reason = exc.reason
        except NotifyMismatch as exc:
            reason, institution_id = exc.reason, exc.institution_id
    if reason is None:
        return client.success_answer()
    # A forged or mismatching notify: a security event, recorded whatever else happens; no personal data.
    log.warning("payment_notify_rejected", channel=channel, reason=reason)
    ctx = AuditContext(
        actor_id=None,
        actor_role="payment_channel",
        actor_name=channel,
        institution_id=institution_id,
        ip=caller.ip,
        user_agent=caller.user_agent,
    )
    audit.record_independent(
        database,
        ctx,
        "payment.notify.rejected",
        resource_type="payment_notify",
        outcome="denied",
        detail={"channel": channel, "reason": reason},
    )
    return client.failure_answer(reason)
