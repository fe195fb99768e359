"""The arithmetic of a split, exact in integer fen (the sandbox platform's policy; see the docs).

Per line: the self-paid-first part is ``round_half_up(total * self_pay_ratio / 10000)``; of the
rest (the eligible part, 政策范围内) the fund pays ``round_half_up(eligible * fund_ratio / 10000)``;
the patient pays the remainder of the line. A bill's totals are the sums of its lines, so
``insurance + self_pay == total`` holds for every line and for the bill, whatever the rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ihis.integrations.insurance.protocol import (
    FULL_RATIO_BP,
    InsuranceItemQuery,
    ItemClass,
    Split,
    SplitLine,
)

# The sandbox platform's outpatient policy: the fund pays 70 % of the eligible part; the annual
# deductible (起付线) is treated as already met.
SANDBOX_FUND_RATIO_BP: Final = 7_000
SELF_PAY_RATIO_BP: Final[dict[str, int]] = {
    "甲": 0,
    "乙": 1_000,
    "丙": FULL_RATIO_BP,
    "unknown": FULL_RATIO_BP,
}


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up (both non-negative integers)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def split_line(
    item: InsuranceItemQuery, cls: ItemClass, fund_ratio_bp: int = SANDBOX_FUND_RATIO_BP
) -> SplitLine:
    """One line's split (see the module docstring)."""
    total = item.total_fen
    self_first = round_half_up(total * cls.self_pay_ratio, FULL_RATIO_BP)
    insurance = round_half_up((total - self_first) * fund_ratio_bp, FULL_RATIO_BP)
    return SplitLine(
        insurance_code=item.insurance_code,
        class_=cls.class_,
        total_fen=total,
        insurance_fen=insurance,
        self_pay_fen=total - insurance,
    )


def combine(lines: Sequence[SplitLine]) -> Split:
    """A bill's split from its lines (totals are sums)."""
    return Split(
        total_fen=sum(line.total_fen for line in lines),
        insurance_fen=sum(line.insurance_fen for line in lines),
        self_pay_fen=sum(line.self_pay_fen for line in lines),
        lines=tuple(lines),
    )


def self_pay_split(items: Sequence[InsuranceItemQuery]) -> Split:
    """Everything self-paid (no insurance, or the patient chose to pay themselves)."""
    return combine([SplitLine(i.insurance_code, "unknown", i.total_fen, 0, i.total_fen) for i in items])
