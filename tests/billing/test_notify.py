"""Our notify endpoints: forged, wrong-amount and unknown notifies are refused and audited;
duplicates change nothing; each channel gets its own success form."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, ChannelTransaction, PaymentAttempt
from ihis.billing.payments import new_out_trade_no
from ihis.integrations.payment import alipay, rsa, wechatpay
from ihis.integrations.payment.sandbox_keys import sandbox_credentials
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import utcnow
from tests.factories import make_institution, make_patient
from tests.factories_billing import make_bill

NOTIFY = "/api/v1/payments/notify/"


def awaiting_attempt(db: Session, bill: Bill, channel: str) -> PaymentAttempt:
    attempt = PaymentAttempt(
        institution_id=bill.institution_id,
        bill_id=bill.id,
        channel=channel,
        out_trade_no=new_out_trade_no(),
        amount_fen=bill.amount_fen,
        status="awaiting",
    )
    db.add(attempt)
    db.commit()
    return attempt


def wechat_notify(
    db: Session, attempt: PaymentAttempt, *, amount: int | None = None, txn: str = "4200001"
) -> tuple[dict[str, str], str]:
    """A notify exactly as the WeChat sandbox builds it (headers signed with the platform key)."""
    creds = sandbox_credentials(db, "wechat")
    content = {
        "mchid": creds.merchant_id,
        "appid": creds.app_id,
        "out_trade_no": attempt.out_trade_no,
        "transaction_id": txn,
        "trade_state": "SUCCESS",
        "success_time": wechatpay.format_time(utcnow()),
        "amount": {"total": attempt.amount_fen if amount is None else amount, "currency": "CNY"},
    }
    envelope = {
        "id": "EV-" + txn,
        "event_type": "TRANSACTION.SUCCESS",
        "resource_type": "encrypt-resource",
        "resource": {
            "original_type": "transaction",
            **wechatpay.encrypt_resource(creds.api_key, json.dumps(content), "transaction"),
        },
    }
    body = json.dumps(envelope)
    headers = wechatpay.signed_headers(
        body, serial=creds.channel_serial, private_pem=creds.channel_private_pem
    )
    return headers | {"Content-Type": "application/json"}, body


def alipay_notify(
    db: Session, attempt: PaymentAttempt, *, amount: int | None = None, txn: str = "2026112122001"
) -> str:
    creds = sandbox_credentials(db, "alipay")
    params = {
        "notify_id": "N" + txn,
        "notify_type": "trade_status_sync",
        "notify_time": alipay.format_time(utcnow()),
        "app_id": creds.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": txn,
        "out_trade_no": attempt.out_trade_no,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": alipay.yuan(attempt.amount_fen if amount is None else amount),
        "gmt_payment": alipay.format_time(utcnow()),
    }
    params["sign"] = rsa.sign(
        creds.channel_private_pem, alipay.signing_text(params, exclude=("sign", "sign_type"))
    )
    return urlencode(params)


def _transactions(db: Session, bill: Bill) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(ChannelTransaction).where(ChannelTransaction.bill_id == bill.id)
        )
        or 0
    )


def _rejections(db: Session) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "payment.notify.rejected")))


def test_a_wechat_notify_is_answered_204_and_a_replay_changes_nothing(anon: TestClient, db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    attempt = awaiting_attempt(db, bill, "wechat")
    headers, body = wechat_notify(db, attempt)
    for _ in range(3):
        answer = anon.post(NOTIFY + "wechat", content=body, headers=headers)
        assert answer.status_code == 204 and answer.content == b""
    db.expire_all()
    assert db.get(Bill, bill.id).status == "paid"  # type: ignore[union-attr]
    assert _transactions(db, bill) == 1


def test_an_alipay_notify_is_answered_success_and_a_replay_changes_nothing(
    anon: TestClient, db: Session
) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)), amount_fen=8801)
    attempt = awaiting_attempt(db, bill, "alipay")
    body = alipay_notify(db, attempt)
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    for _ in range(2):
        answer = anon.post(NOTIFY + "alipay", content=body, headers=form)
        assert answer.status_code == 200 and answer.text == "success"
    db.expire_all()
    assert db.get(Bill, bill.id).status == "paid"  # type: ignore[union-attr]
    assert _transactions(db, bill) == 1


def test_a_forged_wechat_notify_is_refused_and_audited(anon: TestClient, db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    attempt = awaiting_attempt(db, bill, "wechat")
    headers, body = wechat_notify(db, attempt)
    forged = rsa.sign(
        rsa.generate_private_pem(),
        wechatpay.answer_message(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body),
    )
    answer = anon.post(NOTIFY + "wechat", content=body, headers=headers | {"Wechatpay-Signature": forged})
    assert answer.status_code == 400
    assert answer.json()["code"] == "FAIL"
    db.expire_all()
    assert db.get(Bill, bill.id).status == "unpaid"  # type: ignore[union-attr]
    [event] = _rejections(db)
    assert event.outcome == "denied" and json.loads(event.detail or "{}") == {
        "channel": "wechat",
        "reason": "signature_mismatch",
    }


def test_a_tampered_alipay_notify_is_refused_and_audited(anon: TestClient, db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)), amount_fen=5000)
    attempt = awaiting_attempt(db, bill, "alipay")
    body = alipay_notify(db, attempt).replace("total_amount=50.00", "total_amount=0.01")
    answer = anon.post(
        NOTIFY + "alipay", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 200 and answer.text == "failure"
    db.expire_all()
    assert db.get(Bill, bill.id).status == "unpaid"  # type: ignore[union-attr]
    assert [json.loads(e.detail or "{}")["reason"] for e in _rejections(db)] == ["signature_mismatch"]


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_an_authentic_notify_with_the_wrong_amount_is_refused_and_audited(
    anon: TestClient, db: Session, channel: str
) -> None:
    inst = make_institution(db)
    bill = make_bill(db, make_patient(db, inst), amount_fen=5000)
    attempt = awaiting_attempt(db, bill, channel)
    if channel == "wechat":
        headers, body = wechat_notify(db, attempt, amount=1)
        answer = anon.post(NOTIFY + "wechat", content=body, headers=headers)
        assert answer.status_code == 400
    else:
        answer = anon.post(
            NOTIFY + "alipay",
            content=alipay_notify(db, attempt, amount=1),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.text == "failure"
    db.expire_all()
    assert db.get(Bill, bill.id).status == "unpaid"  # type: ignore[union-attr]
    assert _transactions(db, bill) == 0
    [event] = _rejections(db)
    assert event.institution_id == inst.id
    assert json.loads(event.detail or "{}") == {"channel": channel, "reason": "amount_mismatch"}


def test_a_notify_for_an_unknown_order_is_refused(anon: TestClient, db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    attempt = PaymentAttempt(
        institution_id=bill.institution_id,
        bill_id=bill.id,
        channel="wechat",
        out_trade_no="NOT-OURS-1",
        amount_fen=bill.amount_fen,
        status="awaiting",
    )
    headers, body = wechat_notify(db, attempt)
    assert anon.post(NOTIFY + "wechat", content=body, headers=headers).status_code == 400
    assert [json.loads(e.detail or "{}")["reason"] for e in _rejections(db)] == ["unknown_out_trade_no"]


def test_a_stale_wechat_signature_is_refused(anon: TestClient, db: Session) -> None:
    bill = make_bill(db, make_patient(db, make_institution(db)))
    attempt = awaiting_attempt(db, bill, "wechat")
    creds = sandbox_credentials(db, "wechat")
    headers, body = wechat_notify(db, attempt)
    old = str(int(headers["Wechatpay-Timestamp"]) - 600)
    headers |= {
        "Wechatpay-Timestamp": old,
        "Wechatpay-Signature": rsa.sign(
            creds.channel_private_pem, wechatpay.answer_message(old, headers["Wechatpay-Nonce"], body)
        ),
    }
    assert anon.post(NOTIFY + "wechat", content=body, headers=headers).status_code == 400
    assert [json.loads(e.detail or "{}")["reason"] for e in _rejections(db)] == ["timestamp_out_of_window"]


@pytest.mark.parametrize(
    ("channel", "body", "status"),
    [("wechat", b"not json", 400), ("wechat", b"", 400), ("alipay", b"%%%", 200), ("alipay", b"", 200)],
)
def test_a_malformed_notify_gets_the_failure_form(
    anon: TestClient, db: Session, channel: str, body: bytes, status: int
) -> None:
    answer = anon.post(NOTIFY + channel, content=body, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == status
    assert answer.text != "success"
    assert len(_rejections(db)) == 1
