"""Refunds by the original channel: requested in the caller's transaction, settled by the channel's
answer or refund notify; a bill ends refunded or partially refunded; progress is visible."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, Refund
from ihis.billing.refunds import RefundNotAllowed, request_refund
from ihis.integrations.payment.models import SandboxPaymentNotify, SandboxPaymentOrder
from ihis.platform.errors import InvalidInput
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from tests.billing.test_jobs import _pay_at_cashier


def _bill(db: Session, bill: Bill) -> Bill:
    db.expire_all()
    found = db.get(Bill, bill.id)
    assert found is not None
    return found


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_full_refund_settles_and_the_bill_is_refunded(
    client: TestClient, db: Session, settings: Settings, channel: str
) -> None:
    bill = _pay_at_cashier(client, db, settings, 5000, channel)
    refund = request_refund(db, bill.id, 5000, "患者取消挂号", institution_id=bill.institution_id)
    assert _bill(db, bill).status == "refunding"
    db.commit()  # after commit: submitted to the channel; WeChat then notifies REFUND.SUCCESS

    settled = db.get(Refund, refund.id, populate_existing=True)
    assert settled is not None and settled.status == "succeeded" and settled.channel_refund_id
    assert _bill(db, bill).status == "refunded" and _bill(db, bill).refunded_fen == 5000
    order = db.scalar(
        select(SandboxPaymentOrder)
        .where(SandboxPaymentOrder.amount_fen == 5000)
        .order_by(SandboxPaymentOrder.id.desc())
    )
    assert order is not None and order.refunded_fen == 5000
    assert (
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == "billing.refund_settled.test",
                OutboxMessage.key == f"refund-{refund.id}",
            )
        )
        == 1
    )
    if channel == "wechat":
        [notify] = db.scalars(
            select(SandboxPaymentNotify).where(SandboxPaymentNotify.body.contains("REFUND.SUCCESS"))
        )
        assert notify.status == "delivered"

    detail = client.get(f"/api/v1/me/bills/{bill.id}").json()
    [shown] = detail["refunds"]
    assert shown["status"] == "succeeded"
    assert [s["done"] for s in shown["progress"]] == [True, True, True]
    assert ("零钱" if channel == "wechat" else "余额") in shown["expected_arrival"]


def test_partial_refunds_leave_the_bill_partially_refunded_until_all_is_back(
    client: TestClient, db: Session, settings: Settings
) -> None:
    bill = _pay_at_cashier(client, db, settings, 5000)
    request_refund(db, bill.id, 1200, "部分退费", institution_id=bill.institution_id)
    db.commit()
    assert _bill(db, bill).status == "partially_refunded" and _bill(db, bill).refunded_fen == 1200
    with pytest.raises(InvalidInput) as too_much:
        request_refund(db, bill.id, 3801, "超额", institution_id=bill.institution_id)
    assert too_much.value.errors[0].field == "amount_fen"
    request_refund(db, bill.id, 3800, "余款", institution_id=bill.institution_id)
    db.commit()
    assert _bill(db, bill).status == "refunded" and _bill(db, bill).refunded_fen == 5000


def test_a_bill_that_is_not_paid_cannot_be_refunded(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from tests.factories import make_institution, make_patient
    from tests.factories_billing import make_bill

    bill = make_bill(db, make_patient(db, make_institution(db)))
    with pytest.raises(RefundNotAllowed):
        request_refund(db, bill.id, 100, "test", institution_id=bill.institution_id)


def test_a_refund_of_another_institutions_bill_is_not_found(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from ihis.billing.service import BillNotFound

    bill = _pay_at_cashier(client, db, settings, 5000)
    with pytest.raises(BillNotFound):
        request_refund(db, bill.id, 100, "test", institution_id=bill.institution_id + 999)


def test_the_daily_statement_lists_the_payment_and_the_refund(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from ihis.integrations.payment.channels import channel_client
    from ihis.platform.clock import local_today
    from ihis.platform.jobs import runtime
    from tests.factories_billing import attempt_of

    bill = _pay_at_cashier(client, db, settings, 4400)
    request_refund(db, bill.id, 400, "部分退费", institution_id=bill.institution_id)
    db.commit()
    statement = channel_client("wechat", settings, runtime().http, db).download_statement(local_today())
    out_trade_no = attempt_of(db, bill).out_trade_no
    rows = [line for line in statement.splitlines() if f"`{out_trade_no}" in line]
    assert len(rows) == 2
    assert "`SUCCESS" in rows[0] and "`44.00" in rows[0]
    assert "`REFUND" in rows[1] and "`4.00" in rows[1]


def test_a_refund_whose_notify_was_lost_is_settled_by_the_refund_query(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import datetime as dt

    from sqlalchemy import update

    from ihis.billing.maintenance import chase_refunds
    from ihis.platform.clock import utcnow
    from ihis.platform.jobs import runtime

    bill = _pay_at_cashier(client, db, settings, 5000)
    refund = request_refund(db, bill.id, 5000, "患者取消挂号", institution_id=bill.institution_id)
    db.commit()
    # As if the channel had answered PROCESSING and its REFUND.SUCCESS notify never arrived.
    db.execute(update(Refund).where(Refund.id == refund.id).values(status="processing", succeeded_at=None))
    db.execute(update(Bill).where(Bill.id == bill.id).values(status="refunding", refunded_fen=0))
    db.commit()
    assert chase_refunds(runtime(), utcnow()) == 0  # not overdue yet
    assert chase_refunds(runtime(), utcnow() + dt.timedelta(minutes=6)) == 1
    assert _bill(db, bill).status == "refunded"
    assert db.get(Refund, refund.id, populate_existing=True).status == "succeeded"  # type: ignore[union-attr]
