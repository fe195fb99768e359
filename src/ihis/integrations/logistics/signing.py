"""Request signatures of the courier API, both directions (us -> courier, courier's pushes -> us).

Modelled on the HMAC schemes of Chinese courier open platforms (顺丰开放平台 ``msgDigest``,
菜鸟 ``data_digest``), tightened to cover the request line as well as the body::

    string_to_sign = METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + BODY
    X-Courier-Signature = base64(HMAC-SHA256(secret, string_to_sign))

with ``X-Courier-App-Id``, ``X-Courier-Timestamp`` (Unix seconds) and ``X-Courier-Nonce`` (random,
single use) beside it. The receiver refuses a timestamp more than five minutes off its clock and
a nonce it has seen within that window (replay protection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Final

APP_ID_HEADER: Final = "X-Courier-App-Id"
TIMESTAMP_HEADER: Final = "X-Courier-Timestamp"
NONCE_HEADER: Final = "X-Courier-Nonce"
SIGNATURE_HEADER: Final = "X-Courier-Signature"
TIMESTAMP_TOLERANCE_SECONDS: Final = 300
MAX_NONCE_LENGTH: Final = 64


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """The signed text of one request."""
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body}"


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """base64 HMAC-SHA256 of the request's string to sign."""
    mac = hmac.new(
        secret.encode(), string_to_sign(method, path, timestamp, nonce, body).encode(), hashlib.sha256
    )
    return base64.b64encode(mac.digest()).decode()


def signed_headers(app_id: str, secret: str, method: str, path: str, body: str) -> dict[str, str]:
    """The four signature headers of one request (fresh timestamp and nonce every time)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        APP_ID_HEADER: app_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, method, path, timestamp, nonce, body),
    }


def check(
    headers: Mapping[str, str], method: str, path: str, body: str, *, app_id: str, secret: str
) -> tuple[str | None, str]:
    """(None, nonce) if the headers sign this request now; otherwise (reason, nonce).

    The caller must still refuse a nonce it has already seen (``reason`` is None only for the
    stateless checks).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    got_app = lower.get(APP_ID_HEADER.lower(), "")
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    nonce = lower.get(NONCE_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    if not (got_app and timestamp and nonce and given):
        return "signature_headers_missing", nonce
    if len(nonce) > MAX_NONCE_LENGTH:
        return "nonce_too_long", ""
    if not hmac.compare_digest(got_app, app_id):
        return "unknown_app_id", nonce
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return "timestamp_out_of_window", nonce
    expected = signature(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, given):
        return "signature_mismatch", nonce
    return None, nonce
