"""The real-name authority protocol: three-factor check (姓名 + 身份证号 + 手机号, 实名核验).

Shaped like the identity-verification APIs sold through Alibaba Cloud API Gateway, and signed
with the gateway's scheme, so that the production client and the sandbox authority share this
module and cannot drift apart:

    POST {base}/v1/identity/three-factor         JSON {"name", "idNumber", "mobile", "bizNo"}
    StringToSign = METHOD "\\n" Accept "\\n" Content-MD5 "\\n" Content-Type "\\n" Date "\\n"
                   + for each signed header, sorted: "name:value\\n"
                   + path (+ "?" sorted query, if any)
    X-Ca-Signature = Base64(HMAC-SHA256(AppSecret, StringToSign))

Signed headers: ``x-ca-key``, ``x-ca-nonce``, ``x-ca-signature-method``, ``x-ca-timestamp``
(milliseconds since the epoch; the gateway refuses a timestamp 15 minutes off, and a nonce it
has seen). Gateway refusals carry the reason in the ``X-Ca-Error-Message`` header. The business
answer is ``{"code": "0", "message": ..., "data": {"result": "1".."4", "desc", "orderNo"}}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

VERIFY_PATH = "/v1/identity/three-factor"
SIGNATURE_METHOD = "HmacSHA256"
SIGNED_HEADERS = ("x-ca-key", "x-ca-nonce", "x-ca-signature-method", "x-ca-timestamp")
CONTENT_TYPE = "application/json; charset=UTF-8"
ACCEPT = "application/json"
TIMESTAMP_TOLERANCE_MS = 15 * 60 * 1000
ERROR_HEADER = "X-Ca-Error-Message"
CODE_SUCCESS = "0"


class Verdict(StrEnum):
    """The authority's ``result``."""

    MATCH = "1"  # 一致
    NAME_ID_MISMATCH = "2"  # 姓名与身份证号不一致
    NO_RECORD = "3"  # 库中无此身份证号
    MOBILE_MISMATCH = "4"  # 手机号与身份信息不一致


VERDICT_DESC = {
    Verdict.MATCH: "一致",
    Verdict.NAME_ID_MISMATCH: "姓名与身份证号不一致",
    Verdict.NO_RECORD: "库中无此身份证号",
    Verdict.MOBILE_MISMATCH: "手机号与身份信息不一致",
}


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the protocol's integrity header


def string_to_sign(
    method: str,
    path: str,
    headers: Mapping[str, str],
    *,
    query: Mapping[str, str] | None = None,
) -> str:
    """The gateway's string to sign; ``headers`` is case-insensitive as HTTP is."""
    lower = {k.lower(): v for k, v in headers.items()}
    lines = [
        method.upper(),
        lower.get("accept", ""),
        lower.get("content-md5", ""),
        lower.get("content-type", ""),
        lower.get("date", ""),
    ]
    signed = "".join(f"{name}:{lower.get(name, '')}\n" for name in sorted(SIGNED_HEADERS))
    resource = path
    if query:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sorted(query.items()))
    return "\n".join(lines) + "\n" + signed + resource


def sign(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def signature_matches(secret: str, text: str, presented: str) -> bool:
    return hmac.compare_digest(sign(secret, text).encode(), presented.encode())


@dataclass(frozen=True)
class Verification:
    """The authority's answer to one check."""

    verdict: Verdict
    order_no: str

    @property
    def matched(self) -> bool:
        return self.verdict is Verdict.MATCH


class RealNameUnavailable(Exception):
    """The authority failed, refused our credentials or answered garbage (-> HTTP 502)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RealNameVerifier(Protocol):
    """Anything that can run a three-factor check (the HTTP client, or a fake in unit tests)."""

    def verify(self, name: str, id_number: str, mobile: str) -> Verification:  # pragma: no cover - protocol
        """Ask the authority; raise ``RealNameUnavailable`` when it cannot answer."""
        ...
