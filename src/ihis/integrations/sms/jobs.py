"""Outbox handler ``sms.send``: deliver a queued SMS through the configured provider."""

from __future__ import annotations

from typing import Any

import structlog

from ihis.integrations.sms.client import AliyunSmsClient, SmsConfig
from ihis.integrations.sms.protocol import SmsRejected
from ihis.integrations.sms.service import TOPIC, open_payload
from ihis.platform import outbox

log = structlog.get_logger(__name__)

# Quick in-handler retries for a blip; longer outages are the outbox's backoff schedule.
CLIENT_ATTEMPTS = 3
CLIENT_BACKOFF_SECONDS = 0.3


@outbox.handler(TOPIC)
def deliver_sms(ctx: outbox.HandlerContext, payload: dict[str, Any]) -> None:
    """Send one message. A permanent refusal is logged and dropped (retrying cannot help);
    an unavailable provider raises, so the outbox retries the message with backoff."""
    phone, template, params, out_id = open_payload(payload)
    client = AliyunSmsClient(
        ctx.http,
        SmsConfig.from_settings(ctx.settings),
        attempts=CLIENT_ATTEMPTS,
        backoff_seconds=CLIENT_BACKOFF_SECONDS,
    )
    try:
        receipt = client.send(phone, template.value, params, out_id=out_id)
    except SmsRejected as exc:
        log.warning("sms_rejected", out_id=out_id, template=template.value, error_code=exc.code)
        return
    log.info("sms_sent", out_id=out_id, template=template.value, biz_id=receipt.biz_id)
