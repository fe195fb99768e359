"""The self-pay / insurance split of a bill, for billing (no FastAPI, no session auth).

``split_bill`` asks the platform to pre-settle and accepts its answer only if it is consistent
in integer fen (each line ``insurance + self_pay == quantity * price``, the totals are the sums of
the lines, no negative part); an uninsured patient's bill is all self-pay without a call.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from ihis.integrations.insurance.client import HttpInsuranceClient
from ihis.integrations.insurance.config import InsuranceConfig
from ihis.integrations.insurance.protocol import (
    InsuranceError,
    InsuranceGateway,
    InsuranceItemQuery,
    Split,
)
from ihis.integrations.insurance.rules import self_pay_split
from ihis.platform import jobs
from ihis.platform.errors import InvalidInput, UpstreamFailed
from ihis.settings import Settings

log = structlog.get_logger(__name__)

MAX_LINES = 200


def insurance_gateway(settings: Settings) -> InsuranceGateway:
    """The production client on the process's outbound HTTP client."""
    return HttpInsuranceClient(jobs.runtime().http, InsuranceConfig.from_settings(settings))


def _check(items: Sequence[InsuranceItemQuery]) -> None:
    if not 1 <= len(items) <= MAX_LINES:
        raise InvalidInput.field(
            "items", "items_count", "账单明细为 1 至 200 行", "A bill has 1 to 200 lines"
        )
    for n, item in enumerate(items):
        if item.quantity < 1:
            raise InvalidInput.field(
                f"items.{n}.quantity", "quantity_invalid", "数量应为正整数", "Quantity must be positive"
            )
        if item.price_fen < 0:
            raise InvalidInput.field(
                f"items.{n}.price_fen", "price_invalid", "单价不能为负", "Price cannot be negative"
            )


def consistent(split: Split, items: Sequence[InsuranceItemQuery]) -> bool:
    """True if ``split`` is an exact integer split of ``items`` (see the module docstring)."""
    if len(split.lines) != len(items):
        return False
    for line, item in zip(split.lines, items, strict=True):
        if line.insurance_code != item.insurance_code or line.total_fen != item.total_fen:
            return False
        if (
            line.insurance_fen < 0
            or line.self_pay_fen < 0
            or line.insurance_fen + line.self_pay_fen != line.total_fen
        ):
            return False
    return (
        split.total_fen == sum(line.total_fen for line in split.lines)
        and split.insurance_fen == sum(line.insurance_fen for line in split.lines)
        and split.self_pay_fen == sum(line.self_pay_fen for line in split.lines)
    )


def split_bill(
    gateway: InsuranceGateway | None, insured_id: str | None, items: Sequence[InsuranceItemQuery]
) -> Split:
    """The insurance and self-pay parts of a bill; all self-pay without insurance (integer fen)."""
    _check(items)
    if gateway is None or not insured_id:
        return self_pay_split(items)
    try:
        split = gateway.presettle(insured_id, list(items))
    except InsuranceError as exc:
        log.warning("insurance_presettle_failed", code=exc.code)
        if exc.code == "psn_not_insured":
            raise InvalidInput.field(
                "insured_id", "not_insured", "医保参保状态异常，请选择自费", "Not insured: choose self-pay"
            ) from exc
        raise UpstreamFailed(
            "医保平台暂不可用，可稍后重试或选择自费",
            "The insurance platform is unavailable; retry or pay yourself",
        ) from exc
    if not consistent(split, items):
        log.error("insurance_split_inconsistent", lines=len(items))
        raise UpstreamFailed("医保结算结果不一致", "The insurance platform answered an inconsistent split")
    return split
