"""Alipay (支付宝) open platform, mobile web payments (``alipay.trade.wap.pay``), RSA2 signed.

Requests are form/query parameters signed with SHA256withRSA by the app key over the sorted
``k=v&...`` of every non-empty parameter except ``sign``. Answers are JSON ``{"<method>_response":
{...}, "sign": "..."}`` signed by Alipay over the raw inner object; async notifications are form
POSTs signed by Alipay (``sign`` and ``sign_type`` excluded from the signed text). We answer a
notify with the body ``success``; anything else makes Alipay retry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import httpx
from sqlalchemy.orm import Session

from ihis.integrations.payment import rsa
from ihis.integrations.payment.protocol import (
    Answer,
    ChannelName,
    Notice,
    NotifyRejected,
    PaymentRejected,
    PaymentUnavailable,
    Prepay,
    RefundOutcome,
    Trade,
    TradeState,
)
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.settings import Settings

SANDBOX_PATH: Final = "/sandbox/alipay"
NOTIFY_PATH: Final = "/api/v1/payments/notify/alipay"
CODE_SUCCESS: Final = "10000"
# Alipay's notify retry schedule: 4m,10m,10m,1h,2h,6h,15h (8 notifications within 25 hours).
NOTIFY_RETRY_SECONDS: Final = (240, 600, 600, 3600, 7200, 21600, 54000)
_TRADE_STATES: Final[dict[str, TradeState]] = {
    "WAIT_BUYER_PAY": "unpaid",
    "TRADE_SUCCESS": "paid",
    "TRADE_FINISHED": "paid",
    "TRADE_CLOSED": "closed",
}


@dataclass(frozen=True)
class AlipayConfig:
    """App credentials and the gateway of Alipay."""

    gateway_url: str
    app_id: str
    private_key_pem: str
    alipay_public_pem: str
    notify_url: str

    @classmethod
    def from_settings(cls, settings: Settings, db: Session | None = None) -> AlipayConfig:
        """Settings; in sandbox mode the missing values are the installation's sandbox credentials."""
        s = settings
        values: dict[str, str | None] = {
            "gateway_url": s.alipay_api_url,
            "app_id": s.alipay_app_id,
            "private_key_pem": s.alipay_private_key_pem.get_secret_value()
            if s.alipay_private_key_pem
            else None,
            "alipay_public_pem": s.alipay_public_key_pem,
        }
        if s.sandbox and db is not None:
            from ihis.integrations.payment.sandbox_keys import sandbox_credentials

            creds = sandbox_credentials(db, "alipay")
            defaults = {
                "gateway_url": s.public_url(SANDBOX_PATH + "/gateway.do"),
                "app_id": creds.app_id,
                "private_key_pem": creds.merchant_private_pem,
                "alipay_public_pem": creds.channel_public_pem,
            }
            values = {k: values[k] or defaults[k] for k in values}
        if not all(values.values()):
            raise PaymentUnavailable("not_configured")
        return cls(
            gateway_url=str(values["gateway_url"]),
            app_id=str(values["app_id"]),
            private_key_pem=str(values["private_key_pem"]),
            alipay_public_pem=str(values["alipay_public_pem"]),
            notify_url=s.public_url(NOTIFY_PATH),
        )


# --- signatures and amounts (shared with the sandbox) -------------------------------------------


def signing_text(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    """Sorted ``k=v&...`` of the non-empty parameters, raw (not URL-encoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != "")


def sign_params(params: dict[str, str], private_pem: str) -> dict[str, str]:
    """``params`` with ``sign`` added (requests: ``sign_type`` is part of the signed text)."""
    return {**params, "sign": rsa.sign(private_pem, signing_text(params))}


def verify_notify_params(params: Mapping[str, str], public_pem: str) -> bool:
    """Async notify check: ``sign`` and ``sign_type`` are left out of the signed text."""
    return params.get("sign_type") == "RSA2" and rsa.verify(
        public_pem, signing_text(params, exclude=("sign", "sign_type")), params.get("sign", "")
    )


def yuan(fen: int) -> str:
    """Integer fen as Alipay's yuan string: 8801 -> ``88.01``."""
    return f"{fen // 100}.{fen % 100:02d}"


def fen_of(text: str | None) -> int | None:
    """Alipay's yuan string as integer fen; None unless exact to the fen."""
    try:
        value = Decimal(str(text)) * 100
    except (InvalidOperation, TypeError):
        return None
    return int(value) if value == value.to_integral_value() else None


def format_time(moment: dt.datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time."""
    return moment.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str | None) -> dt.datetime | None:
    """A Beijing ``yyyy-MM-dd HH:mm:ss`` as aware UTC."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=HOSPITAL_TZ).astimezone(dt.UTC)
    except ValueError:
        return None


def response_key(method: str) -> str:
    """``alipay.trade.query`` -> ``alipay_trade_query_response``."""
    return method.replace(".", "_") + "_response"


def signed_response(method: str, inner: Mapping[str, Any], private_pem: str) -> str:
    """An answer body: the inner object's exact JSON text is what Alipay signs."""
    raw = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
    return f'{{"{response_key(method)}":{raw},"sign":"{rsa.sign(private_pem, raw)}"}}'


def _inner_text(body: str, method: str) -> str | None:
    """The raw text of the inner object, cut out as Alipay's SDKs do (re-serialising would break it)."""
    head = f'"{response_key(method)}":'
    start = body.find(head)
    end = body.rfind(',"sign":')
    if start < 0 or end < 0:
        return None
    return body[start + len(head) : end]


# --- the client ---------------------------------------------------------------------------------


class AlipayClient:
    """``PaymentChannel`` over the Alipay open platform gateway."""

    name: ChannelName = "alipay"

    def __init__(self, http: httpx.Client, config: AlipayConfig) -> None:
        self.http = http
        self.config = config

    def _params(self, method: str, biz: Mapping[str, Any], **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": format_time(utcnow()),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **extra,
        }
        return sign_params(params, self.config.private_key_pem)

    def _call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(self.config.gateway_url, data=self._params(method, biz))
        except httpx.HTTPError as exc:
            raise PaymentUnavailable(f"transport:{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PaymentUnavailable("gateway_error", response.status_code)
        text = response.text
        inner = _inner_text(text, method)
        try:
            sign = json.loads(text).get("sign", "")
        except ValueError as exc:
            raise PaymentUnavailable("bad_answer") from exc
        if inner is None or not rsa.verify(self.config.alipay_public_pem, inner, sign):
            raise PaymentUnavailable("answer_signature_mismatch")
        answer: dict[str, Any] = json.loads(inner)
        return answer

    def prepay(
        self, out_trade_no: str, amount_fen: int, subject: str, expires_at: dt.datetime, return_url: str
    ) -> Prepay:
        """``alipay.trade.wap.pay`` is page-executed: the signed gateway URL is the cashier URL."""
        params = self._params(
            "alipay.trade.wap.pay",
            {
                "out_trade_no": out_trade_no,
                "total_amount": yuan(amount_fen),
                "subject": subject[:256],
                "product_code": "QUICK_WAP_WAY",
                "time_expire": format_time(expires_at),
            },
            notify_url=self.config.notify_url,
            return_url=return_url,
        )
        return Prepay(cashier_url=f"{self.config.gateway_url}?{urlencode(params)}", prepay_id=None)

    def query(self, out_trade_no: str) -> Trade:
        """``alipay.trade.query``; an order never opened (``ACQ.TRADE_NOT_EXIST``) is unpaid."""
        answer = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if answer.get("code") != CODE_SUCCESS:
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return Trade(out_trade_no, "unpaid", None, None, None)
            raise PaymentRejected(str(answer.get("sub_code") or answer.get("code")))
        return Trade(
            out_trade_no=str(answer.get("out_trade_no", out_trade_no)),
            state=_TRADE_STATES.get(str(answer.get("trade_status", "")), "unknown"),
            transaction_id=answer.get("trade_no") or None,
            amount_fen=fen_of(answer.get("total_amount")),
            paid_at=parse_time(answer.get("send_pay_date")),
        )

    def close(self, out_trade_no: str) -> None:
        """``alipay.trade.close``; an order never opened needs no closing."""
        answer = self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if answer.get("code") != CODE_SUCCESS and answer.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise PaymentRejected(str(answer.get("sub_code") or answer.get("code")))

    def refund(
        self, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundOutcome:
        """``alipay.trade.refund``: Alipay refunds synchronously (``fund_change = Y``)."""
        answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": out_trade_no,
                "refund_amount": yuan(amount_fen),
                "out_request_no": out_refund_no,
                "refund_reason": reason[:80],
            },
        )
        if answer.get("code") != CODE_SUCCESS:
            raise PaymentRejected(str(answer.get("sub_code") or answer.get("code")))
        done = answer.get("fund_change") == "Y"
        return RefundOutcome(
            out_refund_no=out_refund_no,
            state="succeeded" if done else "processing",
            refund_id=f"{answer.get('trade_no')}-{out_refund_no}",
            amount_fen=amount_fen,
            succeeded_at=parse_time(answer.get("gmt_refund_pay")) or (utcnow() if done else None),
        )

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundOutcome:
        """``alipay.trade.fastpay.refund.query``."""
        answer = self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_refund_no},
        )
        if answer.get("code") != CODE_SUCCESS:
            raise PaymentRejected(str(answer.get("sub_code") or answer.get("code")))
        done = answer.get("refund_status") == "REFUND_SUCCESS"
        return RefundOutcome(
            out_refund_no=out_refund_no,
            state="succeeded" if done else "processing",
            refund_id=f"{answer.get('trade_no')}-{out_refund_no}",
            amount_fen=fen_of(answer.get("refund_amount")),
            succeeded_at=parse_time(answer.get("gmt_refund_pay")),
        )

    def parse_notify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the RSA2 signature of the form and decode ``trade_status_sync``."""
        params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        if not verify_notify_params(params, self.config.alipay_public_pem):
            raise NotifyRejected("signature_mismatch")
        if params.get("app_id") != self.config.app_id:
            raise NotifyRejected("app_mismatch")
        if not params.get("notify_id") or not params.get("out_trade_no"):
            raise NotifyRejected("malformed_notify")
        trade = Trade(
            out_trade_no=params["out_trade_no"],
            state=_TRADE_STATES.get(params.get("trade_status", ""), "unknown"),
            transaction_id=params.get("trade_no") or None,
            amount_fen=fen_of(params.get("total_amount")),
            paid_at=parse_time(params.get("gmt_payment")),
        )
        return Notice(notify_id=params["notify_id"], trade=trade)

    def success_answer(self) -> Answer:
        """Alipay stops retrying when the body is exactly ``success``."""
        return Answer(200, b"success", "text/plain")

    def failure_answer(self, reason: str) -> Answer:
        """Any other body makes Alipay retry."""
        return Answer(200, b"failure", "text/plain")

    def download_statement(self, bill_date: dt.date) -> str:
        """``alipay.data.dataservice.bill.downloadurl.query`` then the download URL."""
        answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": bill_date.isoformat()},
        )
        if answer.get("code") != CODE_SUCCESS:
            raise PaymentRejected(str(answer.get("sub_code") or answer.get("code")))
        try:
            response = self.http.get(str(answer.get("bill_download_url", "")))
        except httpx.HTTPError as exc:
            raise PaymentUnavailable(f"transport:{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PaymentUnavailable("statement_download_failed", response.status_code)
        return response.content.decode("utf-8")
