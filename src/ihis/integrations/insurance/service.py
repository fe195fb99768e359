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
    ADMDVS,
    INSURANCE_TYPES,
    PSN_NO,
    InsuranceError,
    InsuranceGateway,
    InsuranceItemQuery,
    PersonInsurance,
    Split,
)
from ihis.integrations.insurance.rules import self_pay_split
from ihis.platform import jobs
from ihis.platform.errors import Conflict, InvalidInput, UpstreamFailed
from ihis.settings import Settings

log = structlog.get_logger(__name__)

MAX_LINES = 200


def insurance_gateway(settings: Settings) -> InsuranceGateway:
    """The production client on the process's outbound HTTP client."""
    return HttpInsuranceClient(jobs.runtime().http, InsuranceConfig.from_settings(settings))


class PersonNotInsured(Conflict):
    """The platform knows no insured person by this ID number and name."""

    code = "insurance_not_found"

    def __init__(self) -> None:
        super().__init__(
            "未查询到该就诊人的医保参保信息，可继续自费就医",
            "The insurance platform has no insured person with these details; pay yourself",
        )


def platform_unavailable() -> UpstreamFailed:
    return UpstreamFailed(
        "医保平台暂不可用，请稍后再试", "The insurance platform is unavailable; try again later"
    )


def find_person(gateway: InsuranceGateway, id_number: str, name: str) -> PersonInsurance:
    """1101: the person's insurance; 409 ``insurance_not_found`` if none, 502 if the platform is down.

    Only the basic schemes the drug settlement uses (310, 390) are accepted, and the answer's shape
    is checked before anything is stored.
    """
    try:
        person = gateway.person_info(id_number, name)
    except InsuranceError as exc:
        log.warning("insurance_person_query_failed", code=exc.code)  # never the ID number
        if exc.code in ("psn_not_found", "psn_not_insured"):
            raise PersonNotInsured() from exc
        raise platform_unavailable() from exc
    if person.insutype not in INSURANCE_TYPES:
        raise PersonNotInsured()
    if not PSN_NO.match(person.psn_no) or not ADMDVS.match(person.insuplc_admdvs):
        log.error("insurance_person_answer_malformed")
        raise platform_unavailable()
    return person


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
