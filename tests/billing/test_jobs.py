"""Jobs of billing and of the sandbox channels, with the clock passed in (no sleeping)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.billing.maintenance import close_expired_bills, recover_missing_notifies
from ihis.billing.models import Bill, ChannelTransaction, PaymentAttempt
from ihis.integrations.payment import sandbox_notify
from ihis.integrations.payment.models import SandboxPaymentNotify, SandboxPaymentOrder
from ihis.platform.clock import utcnow
from ihis.platform.jobs import runtime
from ihis.platform.outbox import HandlerContext, OutboxMessage
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_billing import attempt_of, make_bill
from tests.factories_patient import make_consented_patient


def _pay_at_cashier(
    client: TestClient, db: Session, settings: Settings, amount_fen: int, channel: str = "wechat"
) -> Bill:
    patient = make_consented_patient(db, make_institution(db))
    bill = make_bill(db, patient, amount_fen=amount_fen)
    login_as(client, db, patient, settings)
    url = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": channel}).json()["cashier_url"]
    parts = urlsplit(url)
    page = client.get(parts.path + "?" + parts.query, follow_redirects=True)
    action = re.search(r"action='([^']+)'", page.text)
    assert action is not None
    assert client.post(action.group(1), data={"action": "pay"}, follow_redirects=False).status_code in (
        200,
        303,
    )
    return bill


def _status(db: Session, bill: Bill) -> str:
    db.expire_all()
    found = db.get(Bill, bill.id)
    assert found is not None
    return found.status


def _age_attempt(db: Session, bill: Bill, seconds: int) -> None:
    db.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.bill_id == bill.id)
        .values(created_at=utcnow() - dt.timedelta(seconds=seconds))
    )
    db.commit()


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_missing_notify_is_recovered_by_the_query_job(
    client: TestClient, db: Session, settings: Settings, channel: str
) -> None:
    bill = _pay_at_cashier(client, db, settings, 3801, channel)  # ..01: the sandbox never notifies
    assert _status(db, bill) == "unpaid"
    assert recover_missing_notifies(runtime(), utcnow()) == 0  # not overdue yet
    _age_attempt(db, bill, 61)
    assert recover_missing_notifies(runtime(), utcnow()) == 1
    assert _status(db, bill) == "paid"
    [txn] = db.scalars(select(ChannelTransaction).where(ChannelTransaction.bill_id == bill.id))
    assert txn.source == "query" and txn.amount_fen == 3801
    assert recover_missing_notifies(runtime(), utcnow() + dt.timedelta(minutes=5)) == 0


def test_a_duplicated_notify_is_taken_once(client: TestClient, db: Session, settings: Settings) -> None:
    bill = _pay_at_cashier(client, db, settings, 3802)  # ..02: the sandbox sends it twice
    assert _status(db, bill) == "paid"
    delivered = db.scalars(
        select(SandboxPaymentNotify).where(SandboxPaymentNotify.status == "delivered")
    ).all()
    assert len(delivered) == 2
    assert (
        db.scalar(
            select(func.count()).select_from(ChannelTransaction).where(ChannelTransaction.bill_id == bill.id)
        )
        == 1
    )


def test_a_late_notify_after_the_query_job_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    bill = _pay_at_cashier(client, db, settings, 3803)  # ..03: held back until the first retry step
    assert _status(db, bill) == "unpaid"
    _age_attempt(db, bill, 61)
    assert recover_missing_notifies(runtime(), utcnow()) == 1
    assert sandbox_notify.deliver_due_notifies(runtime(), now=utcnow() + dt.timedelta(seconds=16)) == 1
    [late] = db.scalars(select(SandboxPaymentNotify).order_by(SandboxPaymentNotify.id.desc()).limit(1))
    assert late.status == "delivered"  # we answered success although we knew already
    assert (
        db.scalar(
            select(func.count()).select_from(ChannelTransaction).where(ChannelTransaction.bill_id == bill.id)
        )
        == 1
    )


def test_unpaid_bills_past_expiry_are_closed_here_and_at_the_channel(
    client: TestClient, db: Session, settings: Settings
) -> None:
    patient = make_consented_patient(db, make_institution(db))
    bill = make_bill(db, patient)
    login_as(client, db, patient, settings)
    assert client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"}).status_code == 200
    assert close_expired_bills(runtime(), utcnow()) == 0  # not expired yet
    db.execute(update(Bill).where(Bill.id == bill.id).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    assert close_expired_bills(runtime(), utcnow()) == 1
    assert _status(db, bill) == "closed"
    assert attempt_of(db, bill).status == "closed"
    order = db.scalar(
        select(SandboxPaymentOrder).where(
            SandboxPaymentOrder.out_trade_no == attempt_of(db, bill).out_trade_no
        )
    )
    assert order is not None and order.state == "closed"
    assert (
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic == "billing.bill_closed.test", OutboxMessage.key == f"bill-{bill.id}")
        )
        == 1
    )
    assert close_expired_bills(runtime(), utcnow()) == 0


def test_an_expired_bill_paid_at_the_channel_meanwhile_is_paid_not_closed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    bill = _pay_at_cashier(client, db, settings, 3801)  # paid, notify never sent
    db.execute(update(Bill).where(Bill.id == bill.id).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    assert close_expired_bills(runtime(), utcnow()) == 0
    assert _status(db, bill) == "paid"


def test_notifies_not_taken_are_retried_on_the_channel_schedule_then_abandoned(
    db: Session, settings: Settings
) -> None:
    scaled = settings.model_copy(update={"payment_notify_retry_scale": 0.5})
    refused: list[str] = []

    def endpoint_down(request):  # type: ignore[no-untyped-def]
        import httpx

        refused.append(str(request.url))
        return httpx.Response(500)

    import httpx

    ctx = HandlerContext(
        database=runtime().database,
        settings=scaled,
        http=httpx.Client(transport=httpx.MockTransport(endpoint_down)),
    )
    t0 = utcnow()
    row = SandboxPaymentNotify(
        channel="wechat",
        url="http://merchant.test/notify",
        headers="{}",
        body="{}",
        content_type="application/json",
        status="pending",
        attempts=0,
        next_attempt_at=t0,
        created_at=t0,
    )
    db.add(row)
    db.commit()
    notify_id = row.id
    now = t0
    for expected in (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600):
        assert sandbox_notify.deliver_notify(ctx, notify_id, now=now) is False
        found = db.get(SandboxPaymentNotify, notify_id, populate_existing=True)
        assert found is not None and found.next_attempt_at == now + dt.timedelta(seconds=expected * 0.5)
        assert (
            sandbox_notify.deliver_notify(ctx, notify_id, now=found.next_attempt_at - dt.timedelta(seconds=1))
            is None
        )
        now = found.next_attempt_at
    assert sandbox_notify.deliver_notify(ctx, notify_id, now=now) is False
    row = db.get(SandboxPaymentNotify, notify_id, populate_existing=True)
    assert row is not None and row.status == "abandoned" and row.attempts == 16
    assert len(refused) == 16
