"""The bill and refund lifecycles are tables; every move is a guarded update."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.billing import states
from ihis.billing.models import Bill, Refund
from tests.factories import make_institution, make_patient
from tests.factories_billing import make_bill

ALLOWED_BILL = {
    ("unpaid", "paid"),
    ("unpaid", "closed"),
    ("paid", "refunding"),
    ("partially_refunded", "refunding"),
    ("refunding", "refunded"),
    ("refunding", "partially_refunded"),
    ("refunding", "paid"),
}


def test_the_bill_table_is_exactly_the_documented_one() -> None:
    assert states.BILL_TRANSITIONS == ALLOWED_BILL
    assert set(states.REFUND_TRANSITIONS) == {
        ("requested", "processing"),
        ("requested", "succeeded"),
        ("requested", "failed"),
        ("processing", "succeeded"),
        ("processing", "failed"),
    }


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED_BILL))
def test_an_allowed_bill_move_happens_once(db: Session, source: str, target: str) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    db.execute(update(Bill).where(Bill.id == bill.id).values(status=source))
    assert states.move_bill(db, bill.id, source, target) is True
    assert states.move_bill(db, bill.id, source, target) is False  # the guard: no longer in `source`
    refreshed = db.get(Bill, bill.id, populate_existing=True)
    assert refreshed is not None and refreshed.status == target and refreshed.version == 2


REFUSED_BILL = sorted(
    (a, b) for a, b in itertools.product(states.BILL_STATUSES, repeat=2) if (a, b) not in ALLOWED_BILL
)


@pytest.mark.parametrize(("source", "target"), REFUSED_BILL)
def test_a_bill_move_outside_the_table_is_refused(db: Session, source: str, target: str) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    db.execute(update(Bill).where(Bill.id == bill.id).values(status=source))
    with pytest.raises(states.TransitionRefused):
        states.move_bill(db, bill.id, source, target)
    assert db.get(Bill, bill.id, populate_existing=True).status == source  # type: ignore[union-attr]


def test_a_refund_cannot_leave_a_final_state(db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    refund = Refund(
        institution_id=bill.institution_id,
        bill_id=bill.id,
        channel="wechat",
        out_refund_no="RTEST1",
        amount_fen=100,
        reason="test",
        status="succeeded",
        expected_arrival="-",
    )
    db.add(refund)
    db.flush()
    for target in ("requested", "processing", "failed"):
        with pytest.raises(states.TransitionRefused):
            states.move_refund(db, refund.id, "succeeded", target)
    assert states.move_refund(db, refund.id, "processing", "succeeded") is False
