"""RFC 3161 time-stamp client: ``application/timestamp-query`` in, ``application/timestamp-reply`` out.

Standard requests (version 1, SHA-256 or SM3 message imprint, a random nonce, certReq true), so a
real TSA answers the same client. The reply's status, nonce and imprint are checked before the
token is returned; full verification is ``verify.verify_token``.
"""

from __future__ import annotations

import secrets
from typing import Final

import httpx
from asn1crypto import algos, core, tsp  # type: ignore[import-untyped]

from ihis.integrations.ca.config import signing_settings
from ihis.integrations.http import request_with_retries
from ihis.settings import Settings

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
SANDBOX_PATH: Final = "/sandbox/tsa"
# asn1crypto's names of the digest algorithms (SM3: GM/T 0006 OID 1.2.156.10197.1.401).
SM3_OID: Final = "1.2.156.10197.1.401"
DIGEST_ALGORITHM: Final = {"sha256": "sha256", "sm3": SM3_OID}


class TsaError(Exception):
    """The TSA could not be reached, refused, or answered something unusable; ``code`` is stable."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def tsa_url(settings: Settings) -> str:
    """The configured TSA, or this deployment's sandbox TSA in sandbox mode."""
    url = signing_settings(settings).tsa_url
    if url:
        return url
    if settings.sandbox:
        return settings.public_url(SANDBOX_PATH)
    raise TsaError("not_configured")


def build_request(imprint: bytes, hash_name: str, nonce: int) -> tsp.TimeStampReq:
    """A TimeStampReq for an already hashed ``imprint``."""
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": DIGEST_ALGORITHM[hash_name]}),
                    "hashed_message": imprint,
                }
            ),
            "nonce": core.Integer(nonce),
            "cert_req": True,
        }
    )


class TsaClient:
    """Requests time stamps from one TSA over HTTP (retries transport errors and 5xx)."""

    def __init__(self, http: httpx.Client, url: str, *, attempts: int = 3, backoff: float = 0.2) -> None:
        self.http = http
        self.url = url
        self.attempts = attempts
        self.backoff = backoff

    def timestamp(self, imprint: bytes, hash_name: str) -> bytes:
        """The DER time-stamp token (a CMS ContentInfo) over ``imprint``."""
        nonce = secrets.randbits(63)
        request = build_request(imprint, hash_name, nonce)
        try:
            # A time-stamp request changes nothing at the TSA: safe to repeat.
            response = request_with_retries(
                self.http,
                "POST",
                self.url,
                attempts=self.attempts,
                backoff=self.backoff,
                retry_on=(500, 502, 503, 504),
                idempotent=True,
                content=request.dump(),
                headers={"Content-Type": QUERY_TYPE},
            )
        except httpx.HTTPError as exc:
            raise TsaError(f"transport:{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TsaError(f"http_{response.status_code}")
        if response.headers.get("content-type", "").split(";")[0].strip() != REPLY_TYPE:
            raise TsaError("bad_content_type")
        try:
            reply = tsp.TimeStampResp.load(response.content)
            status = reply["status"]["status"].native
            token = reply["time_stamp_token"]
            info = token["content"]["encap_content_info"]["content"].parsed
            answered_nonce = info["nonce"].native
            answered_imprint = info["message_imprint"]["hashed_message"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise TsaError("bad_reply") from exc
        if status not in ("granted", "granted_with_mods"):
            raise TsaError(f"refused:{status}")
        if answered_nonce != nonce or answered_imprint != imprint:
            raise TsaError("reply_mismatch")
        return bytes(token.dump())
