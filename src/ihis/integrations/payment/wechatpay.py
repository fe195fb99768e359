"""WeChat Pay API v3 (H5 payments): signed requests, verified answers and notifications.

Requests carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,
timestamp=..,serial_no=..`` where the signature is SHA256withRSA by the merchant key over
``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``. Answers and notifications are signed by the
platform key over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers ``Wechatpay-*``); a notify's ``resource``
is AEAD_AES_256_GCM-encrypted with the APIv3 key. We answer a notify with HTTP 204.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from sqlalchemy.orm import Session

from ihis.integrations.payment.protocol import (
    Answer,
    ChannelName,
    Notice,
    NotifyRejected,
    PaymentRejected,
    PaymentUnavailable,
    Prepay,
    RefundOutcome,
    RefundState,
    Trade,
    TradeState,
)
from ihis.integrations.payment.wechatpay_signing import (
    SCHEME,
    TIMESTAMP_TOLERANCE_SECONDS,
    answer_message,
    authorization,
    decrypt_resource,
    encrypt_resource,
    format_time,
    parse_authorization,
    parse_time,
    request_message,
    signed_headers,
    verify_signed,
)
from ihis.settings import Settings

__all__ = [
    "SCHEME",
    "TIMESTAMP_TOLERANCE_SECONDS",
    "WechatPayClient",
    "WechatPayConfig",
    "answer_message",
    "authorization",
    "decrypt_resource",
    "encrypt_resource",
    "format_time",
    "parse_authorization",
    "parse_time",
    "request_message",
    "signed_headers",
    "verify_signed",
]

SANDBOX_PATH: Final = "/sandbox/wechatpay"
NOTIFY_PATH: Final = "/api/v1/payments/notify/wechat"
# WeChat's own notify retry schedule (seconds): 15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h.
NOTIFY_RETRY_SECONDS: Final = (
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
)

_TRADE_STATES: Final[dict[str, TradeState]] = {
    "SUCCESS": "paid",
    "NOTPAY": "unpaid",
    "USERPAYING": "unpaid",
    "PAYERROR": "unpaid",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "REFUND": "refunded",
}
_REFUND_STATES: Final[dict[str, RefundState]] = {
    "SUCCESS": "succeeded",
    "PROCESSING": "processing",
    "CLOSED": "failed",
    "ABNORMAL": "failed",
}


@dataclass(frozen=True)
class WechatPayConfig:
    """Merchant credentials and endpoints of WeChat Pay."""

    api_url: str
    mch_id: str
    app_id: str
    api_v3_key: str
    private_key_pem: str
    cert_serial: str
    platform_public_pem: str
    platform_serial: str | None
    notify_url: str

    @classmethod
    def from_settings(cls, settings: Settings, db: Session | None = None) -> WechatPayConfig:
        """Settings; in sandbox mode the missing values are the installation's sandbox credentials."""
        s = settings
        values: dict[str, Any] = {
            "api_url": s.wechatpay_api_url,
            "mch_id": s.wechatpay_mch_id,
            "app_id": s.wechatpay_app_id,
            "api_v3_key": s.wechatpay_api_v3_key.get_secret_value() if s.wechatpay_api_v3_key else None,
            "private_key_pem": (
                s.wechatpay_private_key_pem.get_secret_value() if s.wechatpay_private_key_pem else None
            ),
            "cert_serial": s.wechatpay_cert_serial,
            "platform_public_pem": _public_pem(s.wechatpay_platform_cert_pem),
            "platform_serial": None,
        }
        if s.sandbox and db is not None:
            from ihis.integrations.payment.sandbox_keys import sandbox_credentials

            creds = sandbox_credentials(db, "wechat")
            defaults = {
                "api_url": s.public_url(SANDBOX_PATH),
                "mch_id": creds.merchant_id,
                "app_id": creds.app_id,
                "api_v3_key": creds.api_key,
                "private_key_pem": creds.merchant_private_pem,
                "cert_serial": creds.merchant_serial,
                "platform_public_pem": creds.channel_public_pem,
                "platform_serial": creds.channel_serial,
            }
            values = {k: values[k] or defaults[k] for k in values}
        missing = [k for k in values if k != "platform_serial" and not values[k]]
        if missing:
            raise PaymentUnavailable("not_configured")
        values["api_url"] = str(values["api_url"]).rstrip("/")
        return cls(**values, notify_url=s.public_url(NOTIFY_PATH))


def _public_pem(pem: str | None) -> str | None:
    """The platform public key, given as a public key PEM or as the platform certificate PEM."""
    if not pem or "CERTIFICATE" not in pem:
        return pem
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pem.encode())
    return (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# --- the client ---------------------------------------------------------------------------------


class WechatPayClient:
    """``PaymentChannel`` over WeChat Pay API v3 (H5)."""

    name: ChannelName = "wechat"

    def __init__(self, http: httpx.Client, config: WechatPayConfig) -> None:
        self.http = http
        self.config = config

    def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        auth = authorization(
            method,
            path,
            body,
            mch_id=self.config.mch_id,
            serial=self.config.cert_serial,
            private_pem=self.config.private_key_pem,
        )
        headers = {"Authorization": auth, "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method, self.config.api_url + path, content=body.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            raise PaymentUnavailable(f"transport:{type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise PaymentUnavailable("SYSTEM_ERROR", response.status_code)
        text = response.text
        refused = verify_signed(
            response.headers, text, self.config.platform_public_pem, self.config.platform_serial
        )
        if refused is not None:
            raise PaymentUnavailable(f"answer_{refused}", response.status_code)
        answer: dict[str, Any] = json.loads(text) if text else {}
        return response.status_code, answer

    def _checked(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        status, answer = self._call(method, path, payload)
        if status >= 400:
            raise PaymentRejected(str(answer.get("code", "FAIL")), status)
        return answer

    def prepay(
        self, out_trade_no: str, amount_fen: int, subject: str, expires_at: dt.datetime, return_url: str
    ) -> Prepay:
        """``POST /v3/pay/transactions/h5``: the H5 cashier URL (``h5_url`` + ``redirect_url``)."""
        answer = self._checked(
            "POST",
            "/v3/pay/transactions/h5",
            {
                "appid": self.config.app_id,
                "mchid": self.config.mch_id,
                "description": subject[:127],
                "out_trade_no": out_trade_no,
                "time_expire": format_time(expires_at),
                "notify_url": self.config.notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"},
                "scene_info": {"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}},
            },
        )
        h5_url = str(answer.get("h5_url") or "")
        if not h5_url:
            raise PaymentUnavailable("no_h5_url")
        prepay_id = parse_qs(urlsplit(h5_url).query).get("prepay_id", [None])[0]
        return Prepay(cashier_url=f"{h5_url}&redirect_url={quote(return_url, safe='')}", prepay_id=prepay_id)

    def query(self, out_trade_no: str) -> Trade:
        """``GET /v3/pay/transactions/out-trade-no/{no}?mchid=``."""
        status, answer = self._call(
            "GET", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?mchid={self.config.mch_id}"
        )
        if status == 404:
            return Trade(out_trade_no, "unpaid", None, None, None)  # ORDER_NOT_EXIST: nothing was paid
        if status >= 400:
            raise PaymentRejected(str(answer.get("code", "FAIL")), status)
        return trade_of(answer)

    def close(self, out_trade_no: str) -> None:
        """``POST /v3/pay/transactions/out-trade-no/{no}/close`` (204)."""
        self._checked(
            "POST",
            f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}/close",
            {"mchid": self.config.mch_id},
        )

    def refund(
        self, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundOutcome:
        """``POST /v3/refund/domestic/refunds``."""
        answer = self._checked(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "reason": reason[:80],
                "notify_url": self.config.notify_url,
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            },
        )
        return refund_of(answer)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundOutcome:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}``."""
        return refund_of(self._checked("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no)}"))

    def parse_notify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the platform signature, decrypt ``resource``, decode a payment or refund result."""
        text = body.decode("utf-8", errors="replace")
        refused = verify_signed(headers, text, self.config.platform_public_pem, self.config.platform_serial)
        if refused is not None:
            raise NotifyRejected(refused)
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            event_type = str(envelope["event_type"])
            notify_id = str(envelope["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise NotifyRejected("malformed_notify") from exc
        try:
            content = json.loads(decrypt_resource(self.config.api_v3_key, resource))
        except ValueError as exc:
            raise NotifyRejected("malformed_resource") from exc
        if str(content.get("mchid", "")) != self.config.mch_id:
            raise NotifyRejected("merchant_mismatch")
        if event_type.startswith("TRANSACTION."):
            return Notice(notify_id=notify_id, trade=trade_of(content))
        if event_type.startswith("REFUND."):
            return Notice(notify_id=notify_id, refund=refund_of(content))
        raise NotifyRejected("unknown_event_type")

    def success_answer(self) -> Answer:
        """WeChat Pay v3 takes HTTP 204 (no body) as received."""
        return Answer(204, b"", None)

    def failure_answer(self, reason: str) -> Answer:
        """Any 4xx/5xx makes WeChat Pay retry; the body follows its ``{code, message}`` shape."""
        body = json.dumps({"code": "FAIL", "message": reason}).encode()
        return Answer(400, body, "application/json")

    def download_statement(self, bill_date: dt.date) -> str:
        """``GET /v3/bill/tradebill?bill_date=`` then the download URL; SHA1 checked."""
        answer = self._checked("GET", f"/v3/bill/tradebill?bill_date={bill_date.isoformat()}&bill_type=ALL")
        url = str(answer.get("download_url", ""))
        path = urlsplit(url).path.removeprefix(urlsplit(self.config.api_url).path)
        query = urlsplit(url).query
        full = path + (f"?{query}" if query else "")
        auth = authorization(
            "GET",
            full,
            "",
            mch_id=self.config.mch_id,
            serial=self.config.cert_serial,
            private_pem=self.config.private_key_pem,
        )
        try:
            response = self.http.get(url, headers={"Authorization": auth})
        except httpx.HTTPError as exc:
            raise PaymentUnavailable(f"transport:{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PaymentUnavailable("statement_download_failed", response.status_code)
        if hashlib.sha1(response.content).hexdigest() != str(answer.get("hash_value", "")).lower():  # noqa: S324
            raise PaymentUnavailable("statement_hash_mismatch")
        return response.content.decode("utf-8")


def trade_of(content: Mapping[str, Any]) -> Trade:
    """A ``Trade`` from a transaction object (query answer or decrypted notify)."""
    amount = content.get("amount") or {}
    total = amount.get("total")
    return Trade(
        out_trade_no=str(content.get("out_trade_no", "")),
        state=_TRADE_STATES.get(str(content.get("trade_state", "")), "unknown"),
        transaction_id=content.get("transaction_id") or None,
        amount_fen=int(total) if isinstance(total, int) else None,
        paid_at=parse_time(content.get("success_time")),
    )


def refund_of(content: Mapping[str, Any]) -> RefundOutcome:
    """A ``RefundOutcome`` from a refund object (answer or decrypted notify)."""
    amount = content.get("amount") or {}
    refund = amount.get("refund")
    status = str(content.get("status") or content.get("refund_status") or "")
    return RefundOutcome(
        out_refund_no=str(content.get("out_refund_no", "")),
        state=_REFUND_STATES.get(status, "processing"),
        refund_id=content.get("refund_id") or None,
        amount_fen=int(refund) if isinstance(refund, int) else None,
        succeeded_at=parse_time(content.get("success_time")),
    )
