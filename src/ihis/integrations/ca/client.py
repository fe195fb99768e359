"""The production-shaped client of a cloud signing service (and of the sandbox hospital CA).

JSON over HTTPS, each request HMAC-signed (``protocol.request_signature``). Transport errors,
timeouts and 5xx are retried with backoff under one ``Idempotency-Key`` per operation, so that the
service can deduplicate a retried call (a retried wrong PIN must not count twice). 4xx answers map
to ``CaRejected`` / ``WrongPin`` / ``PinLocked``; anything else after the retries is ``CaUnavailable``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any, Final

import httpx

from ihis.integrations.ca import protocol
from ihis.integrations.ca.config import signing_settings
from ihis.integrations.ca.protocol import (
    CaRejected,
    CaUnavailable,
    DigestSignature,
    Enrolment,
    IssuedCertificate,
    PinLocked,
    SignerSubject,
    WrongPin,
)
from ihis.integrations.http import IDEMPOTENCY_HEADER, request_with_retries
from ihis.platform.clock import utcnow
from ihis.settings import Settings

# Development / sandbox credentials (public values; production refuses sandbox mode).
DEV_API_KEY: Final = "ihis-sandbox-ca-key"
DEV_API_SECRET: Final = "ihis-sandbox-ca-secret-dev-only"  # noqa: S105 - public sandbox value
SANDBOX_PATH: Final = "/sandbox/ca"


class CaNotConfigured(CaUnavailable):
    """No CA endpoint or credentials outside sandbox mode."""


class CaConfig:
    """Where the CA is and the API credential IHIS uses with it."""

    def __init__(self, endpoint: str, api_key: str, api_secret: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.api_secret = api_secret

    @classmethod
    def from_settings(cls, settings: Settings) -> CaConfig:
        """Settings, with the sandbox CA and its development credentials filled in in sandbox mode."""
        conf = signing_settings(settings)
        endpoint, key, secret = conf.ca_api_url, conf.ca_api_key, conf.ca_api_secret
        if settings.sandbox:
            endpoint = endpoint or settings.public_url(SANDBOX_PATH)
            key = key or DEV_API_KEY
            secret = secret or DEV_API_SECRET
        if not endpoint or not key or not secret:
            raise CaNotConfigured("not_configured")
        return cls(endpoint, key, secret)


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


class CloudCaClient:
    """``SigningAuthority`` over HTTP."""

    def __init__(self, http: httpx.Client, config: CaConfig, *, attempts: int = 3, backoff: float = 0.2):
        self.http = http
        self.config = config
        self.attempts = attempts
        self.backoff = backoff

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(utcnow().timestamp()))
        nonce = secrets.token_hex(16)
        return {
            protocol.KEY_HEADER: self.config.api_key,
            protocol.TIMESTAMP_HEADER: timestamp,
            protocol.NONCE_HEADER: nonce,
            protocol.SIGNATURE_HEADER: protocol.request_signature(
                self.config.api_secret, method, path, timestamp, nonce, body
            ),
            IDEMPOTENCY_HEADER: secrets.token_hex(16),
            "Content-Type": "application/json",
        }

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        url = httpx.URL(self.config.endpoint + path)
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = self._headers(method, url.path, body)
        try:
            response = request_with_retries(
                self.http,
                method,
                url,
                attempts=self.attempts,
                backoff=self.backoff,
                retry_on=(500, 502, 503, 504),
                content=body,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise CaUnavailable(f"transport:{type(exc).__name__}") from exc
        try:
            answer = response.json()
        except ValueError as exc:
            raise CaUnavailable("bad_response", response.status_code) from exc
        if not isinstance(answer, dict):
            raise CaUnavailable("bad_response", response.status_code)
        if response.status_code >= 500:
            raise CaUnavailable(str(answer.get("code", "server_error")), response.status_code)
        if response.status_code >= 400:
            code = str(answer.get("code", "rejected"))
            if code == "pin_wrong":
                raise WrongPin(int(answer.get("remaining", 0)))
            if code == "pin_locked":
                raise PinLocked(_parse_time(str(answer["locked_until"])))
            raise CaRejected(code, response.status_code)
        return answer

    def enrol(self, subject: SignerSubject) -> Enrolment:
        """Register a signer (no key until the first PIN)."""
        answer = self._call(
            "POST",
            "/v1/signers",
            {
                "kind": subject.kind,
                "name": subject.name,
                "staff_no": subject.staff_no,
                "institution_code": subject.institution_code,
                "institution_name": subject.institution_name,
            },
        )
        return Enrolment(signer_ref=str(answer["signer_ref"]), status=str(answer["status"]))

    def set_pin(self, signer_ref: str, new_pin: str, old_pin: str | None) -> IssuedCertificate:
        """Set the first PIN or change it (old PIN required)."""
        answer = self._call("PUT", f"/v1/signers/{signer_ref}/pin", {"new_pin": new_pin, "old_pin": old_pin})
        return IssuedCertificate(
            certificate_pem=str(answer["certificate_pem"]),
            serial_hex=str(answer["serial_hex"]),
            subject=str(answer["subject"]),
            not_before=_parse_time(str(answer["not_before"])),
            not_after=_parse_time(str(answer["not_after"])),
        )

    def sign_digest(self, signer_ref: str, digest: bytes, hash_name: str, pin: str) -> DigestSignature:
        """Sign a digest with the signer's key (the PIN opens it)."""
        answer = self._call(
            "POST",
            f"/v1/signers/{signer_ref}/sign",
            {"digest": base64.b64encode(digest).decode(), "hash": hash_name, "pin": pin},
        )
        return DigestSignature(
            signature=base64.b64decode(str(answer["signature"])),
            algorithm=str(answer["algorithm"]),
            certificate_pem=str(answer["certificate_pem"]),
        )

    def revoke(self, signer_ref: str, reason: str) -> None:
        """Revoke the certificate and destroy the key."""
        self._call("POST", f"/v1/signers/{signer_ref}/revoke", {"reason": reason})

    def certificate_chain(self) -> list[str]:
        """The CA chain, root last."""
        answer = self._call("GET", "/v1/chain")
        return [str(pem) for pem in answer["chain"]]
