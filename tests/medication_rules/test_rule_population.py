"""Children, the elderly, pregnancy and lactation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import TODAY, codes, draft, kb_of, line, make_drug, only, patient

ASPIRIN = {1: make_drug(1, "aspirin", classes={"antiplatelet", "nsaid"}, unit_amount="100", pack_size=30)}
DIGOXIN = {1: make_drug(1, "digoxin", classes={"cardiac_glycoside"}, unit_amount="0.25", dose_unit="mg")}
STATIN = {1: make_drug(1, "atorvastatin", classes={"statin"}, unit_amount="20")}


def age_row(code: str, group: str, years: int, severity: str = "warn") -> tuple[str, dict[str, Any]]:
    return (
        "age_rule",
        {
            "code": code,
            "group": group,
            "age_years": years,
            "severity": severity,
            "note_zh": "慎用",
            "note_en": "caution",
        },
    )


def pregnancy_row(
    code: str, condition: str = "pregnancy", severity: str = "block"
) -> tuple[str, dict[str, Any]]:
    return (
        "pregnancy_rule",
        {
            "code": code,
            "condition": condition,
            "severity": severity,
            "note_zh": "禁用",
            "note_en": "contraindicated",
        },
    )


def test_child_of_5_years_11_months_is_flagged_as_under_six() -> None:
    finding = only(evaluate(draft(line(1, dose="100")), patient(5, 11), ASPIRIN, kb_of()), "child_under_six")
    assert (finding.severity, finding.field) == ("info", "patient")
    assert finding.detail["age_months"] == 71


def test_child_of_exactly_6_years_is_not_under_six() -> None:
    assert "child_under_six" not in codes(
        evaluate(draft(line(1, dose="100")), patient(6, 0), ASPIRIN, kb_of())
    )


def test_sixth_birthday_is_reached_on_the_day_not_the_day_before() -> None:
    rx = draft(line(1, dose="100"))
    day_before = patient(birth_date=dt.date(TODAY.year - 6, TODAY.month, TODAY.day + 1))
    on_the_day = patient(birth_date=dt.date(TODAY.year - 6, TODAY.month, TODAY.day))
    assert "child_under_six" in codes(evaluate(rx, day_before, ASPIRIN, kb_of()))
    assert "child_under_six" not in codes(evaluate(rx, on_the_day, ASPIRIN, kb_of()))


def test_child_rule_applies_below_its_age_and_not_from_it() -> None:
    kb = kb_of(age_row("aspirin", "child", 16))
    rx = draft(line(1, dose="100"))
    finding = only(evaluate(rx, patient(15, 11), ASPIRIN, kb), "age_child")
    assert (finding.severity, finding.field) == ("warn", "lines.0.drug_id")
    assert "age_child" not in codes(evaluate(rx, patient(16, 0), ASPIRIN, kb))


def test_child_rule_by_class_with_block_severity_blocks() -> None:
    kb = kb_of(age_row("nsaid", "child", 12, "block"), age_row("aspirin", "child", 16))
    finding = only(evaluate(draft(line(1, dose="100")), patient(10), ASPIRIN, kb), "age_child")
    assert finding.severity == "block" and finding.detail["rule_code"] == "nsaid"


def test_elderly_rule_applies_from_65_not_at_64() -> None:
    kb = kb_of(age_row("digoxin", "elderly", 65))
    rx = draft(line(1, dose="0.125"), diagnoses=("I50",))
    assert "age_elderly" in codes(evaluate(rx, patient(65, 0), DIGOXIN, kb))
    assert "age_elderly" not in codes(evaluate(rx, patient(64, 11), DIGOXIN, kb))


def test_statin_in_pregnancy_is_blocked() -> None:
    rx = draft(line(1, dose="20"), diagnoses=("E78",))
    finding = only(
        evaluate(rx, patient(30, pregnant=True), STATIN, kb_of(pregnancy_row("statin"))), "pregnancy"
    )
    assert (finding.severity, finding.field) == ("block", "lines.0.drug_id")


def test_pregnancy_not_recorded_or_denied_is_not_checked() -> None:
    rx = draft(line(1, dose="20"), diagnoses=("E78",))
    kb = kb_of(pregnancy_row("statin"))
    assert "pregnancy" not in codes(evaluate(rx, patient(30, pregnant=None), STATIN, kb))
    assert "pregnancy" not in codes(evaluate(rx, patient(30, pregnant=False), STATIN, kb))


def test_lactation_rule_applies_when_lactating() -> None:
    rx = draft(line(1, dose="20"), diagnoses=("E78",))
    kb = kb_of(pregnancy_row("statin", "lactation", "warn"), pregnancy_row("statin"))
    findings = evaluate(rx, patient(30, lactating=True), STATIN, kb)
    assert only(findings, "lactation").severity == "warn"
    assert "pregnancy" not in codes(findings)
