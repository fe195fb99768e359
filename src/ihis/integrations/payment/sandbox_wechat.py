"""Sandbox WeChat Pay API v3 under ``/sandbox/wechatpay``: H5 prepay, query, close, refund, bills.

It checks what the platform checks (the merchant's ``Authorization`` signature, serial, timestamp
window, merchant id, parameters), signs every answer with the platform key, and sends signed,
AEAD_AES_256_GCM-encrypted notifications with WeChat's retry schedule (``sandbox_notify``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from ihis.integrations.payment import rsa, sandbox_orders, wechatpay
from ihis.integrations.payment.models import SandboxPaymentOrder, SandboxPaymentRefund
from ihis.integrations.payment.sandbox_cashier import cashier_router
from ihis.integrations.payment.sandbox_keys import SandboxCredentials, sandbox_credentials
from ihis.integrations.payment.sandbox_notify import queue_notify
from ihis.integrations.payment.sandbox_statement import wechat_statement
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db
from ihis.settings import Settings

PREFIX = wechatpay.SANDBOX_PATH
router = APIRouter(tags=["sandbox"], include_in_schema=False)
_TRADE_STATE = {"unpaid": "NOTPAY", "paid": "SUCCESS", "closed": "CLOSED", "refunded": "REFUND"}


async def raw_body(request: Request) -> bytes:
    """The exact bytes that were signed."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def _answer(creds: SandboxCredentials, status: int, payload: dict[str, Any] | None = None) -> Response:
    body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    headers = wechatpay.signed_headers(
        body, serial=creds.channel_serial, private_pem=creds.channel_private_pem
    )
    headers["Request-ID"] = secrets.token_hex(16)
    return Response(
        body.encode(), status_code=status, headers=headers, media_type="application/json" if body else None
    )


def _authenticate(db: Session, request: Request, body: bytes) -> SandboxCredentials:
    creds = sandbox_credentials(db, "wechat")
    fields = wechatpay.parse_authorization(request.headers.get("authorization", ""))
    if fields is None:
        raise Refused(401, "SIGN_ERROR", "Authorization 头缺失或格式错误")
    if fields["mchid"] != creds.merchant_id:
        raise Refused(401, "SIGN_ERROR", "商户号与证书不匹配")
    if fields["serial_no"] != creds.merchant_serial:
        raise Refused(401, "SIGN_ERROR", "商户证书序列号有误")
    stamp = fields["timestamp"]
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > wechatpay.TIMESTAMP_TOLERANCE_SECONDS:
        raise Refused(401, "SIGN_ERROR", "时间戳已过期")
    url = request.url.path.removeprefix(PREFIX) + (f"?{request.url.query}" if request.url.query else "")
    message = wechatpay.request_message(request.method, url, stamp, fields["nonce_str"], body.decode())
    if not rsa.verify(creds.merchant_public_pem, message, fields["signature"]):
        raise Refused(401, "SIGN_ERROR", "签名错误")
    return creds


def _guarded(
    db: Session, request: Request, body: bytes, act: Callable[[SandboxCredentials], Response]
) -> Response:
    creds = sandbox_credentials(db, "wechat")
    try:
        return act(_authenticate(db, request, body))
    except Refused as refused:
        return _answer(creds, refused.status, {"code": refused.code, "message": refused.message})


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise Refused(400, "PARAM_ERROR", "请求体不是合法的 JSON") from exc
    if not isinstance(value, dict):
        raise Refused(400, "PARAM_ERROR", "请求体不是 JSON 对象")
    return value


def transaction_json(order: SandboxPaymentOrder) -> dict[str, Any]:
    """The v3 transaction object (query answer, notify resource)."""
    result: dict[str, Any] = {
        "appid": order.app_id,
        "mchid": order.merchant_id,
        "out_trade_no": order.out_trade_no,
        "trade_type": "MWEB",
        "trade_state": _TRADE_STATE[order.state],
        "trade_state_desc": {
            "unpaid": "未支付",
            "paid": "支付成功",
            "closed": "已关闭",
            "refunded": "转入退款",
        }[order.state],
        "amount": {"total": order.amount_fen, "currency": "CNY"},
    }
    if order.transaction_id:
        result.update(
            transaction_id=order.transaction_id,
            bank_type="OTHERS",
            success_time=wechatpay.format_time(order.paid_at or utcnow()),
            payer={"openid": "o" + hashlib.sha256(order.out_trade_no.encode()).hexdigest()[:27]},
        )
        result["amount"].update(payer_total=order.amount_fen, payer_currency="CNY")
    return result


def refund_json(refund: SandboxPaymentRefund, order: SandboxPaymentOrder) -> dict[str, Any]:
    """The v3 refund object (answer and notify resource)."""
    return {
        "mchid": order.merchant_id,
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "status": "SUCCESS" if refund.state == "succeeded" else "PROCESSING",
        "refund_status": "SUCCESS" if refund.state == "succeeded" else "PROCESSING",
        "success_time": wechatpay.format_time(refund.succeeded_at) if refund.succeeded_at else None,
        "create_time": wechatpay.format_time(refund.created_at),
        "amount": {
            "total": order.amount_fen,
            "refund": refund.amount_fen,
            "payer_total": order.amount_fen,
            "payer_refund": refund.amount_fen,
            "currency": "CNY",
        },
    }


def _queue(
    db: Session, settings: Settings, url: str, event: str, kind: str, content: dict[str, Any], **kw: Any
) -> None:
    creds = sandbox_credentials(db, "wechat")
    envelope = {
        "id": secrets.token_hex(16),
        "create_time": wechatpay.format_time(utcnow()),
        "resource_type": "encrypt-resource",
        "event_type": event,
        "summary": "支付成功" if kind == "transaction" else "退款成功",
        "resource": {
            "original_type": kind,
            **wechatpay.encrypt_resource(creds.api_key, json.dumps(content, ensure_ascii=False), kind),
        },
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    queue_notify(db, settings, "wechat", url, body, "application/json", **kw)


def _on_paid(db: Session, settings: Settings, order: SandboxPaymentOrder) -> None:
    _queue(
        db,
        settings,
        order.notify_url,
        "TRANSACTION.SUCCESS",
        "transaction",
        transaction_json(order),
        amount_fen=order.amount_fen,
    )


def _prepay(db: Session, settings: Settings, creds: SandboxCredentials, body: bytes) -> Response:
    data = _json(body)
    amount = (data.get("amount") or {}).get("total")
    for name in ("appid", "mchid", "description", "out_trade_no", "notify_url"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise Refused(400, "PARAM_ERROR", f"缺少参数 {name}")
    if not isinstance(amount, int) or amount <= 0:
        raise Refused(400, "PARAM_ERROR", "amount.total 应为正整数（分）")
    if data["mchid"] != creds.merchant_id or data["appid"] != creds.app_id:
        raise Refused(400, "APPID_MCHID_NOT_MATCH", "appid 与 mchid 不匹配")
    order = sandbox_orders.open_order(
        db,
        channel="wechat",
        merchant_id=creds.merchant_id,
        app_id=creds.app_id,
        out_trade_no=data["out_trade_no"],
        description=data["description"],
        amount_fen=amount,
        notify_url=data["notify_url"],
        return_url=None,
        expires_at=wechatpay.parse_time(data.get("time_expire")),
    )
    if order.state == sandbox_orders.PAID:
        raise Refused(400, "ORDERPAID", "该订单已支付")
    if order.amount_fen != amount:
        raise Refused(400, "OUT_TRADE_NO_USED", "商户订单号重复")
    base = settings.public_url(PREFIX)
    h5_url = (
        f"{base}/cashier/{order.prepay_id}?prepay_id={order.prepay_id}&package={secrets.randbelow(10**10)}"
    )
    return _answer(creds, 200, {"h5_url": h5_url})


@router.post(PREFIX + "/v3/pay/transactions/h5")
def h5_prepay(request: Request, body: RawBody, db: Db, settings: AppSettings) -> Response:
    """Prepare an H5 order; answers ``{"h5_url": ...}`` (the cashier)."""
    return _guarded(db, request, body, lambda creds: _prepay(db, settings, creds, body))


@router.get(PREFIX + "/v3/pay/transactions/out-trade-no/{out_trade_no}")
def query_order(out_trade_no: str, request: Request, body: RawBody, db: Db) -> Response:
    """The order by the merchant's number (404 ``ORDER_NOT_EXIST``)."""

    def act(creds: SandboxCredentials) -> Response:
        order = sandbox_orders.order_by_trade_no(db, "wechat", creds.merchant_id, out_trade_no)
        if order is None:
            raise Refused(404, "ORDER_NOT_EXIST", "订单不存在")
        return _answer(creds, 200, transaction_json(order))

    return _guarded(db, request, body, act)


@router.post(PREFIX + "/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
def close_order(out_trade_no: str, request: Request, body: RawBody, db: Db) -> Response:
    """Close an unpaid order (204); ``ORDERPAID`` if it was paid."""

    def act(creds: SandboxCredentials) -> Response:
        order = sandbox_orders.order_by_trade_no(db, "wechat", creds.merchant_id, out_trade_no)
        if order is None:
            raise Refused(404, "ORDER_NOT_EXIST", "订单不存在")
        if not sandbox_orders.close(db, order):
            raise Refused(400, "ORDERPAID", "订单已支付")
        return _answer(creds, 204)

    return _guarded(db, request, body, act)


@router.post(PREFIX + "/v3/refund/domestic/refunds")
def create_refund(request: Request, body: RawBody, db: Db, settings: AppSettings) -> Response:
    """Accept a refund (PROCESSING), then notify REFUND.SUCCESS after commit."""

    def act(creds: SandboxCredentials) -> Response:
        data = _json(body)
        amount = data.get("amount") or {}
        if not isinstance(amount.get("refund"), int) or amount["refund"] <= 0:
            raise Refused(400, "PARAM_ERROR", "amount.refund 应为正整数（分）")
        order = sandbox_orders.order_by_trade_no(
            db, "wechat", creds.merchant_id, str(data.get("out_trade_no"))
        )
        if order is None:
            raise Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if amount.get("total") != order.amount_fen:
            raise Refused(400, "PARAM_ERROR", "订单金额不一致")
        known = sandbox_orders.refund_by_no(db, "wechat", str(data.get("out_refund_no")))
        result = sandbox_orders.refund(
            db,
            order,
            str(data.get("out_refund_no")),
            amount["refund"],
            data.get("reason"),
            data.get("notify_url"),
        )
        if isinstance(result, str):
            raise Refused(
                403 if result == "NOT_ENOUGH" else 400, result, "退款金额超出可退金额或订单状态不正确"
            )
        answer = refund_json(result, order)
        if known is None:
            if result.notify_url:
                _queue(
                    db, settings, result.notify_url, "REFUND.SUCCESS", "refund", refund_json(result, order)
                )
            answer.update(status="PROCESSING")  # accepted now; the money moves, then REFUND.SUCCESS
        return _answer(creds, 200, answer)

    return _guarded(db, request, body, act)


@router.get(PREFIX + "/v3/refund/domestic/refunds/{out_refund_no}")
def query_refund(out_refund_no: str, request: Request, body: RawBody, db: Db) -> Response:
    """A refund by the merchant's number."""

    def act(creds: SandboxCredentials) -> Response:
        refund = sandbox_orders.refund_by_no(db, "wechat", out_refund_no)
        order = db.get(SandboxPaymentOrder, refund.order_id) if refund else None
        if refund is None or order is None:
            raise Refused(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return _answer(creds, 200, refund_json(refund, order))

    return _guarded(db, request, body, act)


@router.get(PREFIX + "/v3/bill/tradebill")
def trade_bill(
    request: Request, body: RawBody, db: Db, settings: AppSettings, bill_date: str = ""
) -> Response:
    """Where to download the day's trade statement (``download_url``, SHA1 ``hash_value``)."""

    def act(creds: SandboxCredentials) -> Response:
        text = wechat_statement(db, creds.merchant_id, bill_date)
        if text is None:
            raise Refused(400, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-DD")
        digest = hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - WeChat's documented hash
        url = f"{settings.public_url(PREFIX)}/v3/billdownload/file?token={bill_date}"
        return _answer(creds, 200, {"hash_type": "SHA1", "hash_value": digest, "download_url": url})

    return _guarded(db, request, body, act)


@router.get(PREFIX + "/v3/billdownload/file")
def download_bill(request: Request, body: RawBody, db: Db, token: str = "") -> Response:
    """The statement file (CSV in WeChat's format; signed requests only, answer not signed)."""

    def act(creds: SandboxCredentials) -> Response:
        text = wechat_statement(db, creds.merchant_id, token)
        if text is None:
            raise Refused(400, "PARAM_ERROR", "token 无效")
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")

    return _guarded(db, request, body, act)


router.include_router(cashier_router(PREFIX, "wechat", _on_paid))
