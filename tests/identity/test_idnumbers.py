"""GB 11643 ID numbers: checksum vectors, derived birth date and sex, age flags."""

from __future__ import annotations

import datetime as dt

import pytest

from ihis.identity import idnumbers
from ihis.identity.idnumbers import IdNumberInvalid, age_facts, parse_id_number


def test_the_standards_worked_example_is_valid_and_female() -> None:
    facts = parse_id_number("11010519491231002X")
    assert facts.id_number == "11010519491231002X"
    assert facts.birth_date == dt.date(1949, 12, 31)
    assert facts.sex == idnumbers.SEX_FEMALE  # 17th digit 2: even


def test_lower_case_check_character_and_spaces_are_normalised() -> None:
    assert parse_id_number(" 11010519491231002x ").id_number == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "sex"),
    [("110105198005046032", idnumbers.SEX_MALE), ("44030519951111612X", idnumbers.SEX_FEMALE)],
)
def test_sex_follows_the_parity_of_the_17th_digit(number: str, sex: int) -> None:
    assert parse_id_number(number).sex == sex


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "checksum"),  # correct is X
        ("11010519491231002", "length"),
        ("1101051949123100211", "length"),
        ("11010519491A31002X", "format"),
        ("110105194913310024", "component"),  # month 13 (checksum made valid below)
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(number: str, reason: str) -> None:
    if reason == "component":
        from stdnum.cn import ric

        number = number[:17] + ric.calc_check_digit(number)
    with pytest.raises(IdNumberInvalid) as caught:
        parse_id_number(number)
    assert caught.value.reason == reason
    assert not idnumbers.is_valid(number)


def test_birth_date_in_the_future_is_refused() -> None:
    from stdnum.cn import ric

    body = "11010520991231002"
    with pytest.raises(IdNumberInvalid) as caught:
        parse_id_number(body + ric.calc_check_digit(body + "0"), today=dt.date(2026, 1, 1))
    assert caught.value.reason == "birth_date_in_future"


def test_age_counts_full_years_and_flags_minors_and_children_under_six() -> None:
    birth = dt.date(2020, 6, 15)
    assert age_facts(birth, today=dt.date(2026, 6, 14)) == idnumbers.AgeFacts(5, True, True)
    assert age_facts(birth, today=dt.date(2026, 6, 15)) == idnumbers.AgeFacts(6, True, False)
    adult = dt.date(2008, 3, 1)
    assert age_facts(adult, today=dt.date(2026, 2, 28)).is_minor
    assert not age_facts(adult, today=dt.date(2026, 3, 1)).is_minor


def test_a_leap_day_birthday_turns_a_year_older_on_the_first_of_march() -> None:
    assert idnumbers.age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert idnumbers.age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18
