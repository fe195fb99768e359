"""The production real-name client: three-factor verification over HTTPS, signed per ``protocol``.

A retry is signed afresh (the gateway refuses a reused nonce); timeouts are those of the
``httpx.Client`` passed in (``ihis.integrations.http.outbound_client``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime

import httpx
import structlog

from ihis.integrations.realname import protocol
from ihis.integrations.realname.protocol import RealNameUnavailable, Verdict, Verification
from ihis.platform.clock import utcnow
from ihis.settings import Settings

log = structlog.get_logger(__name__)

# Development / sandbox credentials: the sandbox authority accepts exactly these unless
# IHIS_REALNAME_API_KEY / IHIS_REALNAME_API_SECRET are set (then both sides use those).
DEV_APP_KEY = "ihis-sandbox-realname-key"
DEV_APP_SECRET = "ihis-sandbox-realname-secret-dev-only"  # noqa: S105 - public sandbox value
SANDBOX_PATH = "/sandbox/realname"


@dataclass(frozen=True)
class RealNameConfig:
    endpoint: str
    app_key: str
    app_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> RealNameConfig:
        """Settings, with the sandbox defaults filled in when ``settings.sandbox`` is on."""
        endpoint = settings.realname_api_url
        key = settings.realname_api_key.get_secret_value() if settings.realname_api_key else None
        secret = settings.realname_api_secret.get_secret_value() if settings.realname_api_secret else None
        if settings.sandbox:
            endpoint = endpoint or settings.public_url(SANDBOX_PATH)
            key = key or DEV_APP_KEY
            secret = secret or DEV_APP_SECRET
        if not endpoint or not key or not secret:
            raise RealNameUnavailable("not_configured")
        return cls(endpoint=endpoint.rstrip("/"), app_key=key, app_secret=secret)


class RealNameClient:
    """Asks the authority whether a name, ID number and mobile number belong together."""

    def __init__(
        self,
        http: httpx.Client,
        config: RealNameConfig,
        *,
        attempts: int = 2,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.config = config
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    def signed_request(
        self, name: str, id_number: str, mobile: str, biz_no: str
    ) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of one attempt (fresh nonce and timestamp), signed."""
        url = httpx.URL(self.config.endpoint + protocol.VERIFY_PATH)
        body = json.dumps(
            {"name": name, "idNumber": id_number, "mobile": mobile, "bizNo": biz_no},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        now = utcnow()
        headers = {
            "Accept": protocol.ACCEPT,
            "Content-Type": protocol.CONTENT_TYPE,
            "Content-MD5": protocol.content_md5(body),
            "Date": format_datetime(now.astimezone(dt.UTC), usegmt=True),
            "X-Ca-Key": self.config.app_key,
            "X-Ca-Nonce": str(uuid.uuid4()),
            "X-Ca-Signature-Method": protocol.SIGNATURE_METHOD,
            "X-Ca-Timestamp": str(int(now.timestamp() * 1000)),
            "X-Ca-Signature-Headers": ",".join(protocol.SIGNED_HEADERS),
        }
        text = protocol.string_to_sign("POST", url.path, headers)
        headers["X-Ca-Signature"] = protocol.sign(self.config.app_secret, text)
        return str(url), headers, body

    def verify(self, name: str, id_number: str, mobile: str) -> Verification:
        """One three-factor check; a blip is retried once, then ``RealNameUnavailable``."""
        biz_no = uuid.uuid4().hex
        last: RealNameUnavailable | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._attempt(name, id_number, mobile, biz_no)
            except RealNameUnavailable as exc:
                last = exc
                log.warning("realname_attempt_failed", attempt=attempt, reason=exc.reason)
                if attempt < self.attempts:
                    self._sleep(self.backoff_seconds)
        assert last is not None
        raise last

    def _attempt(self, name: str, id_number: str, mobile: str, biz_no: str) -> Verification:
        url, headers, body = self.signed_request(name, id_number, mobile, biz_no)
        try:
            response = self.http.post(url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise RealNameUnavailable(f"transport:{type(exc).__name__}") from exc
        gateway_error = response.headers.get(protocol.ERROR_HEADER)
        if gateway_error or response.status_code != 200:
            raise RealNameUnavailable(f"http_{response.status_code}:{gateway_error or ''}"[:120])
        try:
            answer = response.json()
            if answer.get("code") != protocol.CODE_SUCCESS:
                raise RealNameUnavailable(f"code:{answer.get('code')}")
            data = answer["data"]
            return Verification(verdict=Verdict(str(data["result"])), order_no=str(data.get("orderNo", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RealNameUnavailable("bad_response") from exc
