"""The production SMS client: Alibaba Cloud SMS ``SendSms`` over HTTPS, signed per ``protocol``.

Every attempt is signed afresh (new ``SignatureNonce`` and ``Timestamp``): the provider refuses a
replayed nonce, so a retry must never resend the same bytes (which is also why the generic
``request_with_retries`` is not used). Timeouts are those of the ``httpx.Client`` passed in
(``ihis.integrations.http.outbound_client``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import structlog

from ihis.integrations.sms import protocol
from ihis.integrations.sms.protocol import SmsError, SmsReceipt, SmsRejected, SmsUnavailable
from ihis.platform.clock import utcnow
from ihis.settings import Settings

log = structlog.get_logger(__name__)

# Development / sandbox credentials: the sandbox provider accepts exactly these unless
# IHIS_SMS_API_KEY / IHIS_SMS_API_SECRET are set (then both sides use the configured pair).
DEV_ACCESS_KEY_ID = "LTAIsandboxIhisDev01"
DEV_ACCESS_KEY_SECRET = "ihis-sandbox-sms-secret-dev-only"  # noqa: S105 - public sandbox value
DEFAULT_SIGN_NAME = "互联网医院"
DEFAULT_REGION = "cn-hangzhou"
SANDBOX_PATH = "/sandbox/sms"


class SmsNotConfigured(SmsUnavailable):
    """No endpoint or credentials outside sandbox mode (kept for retry once configured)."""


@dataclass(frozen=True)
class SmsConfig:
    """Where and as whom to send: endpoint, AccessKey pair, the approved signature (签名)."""

    endpoint: str
    access_key_id: str
    access_key_secret: str
    sign_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig:
        """Settings, with the sandbox defaults filled in when ``settings.sandbox`` is on."""
        endpoint = settings.sms_api_url
        key_id = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
        secret = settings.sms_api_secret.get_secret_value() if settings.sms_api_secret else None
        if settings.sandbox:
            endpoint = endpoint or settings.public_url(SANDBOX_PATH)
            key_id = key_id or DEV_ACCESS_KEY_ID
            secret = secret or DEV_ACCESS_KEY_SECRET
        if not endpoint or not key_id or not secret:
            raise SmsNotConfigured("NotConfigured")
        sign_name = settings.sms_sign_name or DEFAULT_SIGN_NAME
        return cls(
            endpoint=endpoint.rstrip("/"), access_key_id=key_id, access_key_secret=secret, sign_name=sign_name
        )


class AliyunSmsClient:
    """``SmsSender`` speaking Alibaba Cloud's SendSms RPC API."""

    def __init__(
        self,
        http: httpx.Client,
        config: SmsConfig,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.config = config
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    def signed_params(
        self, phone: str, template_code: str, params: Mapping[str, str], out_id: str
    ) -> dict[str, str]:
        """The request parameters of one attempt, with a fresh nonce and timestamp, signed."""
        request = {
            "AccessKeyId": self.config.access_key_id,
            "Action": protocol.ACTION_SEND_SMS,
            "Format": "JSON",
            "OutId": out_id,
            "PhoneNumbers": phone,
            "RegionId": DEFAULT_REGION,
            "SignName": self.config.sign_name,
            "SignatureMethod": protocol.SIGNATURE_METHOD,
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": protocol.SIGNATURE_VERSION,
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": protocol.format_timestamp(utcnow()),
            "Version": protocol.API_VERSION,
        }
        request["Signature"] = protocol.signature("POST", request, self.config.access_key_secret)
        return request

    def send(self, phone: str, template_code: str, params: Mapping[str, str], *, out_id: str) -> SmsReceipt:
        """Send one message, retrying provider/transport failures with backoff."""
        last: SmsError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._attempt(phone, template_code, params, out_id)
            except SmsRejected:
                raise
            except SmsUnavailable as exc:
                last = exc
                log.warning("sms_send_attempt_failed", attempt=attempt, error_code=exc.code, out_id=out_id)
                if attempt < self.attempts:
                    self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
        assert last is not None
        raise last

    def _attempt(self, phone: str, template_code: str, params: Mapping[str, str], out_id: str) -> SmsReceipt:
        body = self.signed_params(phone, template_code, params, out_id)
        try:
            response = self.http.post(self.config.endpoint + "/", data=body)
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"transport:{type(exc).__name__}") from exc
        try:
            answer = response.json()
            code = str(answer.get("Code", ""))
        except (ValueError, AttributeError) as exc:
            raise SmsUnavailable("bad_response", response.status_code) from exc
        if response.status_code >= 500 or code in protocol.RETRYABLE_CODES:
            raise SmsUnavailable(code or "server_error", response.status_code)
        if code != protocol.CODE_OK:
            raise SmsRejected(code or "unknown", response.status_code)
        return SmsReceipt(biz_id=str(answer.get("BizId", "")), request_id=str(answer.get("RequestId", "")))
