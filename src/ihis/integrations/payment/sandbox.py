"""The sandbox payment channels' routes (``/sandbox/wechatpay/...``, ``/sandbox/alipay/...``).

Mounted only in sandbox mode, next to the other simulators (``ihis.integrations.sandbox_api``).
"""

from __future__ import annotations

from fastapi import APIRouter

from ihis.integrations.payment.sandbox_alipay import router as alipay_router
from ihis.integrations.payment.sandbox_wechat import router as wechat_router

router = APIRouter()
router.include_router(wechat_router)
router.include_router(alipay_router)
