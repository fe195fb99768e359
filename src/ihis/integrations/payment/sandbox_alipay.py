"""Sandbox Alipay gateway under ``/sandbox/alipay/gateway.do``: wap.pay, query, close, refund, bills.

It verifies the app's RSA2 signature, answers ``{"<method>_response": {...}, "sign": ...}`` signed
by the sandbox's Alipay key, and sends ``trade_status_sync`` notifications as signed form POSTs
on Alipay's retry schedule until the merchant answers ``success`` (``sandbox_notify``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ihis.integrations.payment import alipay, rsa, sandbox_orders
from ihis.integrations.payment.models import SandboxPaymentOrder
from ihis.integrations.payment.sandbox_cashier import cashier_router
from ihis.integrations.payment.sandbox_keys import SandboxCredentials, sandbox_credentials
from ihis.integrations.payment.sandbox_notify import queue_notify
from ihis.integrations.payment.sandbox_statement import alipay_statement, parse_day
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db
from ihis.settings import Settings

PREFIX = alipay.SANDBOX_PATH
router = APIRouter(tags=["sandbox"], include_in_schema=False)
_STATUS = {
    "unpaid": "WAIT_BUYER_PAY",
    "paid": "TRADE_SUCCESS",
    "closed": "TRADE_CLOSED",
    "refunded": "TRADE_SUCCESS",
}


def _error(code: str, msg: str, sub_code: str, sub_msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def _not_exist() -> dict[str, Any]:
    return _error("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")


def _answer(creds: SandboxCredentials, method: str, inner: Mapping[str, Any]) -> Response:
    body = alipay.signed_response(method, inner, creds.channel_private_pem)
    return Response(body.encode(), media_type="application/json; charset=utf-8")


def _check(params: Mapping[str, str], creds: SandboxCredentials) -> dict[str, Any] | None:
    """The gateway's checks; None when the request is authentic."""
    for name in ("app_id", "method", "sign_type", "sign", "timestamp", "version"):
        if not params.get(name):
            return _error(
                "40001", "Missing Required Arguments", f"isv.missing-{name.replace('_', '-')}", "缺少参数"
            )
    if params["app_id"] != creds.app_id:
        return _error("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
    if params["sign_type"] != "RSA2":
        return _error("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
    if not rsa.verify(creds.merchant_public_pem, alipay.signing_text(params), params["sign"]):
        return _error("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
    return None


def _biz(params: Mapping[str, str]) -> dict[str, Any]:
    try:
        value = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _on_paid(db: Session, settings: Settings, order: SandboxPaymentOrder) -> None:
    creds = sandbox_credentials(db, "alipay")
    now = alipay.format_time(utcnow())
    params = {
        "notify_time": now,
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "app_id": order.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": order.transaction_id or "",
        "out_trade_no": order.out_trade_no,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": alipay.yuan(order.amount_fen),
        "receipt_amount": alipay.yuan(order.amount_fen),
        "buyer_pay_amount": alipay.yuan(order.amount_fen),
        "subject": order.description,
        "gmt_create": alipay.format_time(order.created_at),
        "gmt_payment": alipay.format_time(order.paid_at or utcnow()),
    }
    params["sign"] = rsa.sign(
        creds.channel_private_pem, alipay.signing_text(params, exclude=("sign", "sign_type"))
    )
    queue_notify(
        db,
        settings,
        "alipay",
        order.notify_url,
        urlencode(params),
        "application/x-www-form-urlencoded; charset=utf-8",
        amount_fen=order.amount_fen,
    )


@router.get(PREFIX + "/gateway.do")
def page_gateway(request: Request, db: Db, settings: AppSettings) -> Response:
    """``alipay.trade.wap.pay`` (page-executed): verify, open the order, send the payer to the cashier."""
    creds = sandbox_credentials(db, "alipay")
    params = dict(request.query_params)
    refused = _check(params, creds)
    if refused is None and params["method"] != "alipay.trade.wap.pay":
        refused = _error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
    biz = _biz(params)
    amount = alipay.fen_of(biz.get("total_amount"))
    if refused is None and (
        not biz.get("out_trade_no") or not biz.get("subject") or not amount or amount <= 0
    ):
        refused = _error("40002", "Invalid Arguments", "isv.invalid-parameter", "参数无效")
    if refused is not None:
        return PlainTextResponse(f"{refused['sub_code']}: {refused['sub_msg']}", status_code=400)
    assert amount is not None
    order = sandbox_orders.open_order(
        db,
        channel="alipay",
        merchant_id=creds.merchant_id,
        app_id=creds.app_id,
        out_trade_no=str(biz["out_trade_no"]),
        description=str(biz["subject"]),
        amount_fen=amount,
        notify_url=params.get("notify_url") or "",
        return_url=params.get("return_url"),
        expires_at=alipay.parse_time(biz.get("time_expire")),
    )
    return RedirectResponse(f"{PREFIX}/cashier/{order.prepay_id}", status_code=302)


def _trade(db: Session, creds: SandboxCredentials, biz: Mapping[str, Any]) -> SandboxPaymentOrder | None:
    return sandbox_orders.order_by_trade_no(db, "alipay", creds.merchant_id, str(biz.get("out_trade_no", "")))


def _query(db: Session, creds: SandboxCredentials, biz: dict[str, Any], settings: Settings) -> dict[str, Any]:
    order = _trade(db, creds, biz)
    if order is None:
        return _not_exist()
    answer: dict[str, Any] = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": order.out_trade_no,
        "trade_status": _STATUS[order.state],
        "total_amount": alipay.yuan(order.amount_fen),
    }
    if order.transaction_id:
        answer.update(
            trade_no=order.transaction_id, send_pay_date=alipay.format_time(order.paid_at or utcnow())
        )
    return answer


def _close(db: Session, creds: SandboxCredentials, biz: dict[str, Any], settings: Settings) -> dict[str, Any]:
    order = _trade(db, creds, biz)
    if order is None:
        return _not_exist()
    if not sandbox_orders.close(db, order):
        return _error("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    return {"code": "10000", "msg": "Success", "out_trade_no": order.out_trade_no}


def _refund(
    db: Session, creds: SandboxCredentials, biz: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    order = _trade(db, creds, biz)
    amount = alipay.fen_of(biz.get("refund_amount"))
    if order is None:
        return _not_exist()
    if not amount or amount <= 0:
        return _error("40002", "Invalid Arguments", "isv.invalid-parameter", "退款金额无效")
    out_request_no = str(biz.get("out_request_no") or order.out_trade_no)
    result = sandbox_orders.refund(db, order, out_request_no, amount, biz.get("refund_reason"), None)
    if isinstance(result, str):
        sub = "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" if result == "NOT_ENOUGH" else "ACQ.TRADE_STATUS_ERROR"
        return _error("40004", "Business Failed", sub, "退款金额超限或交易状态不合法")
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "fund_change": "Y",
        "refund_fee": alipay.yuan(order.refunded_fen),
        "gmt_refund_pay": alipay.format_time(result.succeeded_at or utcnow()),
    }


def _refund_query(
    db: Session, creds: SandboxCredentials, biz: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    order = _trade(db, creds, biz)
    refund = sandbox_orders.refund_by_no(db, "alipay", str(biz.get("out_request_no", "")))
    if order is None or refund is None or refund.order_id != order.id:
        return {"code": "10000", "msg": "Success"}  # Alipay: an unknown refund is an empty success
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "out_request_no": refund.out_refund_no,
        "refund_amount": alipay.yuan(refund.amount_fen),
        "refund_status": "REFUND_SUCCESS",
        "gmt_refund_pay": alipay.format_time(refund.succeeded_at or utcnow()),
    }


def _bill_url(
    db: Session, creds: SandboxCredentials, biz: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    day = parse_day(str(biz.get("bill_date", "")))
    if day is None or biz.get("bill_type") != "trade":
        return _error("40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
    url = f"{settings.public_url(PREFIX)}/bill/{day.isoformat()}?token={secrets.token_hex(8)}"
    return {"code": "10000", "msg": "Success", "bill_download_url": url}


_METHODS = {
    "alipay.trade.query": _query,
    "alipay.trade.close": _close,
    "alipay.trade.refund": _refund,
    "alipay.trade.fastpay.refund.query": _refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": _bill_url,
}


async def form_params(request: Request) -> dict[str, str]:
    """The form fields of a gateway POST."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post(PREFIX + "/gateway.do")
def api_gateway(
    params: Annotated[dict[str, str], Depends(form_params)], db: Db, settings: AppSettings
) -> Response:
    """The server-to-server methods (form POST)."""
    creds = sandbox_credentials(db, "alipay")
    method = params.get("method", "")
    refused = _check(params, creds)
    handler = _METHODS.get(method)
    if refused is None and handler is None:
        refused = _error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
    if refused is not None or handler is None:
        return _answer(creds, method or "error", refused or {})
    return _answer(creds, method, handler(db, creds, _biz(params), settings))


@router.get(PREFIX + "/bill/{day}")
def download_bill(day: str, db: Db) -> Response:
    """The statement CSV behind ``bill_download_url``."""
    parsed = parse_day(day)
    if parsed is None:
        return PlainTextResponse("bill not found", status_code=404)
    creds = sandbox_credentials(db, "alipay")
    return PlainTextResponse(
        alipay_statement(db, creds.merchant_id, parsed), media_type="text/csv; charset=utf-8"
    )


router.include_router(cashier_router(PREFIX, "alipay", _on_paid))
