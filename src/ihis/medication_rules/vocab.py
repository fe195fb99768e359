"""Vocabularies of a prescription line: frequencies (给药频次) and dose units the engine can compare.

Route codes are ``ihis.formulary.facts.ROUTES``. A frequency's ``per_day`` is exact (a Fraction):
``qod`` is 1/2 a day, ``qw`` 1/7. ``prn`` (as needed) has no fixed count, so daily-dose and quantity
checks skip it; ``st`` (immediately, once) gives one dose whatever the days.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final


@dataclass(frozen=True)
class Frequency:
    """One frequency code with its Chinese and English names and doses per day."""

    code: str
    name_zh: str
    name_en: str
    per_day: Fraction | None  # None: as needed (prn)
    once_only: bool = False  # st: a single dose


FREQUENCIES: Final = {
    f.code: f
    for f in (
        Frequency("qd", "每日一次", "once daily", Fraction(1)),
        Frequency("bid", "每日两次", "twice daily", Fraction(2)),
        Frequency("tid", "每日三次", "three times daily", Fraction(3)),
        Frequency("qid", "每日四次", "four times daily", Fraction(4)),
        Frequency("qn", "每晚一次", "every night", Fraction(1)),
        Frequency("q8h", "每8小时一次", "every 8 hours", Fraction(3)),
        Frequency("q12h", "每12小时一次", "every 12 hours", Fraction(2)),
        Frequency("qod", "隔日一次", "every other day", Fraction(1, 2)),
        Frequency("qw", "每周一次", "once weekly", Fraction(1, 7)),
        Frequency("prn", "必要时", "as needed", None),
        Frequency("st", "立即", "immediately, once", Fraction(1), once_only=True),
    )
}

# Units of one dose the engine converts between (same dimension only); anything else (IU, 片, 丸)
# is compared literally.
_UNIT_SCALE: Final = {
    "g": ("mass", Fraction(1_000_000)),
    "mg": ("mass", Fraction(1_000)),
    "μg": ("mass", Fraction(1)),
    "ug": ("mass", Fraction(1)),
    "mcg": ("mass", Fraction(1)),
    "l": ("volume", Fraction(1000)),
    "ml": ("volume", Fraction(1)),
}


def convert(amount: Decimal | Fraction, from_unit: str, to_unit: str) -> Fraction | None:
    """``amount`` in ``from_unit`` expressed in ``to_unit``; None when they cannot be compared."""
    value = Fraction(amount)
    if from_unit.casefold() == to_unit.casefold():
        return value
    a = _UNIT_SCALE.get(from_unit.casefold())
    b = _UNIT_SCALE.get(to_unit.casefold())
    if a is None or b is None or a[0] != b[0]:
        return None
    return value * a[1] / b[1]


def plain(value: Fraction | Decimal) -> str:
    """A number as a prescriber writes it: ``2.5``, ``10``, ``0.125`` (rounded to 4 places)."""
    number = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
    text = f"{number.quantize(Decimal('0.0001')).normalize():f}"
    return text
