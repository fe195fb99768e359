"""Resident identity card numbers (居民身份证号码, GB 11643-1999): checksum and derived facts.

DOMAIN §1: 17 digits + a check character (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2,
``"10X98765432"[sum % 11]``); the birth date is digits 7-14; the 17th digit is odd for men.
Sex codes follow GB/T 2261.1 (1 male, 2 female). ``stdnum.cn.ric`` checks length, format,
checksum, birth date and the region code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from ihis.platform.clock import local_today

SEX_MALE = 1
SEX_FEMALE = 2
ADULT_AGE = 18
# 《互联网诊疗管理办法》第十九条: children under 6 need a guardian and a clinician present (DOMAIN §1).
ACCOMPANIED_CHILD_AGE = 6


class IdNumberInvalid(ValueError):
    """The number is not a valid GB 11643 ID number; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNumberFacts:
    """What an ID number tells: the normalised number, birth date and sex (GB/T 2261.1)."""

    id_number: str
    birth_date: dt.date
    sex: int


def normalise(value: str) -> str:
    """Strip spaces and upper-case the check character (``x`` -> ``X``)."""
    return ric.compact(value)


def parse_id_number(value: str, *, today: dt.date | None = None) -> IdNumberFacts:
    """Validate ``value`` (GB 11643) and derive birth date and sex; raise ``IdNumberInvalid``."""
    try:
        number = ric.validate(value)
    except InvalidLength as exc:
        raise IdNumberInvalid("length") from exc
    except InvalidFormat as exc:
        raise IdNumberInvalid("format") from exc
    except InvalidChecksum as exc:
        raise IdNumberInvalid("checksum") from exc
    except InvalidComponent as exc:
        raise IdNumberInvalid("component") from exc
    except ValidationError as exc:
        raise IdNumberInvalid("invalid") from exc
    birth_date = ric.get_birth_date(number)
    if birth_date > (today or local_today()):
        raise IdNumberInvalid("birth_date_in_future")
    sex = SEX_MALE if int(number[16]) % 2 == 1 else SEX_FEMALE
    return IdNumberFacts(id_number=number, birth_date=birth_date, sex=sex)


def is_valid(value: str) -> bool:
    """True if ``value`` is a valid GB 11643 ID number."""
    try:
        parse_id_number(value)
    except IdNumberInvalid:
        return False
    return True


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Full years of age on ``day`` (a 29 February birthday counts from 1 March in other years)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


@dataclass(frozen=True)
class AgeFacts:
    age: int
    is_minor: bool
    under_six: bool


def age_facts(birth_date: dt.date, *, today: dt.date | None = None) -> AgeFacts:
    """Age in full years at the hospital today, minor (< 18) and under-six (< 6) flags."""
    age = age_on(birth_date, today or local_today())
    return AgeFacts(age=age, is_minor=age < ADULT_AGE, under_six=age < ACCOMPANIED_CHILD_AGE)
