"""The lifecycles of a bill and of a refund as data (ARCHITECTURE principle 4), drawn in docs/.

Every change is one guarded ``UPDATE ... WHERE id = :id AND status = :from`` (principle 2): a lost
race changes nothing and the caller sees ``False``.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, Refund

UNPAID: Final = "unpaid"
PAID: Final = "paid"
REFUNDING: Final = "refunding"
REFUNDED: Final = "refunded"
PARTIALLY_REFUNDED: Final = "partially_refunded"
CLOSED: Final = "closed"
BILL_STATUSES: Final = (UNPAID, PAID, REFUNDING, REFUNDED, PARTIALLY_REFUNDED, CLOSED)

# (from, to): the only moves a bill may make (DOMAIN §7, issue 3 §5).
BILL_TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        (UNPAID, PAID),  # the channel confirmed the payment (notify or query)
        (UNPAID, CLOSED),  # hold time over, closed at the channel too
        (PAID, REFUNDING),  # a refund was requested
        (PARTIALLY_REFUNDED, REFUNDING),  # a further partial refund
        (REFUNDING, REFUNDED),  # refunds now cover the whole amount
        (REFUNDING, PARTIALLY_REFUNDED),  # a part came back
        (REFUNDING, PAID),  # the only refund in flight failed, nothing refunded yet
    }
)

REQUESTED: Final = "requested"
PROCESSING: Final = "processing"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
REFUND_STATUSES: Final = (REQUESTED, PROCESSING, SUCCEEDED, FAILED)

REFUND_TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        (REQUESTED, PROCESSING),  # the channel accepted the refund
        (REQUESTED, SUCCEEDED),  # the channel refunded at once (Alipay)
        (REQUESTED, FAILED),  # the channel refused it
        (PROCESSING, SUCCEEDED),  # refund notify or query: money is on its way back
        (PROCESSING, FAILED),  # refund notify or query: abnormal / closed
    }
)


class TransitionRefused(ValueError):
    """A move that the transition table does not contain (a programming error)."""


def check_bill_move(source: str, target: str) -> None:
    """Raise unless the bill table allows ``source -> target``."""
    if (source, target) not in BILL_TRANSITIONS:
        raise TransitionRefused(f"bill: {source} -> {target} is not allowed")


def check_refund_move(source: str, target: str) -> None:
    """Raise unless the refund table allows ``source -> target``."""
    if (source, target) not in REFUND_TRANSITIONS:
        raise TransitionRefused(f"refund: {source} -> {target} is not allowed")


def move_bill(db: Session, bill_id: int, source: str, target: str, **values: Any) -> bool:
    """Guarded bill transition; True if this call made it."""
    check_bill_move(source, target)
    stmt = (
        update(Bill)
        .where(Bill.id == bill_id, Bill.status == source)
        .values(status=target, version=Bill.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]
    if moved:
        db.expire_all()
    return moved


def move_refund(db: Session, refund_id: int, source: str, target: str, **values: Any) -> bool:
    """Guarded refund transition; True if this call made it."""
    check_refund_move(source, target)
    stmt = (
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == source)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(db.execute(stmt).rowcount)  # type: ignore[attr-defined]
    if moved:
        db.expire_all()
    return moved
