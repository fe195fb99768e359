"""Dose range by age group, and the quantity the dose, frequency and days need."""

from __future__ import annotations

from typing import Any

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

AMLODIPINE = {1: make_drug(1, "amlodipine", classes={"ccb"})}


def dose_row(**fields: Any) -> tuple[str, dict[str, Any]]:
    data = {
        "ingredient": "amlodipine",
        "unit": "mg",
        "min_age_months": 216,
        "max_single": "10",
        "max_daily": "10",
    }
    return ("dose_range", {**data, **fields})


def _check(
    dose: str, frequency: str = "qd", *, kb: Any = None, years: int = 45, months: int = 0
) -> list[Any]:
    rx = draft(line(1, dose=dose, frequency=frequency, quantity=9))
    return evaluate(rx, patient(years, months), AMLODIPINE, kb or kb_of(dose_row()))


def test_dose_just_at_the_maximum_is_allowed() -> None:
    assert not {"dose_single_over_max", "dose_daily_over_max"} & set(codes(_check("10")))


def test_single_dose_just_above_the_maximum_is_blocked() -> None:
    finding = only(_check("10.01"), "dose_single_over_max")
    assert (finding.severity, finding.field) == ("block", "lines.0.dose")
    assert finding.detail["max_single"] == "10"
    assert "10.01mg" in finding.message_zh


def test_daily_dose_is_dose_times_the_frequency() -> None:
    findings = _check("5", "tid")
    finding = only(findings, "dose_daily_over_max")
    assert "15mg" in finding.message_zh and "每日三次" in finding.message_zh
    assert "dose_single_over_max" not in codes(findings)


def test_daily_dose_of_every_other_day_counts_half() -> None:
    assert "dose_daily_over_max" not in codes(_check("10", "qod"))


def test_as_needed_dose_skips_the_daily_check() -> None:
    assert "dose_daily_over_max" not in codes(_check("10", "prn"))


def test_row_severity_warn_gives_a_warning() -> None:
    finding = only(_check("20", kb=kb_of(dose_row(severity="warn"))), "dose_single_over_max")
    assert finding.severity == "warn"


def test_dose_in_another_mass_unit_is_converted() -> None:
    kb = kb_of(dose_row(unit="g", max_single="0.01", max_daily="0.01"))
    assert "dose_single_over_max" not in codes(_check("10", kb=kb))
    assert "dose_single_over_max" in codes(_check("11", kb=kb))


def test_unit_that_cannot_be_compared_warns_that_the_dose_was_not_checked() -> None:
    kb = kb_of(dose_row(unit="IU"))
    finding = only(_check("500", kb=kb), "dose_unchecked")
    assert (finding.severity, finding.field) == ("warn", "lines.0.dose_unit")
    assert "dose_single_over_max" not in codes(_check("500", kb=kb))


def test_rows_of_other_ages_do_not_apply() -> None:
    assert "dose_single_over_max" not in codes(_check("20", years=17, months=11))
    assert "dose_single_over_max" in codes(_check("20", years=18))


def test_route_specific_row_applies_to_that_route_only() -> None:
    kb = kb_of(dose_row(route="iv"))
    assert "dose_single_over_max" not in codes(_check("20", kb=kb))


def test_compound_drugs_are_not_checked_against_one_ingredients_range() -> None:
    drugs = {1: make_drug(1, "amlodipine", ingredients={"amlodipine", "atorvastatin"})}
    rx = draft(line(1, dose="20", quantity=5))
    assert "dose_single_over_max" not in codes(evaluate(rx, patient(), drugs, kb_of(dose_row())))


AMOXICILLIN_CHILD = [
    ("dose_range", {"ingredient": "amoxicillin", "unit": "mg", "min_age_months": 36, "max_age_months": 72,
                    "max_daily": "900", "severity": "warn"}),
    ("dose_range", {"ingredient": "amoxicillin", "unit": "mg", "min_age_months": 72, "max_age_months": 144,
                    "max_daily": "1600", "severity": "warn"}),
]  # fmt: skip


def test_age_band_boundary_5y11m_uses_the_younger_band_and_6y_the_older() -> None:
    drugs = {1: make_drug(1, "amoxicillin", classes={"penicillin"}, unit_amount="250", pack_size=24)}
    rx = draft(line(1, dose="500", frequency="bid", days=3, quantity=1), diagnoses=("J02",))
    younger = evaluate(rx, patient(5, 11), drugs, kb_of(*AMOXICILLIN_CHILD))
    older = evaluate(rx, patient(6, 0), drugs, kb_of(*AMOXICILLIN_CHILD))
    assert only(younger, "dose_daily_over_max").detail["max_daily"] == "900"
    assert "dose_daily_over_max" not in codes(older)


# --- quantity ----------------------------------------------------------------------------------


def _quantity(quantity: int, *, dose: str = "5", frequency: str = "qd", days: int = 7) -> list[Any]:
    drugs = {1: make_drug(1, "amlodipine", unit_amount="5", pack_size=7)}
    rx = draft(line(1, dose=dose, frequency=frequency, days=days, quantity=quantity))
    return evaluate(rx, patient(), drugs, kb_of())


def test_quantity_one_package_over_the_need_is_accepted() -> None:
    # 5 mg bid x 7 days = 14 tablets = 2 boxes of 7; 3 boxes is one spare.
    assert codes(_quantity(3, frequency="bid")) == []


def test_quantity_more_than_one_package_over_the_need_warns() -> None:
    finding = only(_quantity(4, frequency="bid"), "quantity_excess")
    assert (finding.severity, finding.field) == ("warn", "lines.0.quantity")
    assert finding.detail == {**finding.detail, "needed": 2, "quantity": 4}


def test_quantity_below_the_need_is_information_only() -> None:
    finding = only(_quantity(1, frequency="bid"), "quantity_short")
    assert finding.severity == "info" and finding.detail["needed"] == 2


def test_need_rounds_up_to_whole_packages() -> None:
    # 2.5 mg qd x 7 days = 3.5 tablets -> 1 box.
    assert codes(_quantity(1, dose="2.5")) == []
    assert "quantity_excess" in codes(_quantity(3, dose="2.5"))


def test_once_only_dose_needs_one_dose_whatever_the_days() -> None:
    assert "quantity_excess" in codes(_quantity(3, frequency="st"))
    assert codes(_quantity(1, frequency="st")) == []


def test_weekly_dose_needs_a_dose_a_week() -> None:
    assert codes(_quantity(1, frequency="qw", days=7)) == []
