"""Channels a notification travels through: the message center, SMS, WeChat template messages.

Each channel is built with what it needs and sends one ``Outgoing``; it answers ``Sent`` or raises
``ChannelSkipped`` (nothing to send to: no phone, WeChat not configured), ``ChannelRejected``
(permanent refusal: retrying cannot help) or ``ChannelUnavailable`` (try again later: the outbox
retries with backoff). A skipped or failed send is recorded as such, never reported as success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import Session

from ihis.integrations.sms.client import AliyunSmsClient, SmsConfig
from ihis.integrations.sms.protocol import SmsRejected, SmsUnavailable
from ihis.integrations.sms.templates import SmsTemplate, check_params
from ihis.notifications.models import Message
from ihis.platform.clock import utcnow
from ihis.platform.masking import mask_phone
from ihis.settings import Settings


@dataclass(frozen=True)
class Link:
    """What a notification is about (``{"type": "registration", "id": 12}``) and where it opens."""

    type: str
    id: int
    route: str | None = None


@dataclass(frozen=True)
class Rendered:
    """One event's texts filled with the variables, for every channel."""

    title: str
    body: str
    sms_text: str | None
    wechat_template_id: str | None
    wechat_data: dict[str, str]


@dataclass(frozen=True)
class Recipient:
    account_id: int
    institution_id: int
    phone: str | None = None
    wechat_openid: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One notification for one recipient; ``reference`` is our idempotency key (the delivery)."""

    event: str
    recipient: Recipient
    content: Rendered
    link: Link | None
    reference: str
    template_version: int = 0


@dataclass(frozen=True)
class Sent:
    address_masked: str | None
    provider_ref: str | None


class ChannelSkipped(Exception):
    """Nothing to send (no address, channel not configured); ``reason`` is a short code."""

    def __init__(self, reason: str, address_masked: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.address_masked = address_masked


class ChannelRejected(Exception):
    """The provider refused this message for good; ``code`` is its error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ChannelUnavailable(Exception):
    """The provider could not take the message now; ``code`` is a short description."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NotificationChannel(Protocol):
    """A way to reach a recipient."""

    name: str

    def send(self, outgoing: Outgoing) -> Sent:
        """Deliver ``outgoing`` or raise ChannelSkipped / ChannelRejected / ChannelUnavailable."""
        ...


class InAppChannel:
    """The message center: writes a ``Message`` in the caller's transaction."""

    name = "in_app"

    def __init__(self, db: Session) -> None:
        self.db = db

    def send(self, outgoing: Outgoing) -> Sent:
        link = outgoing.link
        message = Message(
            institution_id=outgoing.recipient.institution_id,
            recipient_account_id=outgoing.recipient.account_id,
            event=outgoing.event,
            title=outgoing.content.title[:200],
            body=outgoing.content.body,
            link_type=link.type if link else None,
            link_id=link.id if link else None,
            link_route=link.route if link else None,
            template_version=outgoing.template_version,
            created_at=utcnow(),
        )
        self.db.add(message)
        self.db.flush()
        return Sent(address_masked=None, provider_ref=str(message.id))


# Quick in-call retries for a blip; a longer outage is the outbox's backoff schedule.
SMS_CLIENT_ATTEMPTS = 2
SMS_CLIENT_BACKOFF_SECONDS = 0.3


class SmsChannel:
    """SMS through the SMS adapter, as the provider-approved generic notice (``SmsTemplate.NOTICE``)."""

    name = "sms"

    def __init__(
        self, http: httpx.Client, settings: Settings, *, backoff_seconds: float | None = None
    ) -> None:
        self.http = http
        self.settings = settings
        self.backoff_seconds = SMS_CLIENT_BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds

    def send(self, outgoing: Outgoing) -> Sent:
        phone = outgoing.recipient.phone
        text = outgoing.content.sms_text
        if not phone:
            raise ChannelSkipped("no_phone")
        masked = mask_phone(phone)
        if not text:
            raise ChannelSkipped("no_sms_text", masked)
        params = {"content": text}
        check_params(SmsTemplate.NOTICE, params)
        try:
            client = AliyunSmsClient(
                self.http,
                SmsConfig.from_settings(self.settings),
                attempts=SMS_CLIENT_ATTEMPTS,
                backoff_seconds=self.backoff_seconds,
            )
            receipt = client.send(phone, SmsTemplate.NOTICE.value, params, out_id=outgoing.reference)
        except SmsRejected as exc:
            raise ChannelRejected(exc.code) from exc
        except SmsUnavailable as exc:
            raise ChannelUnavailable(exc.code) from exc
        return Sent(address_masked=masked, provider_ref=receipt.biz_id or None)


@dataclass(frozen=True)
class WeChatConfig:
    """An official account (公众号) able to send template messages."""

    api_base: str
    app_id: str
    app_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatConfig | None:
        """``IHIS_WECHAT_MP_APP_ID`` / ``_APP_SECRET`` (+ ``_API_URL``); None when not configured."""
        app_id = getattr(settings, "wechat_mp_app_id", None)
        secret = getattr(settings, "wechat_mp_app_secret", None)
        secret_value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not app_id or not secret_value:
            return None
        base = getattr(settings, "wechat_mp_api_url", None) or "https://api.weixin.qq.com"
        return cls(api_base=str(base).rstrip("/"), app_id=str(app_id), app_secret=str(secret_value))


# WeChat access tokens live 7200 s and the token endpoint is rate limited: one per app, cached.
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()
TOKEN_EARLY_REFRESH_SECONDS = 300
# errcodes meaning the token went stale (refresh once and retry) or the platform is busy.
_TOKEN_STALE = {40001, 40014, 42001}
_BUSY = {-1, 45009}


class WeChatTemplateChannel:
    """WeChat official-account template messages (``POST /cgi-bin/message/template/send``)."""

    name = "wechat"

    def __init__(self, http: httpx.Client, config: WeChatConfig | None, *, link_base: str = "") -> None:
        self.http = http
        self.config = config
        # WeChat opens absolute URLs only: client routes are joined to the patient app's address.
        self.link_base = link_base.rstrip("/")

    def send(self, outgoing: Outgoing) -> Sent:
        if self.config is None:
            raise ChannelSkipped("wechat_not_configured")
        if not outgoing.content.wechat_template_id:
            raise ChannelSkipped("no_wechat_template")
        openid = outgoing.recipient.wechat_openid
        if not openid:
            raise ChannelSkipped("no_wechat_openid")
        body = {
            "touser": openid,
            "template_id": outgoing.content.wechat_template_id,
            "url": self._url(outgoing.link),
            "data": {key: {"value": value} for key, value in outgoing.content.wechat_data.items()},
        }
        answer = self._post_template(body, self._token(self.config, refresh=False))
        if answer.get("errcode") in _TOKEN_STALE:
            answer = self._post_template(body, self._token(self.config, refresh=True))
        code = int(str(answer.get("errcode", 0)))
        if code == 0:
            return Sent(address_masked=openid[:4] + "***", provider_ref=str(answer.get("msgid", "")) or None)
        if code in _BUSY:
            raise ChannelUnavailable(f"errcode:{code}")
        raise ChannelRejected(f"errcode:{code}")

    def _url(self, link: Link | None) -> str:
        if link is None or not link.route:
            return ""
        if link.route.startswith(("https://", "http://")):
            return link.route
        return self.link_base + link.route

    def _post_template(self, body: Mapping[str, object], token: str) -> dict[str, object]:
        assert self.config is not None
        url = f"{self.config.api_base}/cgi-bin/message/template/send"
        try:
            response = self.http.post(url, params={"access_token": token}, json=body)
        except httpx.HTTPError as exc:
            raise ChannelUnavailable(f"transport:{type(exc).__name__}") from exc
        return self._json(response)

    def _token(self, config: WeChatConfig, *, refresh: bool) -> str:
        with _tokens_lock:
            cached = _tokens.get(config.app_id)
            if cached and not refresh and cached[1] > time.monotonic():
                return cached[0]
            params = {"grant_type": "client_credential", "appid": config.app_id, "secret": config.app_secret}
            try:
                response = self.http.get(f"{config.api_base}/cgi-bin/token", params=params)
            except httpx.HTTPError as exc:
                raise ChannelUnavailable(f"transport:{type(exc).__name__}") from exc
            answer = self._json(response)
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise ChannelUnavailable(f"token_errcode:{answer.get('errcode', 'none')}")
            ttl = int(str(answer.get("expires_in", 7200)))
            _tokens[config.app_id] = (token, time.monotonic() + max(60, ttl - TOKEN_EARLY_REFRESH_SECONDS))
            return token

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, object]:
        if response.status_code >= 500:
            raise ChannelUnavailable(f"http:{response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ChannelUnavailable("bad_response") from exc
        if not isinstance(answer, dict):
            raise ChannelUnavailable("bad_response")
        return answer


def forget_wechat_tokens() -> None:
    """Drop cached access tokens (tests, credential rotation)."""
    with _tokens_lock:
        _tokens.clear()
