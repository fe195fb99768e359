"""Daily statements (对账单) of the sandbox channels, in each channel's published layout."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ihis.integrations.payment import sandbox_orders
from ihis.platform.clock import HOSPITAL_TZ, utcnow

WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
    "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
# WeChat's standard rate for this sandbox merchant: 0.6 %, fee in yuan with 5 decimals.
FEE_RATE = 0.006


def parse_day(text: str) -> dt.date | None:
    """``yyyy-MM-DD`` or None."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _local(moment: dt.datetime | None) -> str:
    return (moment or utcnow()).astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def wechat_statement(db: Session, merchant_id: str, day_text: str) -> str | None:
    """The ``ALL`` trade bill of a day: one line per payment and per refund, then the totals."""
    day = parse_day(day_text)
    if day is None:
        return None
    orders, refunds = sandbox_orders.statement_rows(db, "wechat", merchant_id, day)
    lines = [WECHAT_HEADER]
    fee_total = 0.0
    for o in orders:
        fee = o.amount_fen / 100 * FEE_RATE
        fee_total += fee
        cells = [
            _local(o.paid_at),
            o.app_id,
            o.merchant_id,
            "0",
            "",
            o.transaction_id or "",
            o.out_trade_no,
            "sandbox",
            "MWEB",
            "SUCCESS",
            "OTHERS",
            "CNY",
            _yuan(o.amount_fen),
            "0.00",
            "0",
            "0",
            "0.00",
            "0.00",
            "",
            "",
            o.description,
            "",
            f"{fee:.5f}",
            "0.60%",
            _yuan(o.amount_fen),
            "0.00",
            "",
        ]
        lines.append(",".join("`" + c for c in cells))
    refund_total = 0
    for r, o in refunds:
        refund_total += r.amount_fen
        cells = [
            _local(r.succeeded_at),
            o.app_id,
            o.merchant_id,
            "0",
            "",
            o.transaction_id or "",
            o.out_trade_no,
            "sandbox",
            "MWEB",
            "REFUND",
            "OTHERS",
            "CNY",
            "0.00",
            "0.00",
            r.refund_id,
            r.out_refund_no,
            _yuan(r.amount_fen),
            "0.00",
            "ORIGINAL",
            "SUCCESS",
            o.description,
            "",
            "0.00000",
            "0.60%",
            "0.00",
            _yuan(r.amount_fen),
            "",
        ]
        lines.append(",".join("`" + c for c in cells))
    paid_total = sum(o.amount_fen for o in orders)
    lines.append(WECHAT_SUMMARY)
    totals = [
        str(len(orders) + len(refunds)),
        _yuan(paid_total),
        _yuan(refund_total),
        "0.00",
        f"{fee_total:.5f}",
        _yuan(paid_total),
        _yuan(refund_total),
    ]
    lines.append(",".join("`" + c for c in totals))
    return "\r\n".join(lines) + "\r\n"


def alipay_statement(db: Session, merchant_id: str, day: dt.date) -> str:
    """The 业务明细 CSV of a day (Alipay zips it; the sandbox serves the CSV itself)."""
    orders, refunds = sandbox_orders.statement_rows(db, "alipay", merchant_id, day)
    next_day = day + dt.timedelta(days=1)
    paid = _yuan(sum(o.amount_fen for o in orders))
    refunded = _yuan(-sum(r.amount_fen for r, _ in refunds))
    lines = [
        "#支付宝业务明细查询",
        f"#账号：[{merchant_id}]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{next_day:%Y年%m月%d日} 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
    ]
    for o in orders:
        lines.append(
            ",".join(
                [
                    o.transaction_id or "",
                    o.out_trade_no,
                    "交易",
                    o.description,
                    _local(o.created_at),
                    _local(o.paid_at),
                    "",
                    "",
                    "",
                    "",
                    "sandbox",
                    _yuan(o.amount_fen),
                    _yuan(o.amount_fen),
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "",
                    "0.00",
                    "0.00",
                    "",
                    _yuan(-round(o.amount_fen * FEE_RATE)),
                    "0.00",
                    "",
                ]
            )
        )
    for r, o in refunds:
        lines.append(
            ",".join(
                [
                    o.transaction_id or "",
                    o.out_trade_no,
                    "退款",
                    o.description,
                    _local(r.created_at),
                    _local(r.succeeded_at),
                    "",
                    "",
                    "",
                    "",
                    "sandbox",
                    _yuan(-r.amount_fen),
                    _yuan(-r.amount_fen),
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "",
                    "0.00",
                    "0.00",
                    r.out_refund_no,
                    "0.00",
                    "0.00",
                    "",
                ]
            )
        )
    lines += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(orders)}笔，商家实收：{paid}元，商家优惠：0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收：{refunded}元，商家优惠：0.00元",
        f"#导出时间：[{_local(utcnow())}]",
    ]
    return "\r\n".join(lines) + "\r\n"
