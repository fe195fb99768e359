"""WeChat Pay API v3 (H5 payments): signed requests, verified answers and notifications.

Requests carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,
timestamp=..,serial_no=..`` where the signature is SHA256withRSA by the merchant key over
``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``. Answers and notifications are signed by the
platform key over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers ``Wechatpay-*``); a notify's ``resource``
is AEAD_AES_256_GCM-encrypted with the APIv3 key. We answer a notify with HTTP 204.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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
    RefundState,
    Trade,
    TradeState,
)
from ihis.platform.clock import HOSPITAL_TZ
from ihis.settings import Settings

SCHEME: Final = "WECHATPAY2-SHA256-RSA2048"
SANDBOX_PATH: Final = "/sandbox/wechatpay"
NOTIFY_PATH: Final = "/api/v1/payments/notify/wechat"
# The platform refuses (and we refuse) signatures older than 5 minutes: replay protection.
TIMESTAMP_TOLERANCE_SECONDS: Final = 300
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
                "api_url": s.public_base_url.rstrip("/") + SANDBOX_PATH,
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
        return cls(**values, notify_url=s.public_base_url.rstrip("/") + NOTIFY_PATH)


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


# --- signatures (shared with the sandbox) -----------------------------------------------------


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    """The signed text of a request: ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (URL = path?query)."""
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: str) -> str:
    """The signed text of an answer or a notify: ``TIMESTAMP\\nNONCE\\nBODY\\n``."""
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(method: str, url: str, body: str, *, mch_id: str, serial: str, private_pem: str) -> str:
    """The ``Authorization`` header of one request (fresh nonce and timestamp)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16).upper()
    signature = rsa.sign(private_pem, request_message(method, url, timestamp, nonce, body))
    return (
        f'{SCHEME} mchid="{mch_id}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial}"'
    )


def parse_authorization(header: str) -> dict[str, str] | None:
    """The fields of a ``WECHATPAY2-SHA256-RSA2048`` header, or None if it is not one."""
    scheme, _, rest = header.partition(" ")
    if scheme != SCHEME:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        fields[key] = value.strip('"')
    required = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    return fields if required <= fields.keys() else None


def signed_headers(body: str, *, serial: str, private_pem: str) -> dict[str, str]:
    """``Wechatpay-*`` headers signing an answer or a notify body."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa.sign(private_pem, answer_message(timestamp, nonce, body)),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def verify_signed(headers: Mapping[str, str], body: str, public_pem: str, serial: str | None) -> str | None:
    """None if the ``Wechatpay-*`` headers sign ``body``; otherwise the reason it is refused."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get("wechatpay-timestamp", "")
    nonce = lower.get("wechatpay-nonce", "")
    signature = lower.get("wechatpay-signature", "")
    if not (timestamp and nonce and signature):
        return "signature_headers_missing"
    if serial is not None and lower.get("wechatpay-serial") != serial:
        return "unknown_platform_serial"
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return "timestamp_out_of_window"
    if not rsa.verify(public_pem, answer_message(timestamp, nonce, body), signature):
        return "signature_mismatch"
    return None


def encrypt_resource(api_v3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """A notify ``resource``: AEAD_AES_256_GCM with a 12-character nonce, base64 ciphertext+tag."""
    nonce = secrets.token_hex(6)
    data = AESGCM(api_v3_key.encode()).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(data).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def decrypt_resource(api_v3_key: str, resource: Mapping[str, Any]) -> str:
    """The plaintext of a notify ``resource``; ``NotifyRejected`` if it does not decrypt."""
    try:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotifyRejected("unsupported_algorithm")
        data = AESGCM(api_v3_key.encode()).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"])),
            str(resource.get("associated_data") or "").encode() or None,
        )
    except (InvalidTag, KeyError, ValueError) as exc:
        raise NotifyRejected("resource_decryption_failed") from exc
    return data.decode()


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes it (``2026-11-21T10:34:56+08:00``)."""
    return moment.astimezone(HOSPITAL_TZ).replace(microsecond=0).isoformat()


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time of WeChat Pay, as aware UTC."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError:
        return None


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
