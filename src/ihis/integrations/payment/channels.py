"""Choosing a channel adapter by name: the one place that knows every implementation."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session

from ihis.integrations.payment.alipay import AlipayClient, AlipayConfig
from ihis.integrations.payment.protocol import PaymentChannel
from ihis.integrations.payment.wechatpay import WechatPayClient, WechatPayConfig
from ihis.settings import Settings


def channel_client(
    name: str, settings: Settings, http: httpx.Client, db: Session | None = None
) -> PaymentChannel:
    """The adapter of channel ``name``; ``db`` supplies the sandbox credentials in sandbox mode."""
    if name == "wechat":
        return WechatPayClient(http, WechatPayConfig.from_settings(settings, db))
    if name == "alipay":
        return AlipayClient(http, AlipayConfig.from_settings(settings, db))
    raise ValueError(f"unknown payment channel {name!r}")
