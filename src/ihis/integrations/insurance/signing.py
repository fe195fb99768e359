"""Request signatures of the insurance platform API.

Follows the header scheme of the national medical insurance information platform's gateway
(国家医疗保障信息平台: ``x-tif-paasid``, ``x-tif-timestamp``, ``x-tif-nonce``,
``x-tif-signature``), with one deliberate strengthening: the platform's signature is SHA-256 of
``timestamp + token + nonce + timestamp`` and does not cover the body, ours is::

    x-tif-signature = base64(HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY))

The receiver refuses a timestamp more than five minutes off and a nonce seen before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Final

PAASID_HEADER: Final = "x-tif-paasid"
TIMESTAMP_HEADER: Final = "x-tif-timestamp"
NONCE_HEADER: Final = "x-tif-nonce"
SIGNATURE_HEADER: Final = "x-tif-signature"
TIMESTAMP_TOLERANCE_SECONDS: Final = 300
MAX_NONCE_LENGTH: Final = 64


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """base64 HMAC-SHA256 of the request's string to sign."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body}"
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def signed_headers(paasid: str, secret: str, method: str, path: str, body: str) -> dict[str, str]:
    """The four ``x-tif-*`` headers of one request (fresh timestamp and nonce every time)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        PAASID_HEADER: paasid,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, method, path, timestamp, nonce, body),
    }


def check(
    headers: Mapping[str, str], method: str, path: str, body: str, *, paasid: str, secret: str
) -> tuple[str | None, str]:
    """(None, nonce) if the headers sign this request now; otherwise (reason, nonce)."""
    lower = {k.lower(): v for k, v in headers.items()}
    got = lower.get(PAASID_HEADER, "")
    timestamp = lower.get(TIMESTAMP_HEADER, "")
    nonce = lower.get(NONCE_HEADER, "")
    given = lower.get(SIGNATURE_HEADER, "")
    if not (got and timestamp and nonce and given):
        return "signature_headers_missing", nonce
    if len(nonce) > MAX_NONCE_LENGTH:
        return "nonce_too_long", ""
    if not hmac.compare_digest(got, paasid):
        return "unknown_paasid", nonce
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return "timestamp_out_of_window", nonce
    if not hmac.compare_digest(signature(secret, method, path, timestamp, nonce, body), given):
        return "signature_mismatch", nonce
    return None, nonce
