"""The sandbox cashier (收银台) page: the payer confirms (确认支付) or declines (取消).

A plain HTML form, no script, so browser tests and curl drive it alike (test ids ``cashier-pay``
and ``cashier-cancel``). Confirming pays the order and queues the channel's signed notify, which
is delivered after this response's transaction commits.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ihis.integrations.payment import sandbox_orders
from ihis.integrations.payment.models import SandboxPaymentOrder
from ihis.integrations.payment.sandbox_orders import PaidHook
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db

_TITLES = {"wechat": "微信支付（沙箱）", "alipay": "支付宝（沙箱）"}


def _safe_return(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


def _page(channel: str, body: str, status: int = 200) -> HTMLResponse:
    title = _TITLES[channel]
    return HTMLResponse(
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{title}</title></head><body style='font-family:sans-serif;max-width:28rem;margin:2rem auto'>"
        f"<h1>{title}</h1>{body}</body></html>",
        status_code=status,
    )


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def _form(path: str, order: SandboxPaymentOrder, return_url: str | None) -> str:
    hidden = (
        f"<input type='hidden' name='redirect_url' value='{html.escape(return_url)}'>" if return_url else ""
    )
    return (
        f"<p data-testid='cashier-subject'>{html.escape(order.description)}</p>"
        f"<p data-testid='cashier-amount' style='font-size:2rem'>{_yuan(order.amount_fen)}</p>"
        f"<form method='post' action='{html.escape(path)}'>{hidden}"
        "<button type='submit' name='action' value='pay' data-testid='cashier-pay'>确认支付</button> "
        "<button type='submit' name='action' value='cancel' data-testid='cashier-cancel'>取消</button>"
        "</form>"
    )


def cashier_router(prefix: str, channel: str, on_paid: PaidHook) -> APIRouter:
    """``GET`` and ``POST {prefix}/cashier/{prepay_id}`` for one channel."""
    router = APIRouter()

    def _result(order: SandboxPaymentOrder, text: str, testid: str, return_url: str | None) -> Response:
        if return_url:
            return RedirectResponse(return_url, status_code=303)
        return _page(channel, f"<p data-testid='{testid}'>{text}</p>")

    @router.get(f"{prefix}/cashier/{{prepay_id}}", response_class=HTMLResponse)
    def cashier_page(prepay_id: str, db: Db, redirect_url: str | None = None) -> Response:
        """Show what is being paid and the two buttons."""
        order = sandbox_orders.order_by_prepay_id(db, channel, prepay_id)
        if order is None:
            return _page(channel, "<p data-testid='cashier-missing'>订单不存在</p>", 404)
        if order.state != sandbox_orders.UNPAID:
            return _page(channel, f"<p data-testid='cashier-state'>订单状态：{order.state}</p>")
        if order.expires_at is not None and order.expires_at < utcnow():
            return _page(channel, "<p data-testid='cashier-expired'>订单已过期</p>")
        return_url = _safe_return(redirect_url) or _safe_return(order.return_url)
        return _page(channel, _form(f"{prefix}/cashier/{prepay_id}", order, return_url))

    @router.post(f"{prefix}/cashier/{{prepay_id}}")
    def cashier_submit(
        prepay_id: str,
        db: Db,
        settings: AppSettings,
        action: Annotated[str, Form()],
        redirect_url: Annotated[str | None, Form()] = None,
    ) -> Response:
        """确认支付 pays the order (and queues the notify); 取消 leaves it unpaid."""
        order = sandbox_orders.order_by_prepay_id(db, channel, prepay_id)
        if order is None:
            return _page(channel, "<p data-testid='cashier-missing'>订单不存在</p>", 404)
        return_url = _safe_return(redirect_url) or _safe_return(order.return_url)
        if action != "pay":
            return _result(order, "已取消支付", "cashier-cancelled", return_url)
        if not sandbox_orders.pay(db, settings, order, on_paid):
            return _page(
                channel, "<p data-testid='cashier-refused'>订单无法支付（已支付、已关闭或已过期）</p>", 409
            )
        return _result(order, "支付成功", "cashier-paid", return_url)

    return router
