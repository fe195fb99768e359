"""WeChat Pay API v3 signatures and notify encryption, shared by the client and the sandbox.

Requests: SHA256withRSA (merchant key) over ``METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`` in
``Authorization: WECHATPAY2-SHA256-RSA2048 ...``. Answers and notifies: SHA256withRSA (platform key)
over ``TIMESTAMP\nNONCE\nBODY\n`` in ``Wechatpay-*`` headers; a notify ``resource`` is
AEAD_AES_256_GCM with the APIv3 key.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ihis.integrations.payment import rsa
from ihis.integrations.payment.protocol import NotifyRejected
from ihis.platform.clock import HOSPITAL_TZ

SCHEME: Final = "WECHATPAY2-SHA256-RSA2048"
# The platform refuses (and we refuse) signatures older than 5 minutes: replay protection.
TIMESTAMP_TOLERANCE_SECONDS: Final = 300


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
