"""Bills: what other domains call (create, pay, refund, progress) and what the patient/staff read.

Other domains never import billing's tables: they call these functions with their own reference
(``reference_type``/``reference_id``) and subscribe to billing's events delivered through the
outbox, one topic per reference type so that each domain owns its handler:
``billing.bill_paid.<reference_type>``, ``billing.bill_closed.<reference_type>``,
``billing.refund_settled.<reference_type>`` (e.g. ``billing.bill_paid.registration``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.billing import policy, states
from ihis.billing.models import KINDS, Bill, Refund
from ihis.identity.access import Actor
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import InvalidInput, NotFound

BILL_PAID = "billing.bill_paid"
BILL_CLOSED = "billing.bill_closed"
REFUND_SETTLED = "billing.refund_settled"


def event_topic(event: str, reference_type: str) -> str:
    """The outbox topic of a billing event about one kind of thing (``billing.bill_paid.registration``)."""
    return f"{event}.{reference_type}"


class BillNotFound(NotFound):
    code = "bill_not_found"

    def __init__(self) -> None:
        super().__init__("账单不存在", "Bill not found")


def create_bill(
    db: Session,
    *,
    institution_id: int,
    payer_account_id: int,
    kind: str,
    subject: str,
    reference_type: str,
    reference_id: str | int,
    amount_fen: int,
    expires_at: dt.datetime,
    visitor_id: int | None = None,
) -> Bill:
    """A new unpaid bill for one thing (one bill per reference and kind: a second call returns it)."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidInput.field(
            "amount_fen", "amount_not_positive", "金额必须为正整数（分）", "Amount must be > 0 fen"
        )
    if kind not in KINDS:
        raise InvalidInput.field("kind", "kind_unknown", "账单类型不正确", "Unknown bill kind")
    if not subject.strip() or len(subject) > 128:
        raise InvalidInput.field(
            "subject", "subject_invalid", "账单说明不能为空且不超过128字", "Subject 1-128 chars"
        )
    if expires_at.tzinfo is None or expires_at <= utcnow():
        raise InvalidInput.field(
            "expires_at", "expiry_invalid", "支付截止时间必须晚于现在", "Expiry must be in the future"
        )
    existing = db.scalar(
        select(Bill).where(
            Bill.institution_id == institution_id,
            Bill.reference_type == reference_type,
            Bill.reference_id == str(reference_id),
            Bill.kind == kind,
        )
    )
    if existing is not None:
        return existing
    bill = Bill(
        institution_id=institution_id,
        payer_account_id=payer_account_id,
        visitor_id=visitor_id,
        kind=kind,
        subject=subject.strip(),
        reference_type=reference_type,
        reference_id=str(reference_id),
        amount_fen=amount_fen,
        refunded_fen=0,
        status=states.UNPAID,
        expires_at=expires_at,
        version=1,
    )
    db.add(bill)
    db.flush()
    return bill


def readable_bill(db: Session, actor: Actor, bill_id: int) -> Bill:
    """One bill ``actor`` may read; 404 otherwise (another account's or institution's bill included)."""
    bill = db.scalar(select(Bill).where(Bill.id == bill_id, policy.readable(actor)))
    if bill is None:
        raise BillNotFound()
    return bill


def bill_for_reference(
    db: Session, institution_id: int, reference_type: str, reference_id: str | int
) -> Bill | None:
    """The bill of another domain's thing (e.g. a registration), if any."""
    return db.scalar(
        select(Bill)
        .where(
            Bill.institution_id == institution_id,
            Bill.reference_type == reference_type,
            Bill.reference_id == str(reference_id),
        )
        .order_by(Bill.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class BillFilter:
    """Staff list filters (all optional); dates are hospital-local creation dates."""

    status: str | None = None
    kind: str | None = None
    channel: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=HOSPITAL_TZ).astimezone(dt.UTC)


def list_bills(
    db: Session, actor: Actor, filters: BillFilter, *, offset: int, limit: int
) -> tuple[list[Bill], int]:
    """Readable bills, newest first, one page, and how many match."""
    conditions = [policy.readable(actor)]
    if filters.status:
        conditions.append(Bill.status == filters.status)
    if filters.kind:
        conditions.append(Bill.kind == filters.kind)
    if filters.channel:
        conditions.append(Bill.channel == filters.channel)
    if filters.created_from:
        conditions.append(Bill.created_at >= _local_midnight(filters.created_from))
    if filters.created_to:
        conditions.append(Bill.created_at < _local_midnight(filters.created_to + dt.timedelta(days=1)))
    total = db.scalar(select(func.count()).select_from(Bill).where(*conditions)) or 0
    rows = db.scalars(
        select(Bill)
        .where(*conditions)
        .order_by(Bill.created_at.desc(), Bill.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


def refunds_of(db: Session, bill: Bill) -> list[Refund]:
    """The refunds of a bill, oldest first."""
    return list(db.scalars(select(Refund).where(Refund.bill_id == bill.id).order_by(Refund.id)))


def refund_progress(db: Session, actor: Actor, bill_id: int) -> list[Refund]:
    """The refunds of a bill ``actor`` may read, with their state and expected arrival (BJ 5.4.2)."""
    return refunds_of(db, readable_bill(db, actor, bill_id))


def expire_unpaid(db: Session, bill_id: int) -> bool:
    """Bring an unpaid bill's deadline to now (its thing was cancelled): the close job closes it at the
    channel on its next round. A payment that still arrives is applied and the owner refunds it."""
    now = utcnow()
    result = db.execute(
        update(Bill)
        .where(Bill.id == bill_id, Bill.status == states.UNPAID, Bill.expires_at > now)
        .values(expires_at=now, version=Bill.version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
