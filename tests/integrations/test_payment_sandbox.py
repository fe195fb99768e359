"""The sandbox channels speak their protocols: unsigned or forged requests are refused, and the
adapters' query, close, refund and statement calls work through HTTP."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.integrations.payment import wechatpay
from ihis.integrations.payment.alipay import AlipayClient, AlipayConfig
from ihis.integrations.payment.channels import channel_client
from ihis.integrations.payment.protocol import PaymentRejected, PaymentUnavailable
from ihis.integrations.payment.rsa import generate_private_pem
from ihis.integrations.payment.wechatpay import WechatPayClient, WechatPayConfig
from ihis.platform.clock import local_today, utcnow
from ihis.platform.jobs import runtime
from ihis.settings import Settings
from tests.factories_billing import billing_app  # noqa: F401

EXPIRES = dt.timedelta(minutes=15)


def test_an_unsigned_wechat_request_is_refused_with_sign_error(client: TestClient) -> None:
    answer = client.post("/sandbox/wechatpay/v3/pay/transactions/h5", json={})
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"


def test_a_wechat_request_signed_with_another_key_is_refused(app, db: Session, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = WechatPayConfig.from_settings(settings, db)
    forged = WechatPayClient(
        runtime().http, config.__class__(**{**config.__dict__, "private_key_pem": generate_private_pem()})
    )
    with pytest.raises(PaymentRejected) as refused:
        forged.query("B-ANY")
    assert refused.value.status == 401


def test_an_answer_not_signed_by_the_platform_is_refused(app, db: Session, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = WechatPayConfig.from_settings(settings, db)
    fake = config.__class__(
        **{
            **config.__dict__,
            "platform_public_pem": wechatpay._public_pem(
                __import__("ihis.integrations.payment.rsa", fromlist=["x"]).public_pem_of(
                    generate_private_pem()
                )
            ),
        }
    )
    with pytest.raises(PaymentUnavailable) as refused:
        WechatPayClient(runtime().http, fake).query("B-ANY")
    assert refused.value.code == "answer_signature_mismatch"


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_query_close_and_statement_through_the_adapter(
    app, db: Session, settings: Settings, channel: str
) -> None:  # type: ignore[no-untyped-def]
    client = channel_client(channel, settings, runtime().http, db)
    out_trade_no = f"BTEST{channel.upper()}1"
    prepay = client.prepay(
        out_trade_no, 2500, "复诊挂号", utcnow() + EXPIRES, "http://testserver/app/bills/1"
    )
    assert prepay.cashier_url
    if channel == "alipay":  # page-executed: the order exists once the payer opens the URL
        assert client.query(out_trade_no).state == "unpaid"
        assert runtime().http.get(prepay.cashier_url, follow_redirects=False).status_code == 302
    trade = client.query(out_trade_no)
    assert trade.state == "unpaid" and trade.transaction_id is None
    client.close(out_trade_no)
    assert client.query(out_trade_no).state == "closed"
    statement = client.download_statement(local_today())
    assert ("交易时间" in statement) if channel == "wechat" else ("#支付宝业务明细查询" in statement)


def test_an_alipay_request_signed_with_another_key_is_refused(app, db: Session, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = AlipayConfig.from_settings(settings, db)
    forged = AlipayClient(
        runtime().http, config.__class__(**{**config.__dict__, "private_key_pem": generate_private_pem()})
    )
    with pytest.raises(PaymentRejected) as refused:
        forged.query("B-ANY")
    assert refused.value.code == "isv.invalid-signature"


def test_a_refund_of_an_unpaid_order_is_refused(app, db: Session, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = channel_client("wechat", settings, runtime().http, db)
    client.prepay("BTESTREFUND1", 900, "复诊挂号", utcnow() + EXPIRES, "http://testserver/")
    with pytest.raises(PaymentRejected):
        client.refund("BTESTREFUND1", "RTEST1", 900, 900, "test")


def test_production_settings_without_credentials_are_not_configured() -> None:
    with pytest.raises(PaymentUnavailable):
        WechatPayConfig.from_settings(Settings(sandbox=False))
    with pytest.raises(PaymentUnavailable):
        AlipayConfig.from_settings(Settings(sandbox=False))
    assert httpx  # the adapters take any httpx.Client (the process's outbound client in production)
