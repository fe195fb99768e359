"""The SMS provider protocol: Alibaba Cloud SMS ``SendSms`` (RPC style, API version 2017-05-25).

The production client (``client.py``) and the sandbox provider (``sandbox.py``) both use this
module, so they cannot drift apart. The request signature is Alibaba Cloud's RPC signature v1.0:

1. every request parameter except ``Signature`` is percent-encoded (RFC 3986, UTF-8: unreserved
   characters ``A-Z a-z 0-9 - _ . ~`` stay, a space becomes ``%20``, ``*`` becomes ``%2A``),
   sorted by encoded name and joined as ``name=value`` with ``&`` (the canonicalized query);
2. ``StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(canonicalized)``;
3. ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

Answers are JSON: ``{"Code": "OK", "Message": "OK", "BizId": ..., "RequestId": ...}`` on success,
otherwise ``Code`` names the error (``isv.BUSINESS_LIMIT_CONTROL``, ``SignatureDoesNotMatch``, ...).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

API_VERSION = "2017-05-25"
ACTION_SEND_SMS = "SendSms"
SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The provider refuses requests whose Timestamp is further than this from its clock.
TIMESTAMP_TOLERANCE = dt.timedelta(minutes=15)

CODE_OK = "OK"
# Provider error codes this system reacts to (Alibaba Cloud SMS error-code list).
CODE_BUSINESS_LIMIT = "isv.BUSINESS_LIMIT_CONTROL"  # per-number frequency control
CODE_MOBILE_ILLEGAL = "isv.MOBILE_NUMBER_ILLEGAL"
CODE_TEMPLATE_ILLEGAL = "isv.SMS_TEMPLATE_ILLEGAL"
CODE_SIGN_ILLEGAL = "isv.SMS_SIGNATURE_ILLEGAL"
CODE_TEMPLATE_PARAMS = "isv.TEMPLATE_MISSING_PARAMETERS"
CODE_SIGNATURE_MISMATCH = "SignatureDoesNotMatch"
CODE_NONCE_USED = "SignatureNonceUsed"
CODE_TIMESTAMP_EXPIRED = "InvalidTimeStamp.Expired"
CODE_ACCESS_KEY_NOT_FOUND = "InvalidAccessKeyId.NotFound"
CODE_MISSING_PARAMETER = "MissingParameter"
CODE_SERVICE_UNAVAILABLE = "ServiceUnavailable"
CODE_THROTTLING = "Throttling"

# Worth another attempt soon: the provider (or our path to it) failed, not the request.
RETRYABLE_CODES = frozenset({CODE_SERVICE_UNAVAILABLE, CODE_THROTTLING, "InternalError"})


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Alibaba Cloud's signature specifies it."""
    return quote(value, safe="-_.~")


def canonicalized_query(params: Mapping[str, str]) -> str:
    """Encoded ``name=value`` pairs sorted by encoded name, joined with ``&``."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params.items() if k != "Signature")
    return "&".join(f"{k}={v}" for k, v in pairs)


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonicalized_query(params))}"


def signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """``Base64(HMAC-SHA1(secret + "&", StringToSign))``."""
    digest = hmac.new(
        (access_key_secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def signature_matches(method: str, params: Mapping[str, str], access_key_secret: str) -> bool:
    """Constant-time check of the request's ``Signature`` parameter."""
    presented = params.get("Signature", "")
    return hmac.compare_digest(presented.encode(), signature(method, params, access_key_secret).encode())


def format_timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


# --- what the rest of IHIS sees ---------------------------------------------------------------


@dataclass(frozen=True)
class SmsReceipt:
    """The provider accepted the message: its ``BizId`` (回执 id) and request id."""

    biz_id: str
    request_id: str


class SmsError(Exception):
    """The provider did not accept the message; ``code`` is the provider's (or transport's) code."""

    retryable: bool = False

    def __init__(self, code: str, http_status: int | None = None) -> None:
        super().__init__(code if http_status is None else f"{code} (HTTP {http_status})")
        self.code = code
        self.http_status = http_status


class SmsRejected(SmsError):
    """Permanent for this message (bad number, template, credentials, per-number limit)."""


class SmsUnavailable(SmsError):
    """The provider is down, throttling us or unreachable: try again later."""

    retryable = True


class SmsSender(Protocol):
    """Anything that can send one templated SMS (the HTTP client, or a fake in unit tests)."""

    def send(
        self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str
    ) -> SmsReceipt:  # pragma: no cover - protocol
        """Send one message; raise ``SmsRejected`` or ``SmsUnavailable``."""
        ...
