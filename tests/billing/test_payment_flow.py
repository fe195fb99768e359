"""Paying a bill end to end over HTTP: our API, the sandbox cashier, the signed notify, the bill."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, ChannelTransaction
from ihis.integrations.payment.models import SandboxPaymentNotify
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_billing import attempt_of, make_bill
from tests.factories_patient import make_consented_patient


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _cashier_form(client: TestClient, cashier_url: str) -> tuple[str, str | None]:
    page = client.get(_relative(cashier_url), follow_redirects=True)
    assert page.status_code == 200, page.text
    assert "data-testid='cashier-pay'" in page.text and "data-testid='cashier-cancel'" in page.text
    action = re.search(r"action='([^']+)'", page.text)
    redirect = re.search(r"name='redirect_url' value='([^']+)'", page.text)
    assert action is not None
    return action.group(1), (redirect.group(1).replace("&amp;", "&") if redirect else None)


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_patient_pays_at_the_sandbox_cashier_and_the_notify_marks_the_bill_paid(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, channel: str
) -> None:
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    bill = make_bill(db, patient, amount_fen=3800)
    login_as(client, db, patient, settings)

    started = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": channel})
    assert started.status_code == 200, started.text
    cashier_url = started.json()["cashier_url"]

    action, redirect = _cashier_form(anon, cashier_url)
    form = {"action": "pay"} | ({"redirect_url": redirect} if redirect else {})
    paid = anon.post(action, data=form, follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["location"].endswith(f"/app/bills/{bill.id}")

    db.expire_all()
    assert db.get(Bill, bill.id).status == "paid"  # type: ignore[union-attr]
    assert db.get(Bill, bill.id).channel == channel  # type: ignore[union-attr]
    assert attempt_of(db, bill).status == "paid"
    assert (
        db.scalar(
            select(func.count()).select_from(ChannelTransaction).where(ChannelTransaction.bill_id == bill.id)
        )
        == 1
    )
    notify = db.scalars(select(SandboxPaymentNotify).order_by(SandboxPaymentNotify.id.desc())).first()
    assert notify is not None and notify.status == "delivered" and notify.attempts == 1
    assert (
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic == "billing.bill_paid.test", OutboxMessage.key == f"bill-{bill.id}")
        )
        == 1
    )

    detail = client.get(f"/api/v1/me/bills/{bill.id}")
    assert detail.status_code == 200
    assert detail.json()["status"] == "paid"


def test_declining_at_the_cashier_leaves_the_bill_unpaid(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    bill = make_bill(db, patient)
    login_as(client, db, patient, settings)
    cashier_url = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"}).json()[
        "cashier_url"
    ]
    action, redirect = _cashier_form(anon, cashier_url)
    answer = anon.post(
        action, data={"action": "cancel", "redirect_url": redirect or ""}, follow_redirects=False
    )
    assert answer.status_code == 303
    db.expire_all()
    assert db.get(Bill, bill.id).status == "unpaid"  # type: ignore[union-attr]
    assert attempt_of(db, bill).status == "awaiting"


def test_paying_twice_at_the_same_channel_reuses_the_channel_order(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    bill = make_bill(db, patient)
    login_as(client, db, patient, settings)
    first = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"}).json()["cashier_url"]
    second = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"}).json()["cashier_url"]
    assert first == second


def test_an_unavailable_channel_answers_502_and_marks_the_attempt_failed(
    app,
    client: TestClient,
    db: Session,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    inst = make_institution(db)
    patient = make_consented_patient(db, inst)
    bill = make_bill(db, patient)
    login_as(client, db, patient, settings)
    app.state.settings = settings.model_copy(update={"wechatpay_api_url": "http://testserver/nowhere"})
    answer = client.post(f"/api/v1/me/bills/{bill.id}/pay", json={"channel": "wechat"})
    assert answer.status_code == 502 and answer.json()["code"] == "payment_channel_failed"
    assert attempt_of(db, bill).status == "failed"
    db.expire_all()
    assert db.get(Bill, bill.id).status == "unpaid"  # type: ignore[union-attr]
