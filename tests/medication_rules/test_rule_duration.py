"""Validity (1..3 days, fixed) and days per line (RULES limits from the knowledge base)."""

from __future__ import annotations

import pytest

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

DRUGS = {1: make_drug(1, "amlodipine", classes={"ccb"}, pack_size=100)}
HYPERTENSION = ("chronic_disease", {"icd10": "I10-I15", "name_zh": "高血压", "name_en": "hypertension"})


def _days(days: int, **kw: object) -> list[str]:
    patient_kw = {"limited_mobility": kw.pop("limited_mobility", False)}
    kb = kw.pop("kb", kb_of(HYPERTENSION))
    rx = draft(line(1, days=days), **kw)  # type: ignore[arg-type]
    return codes(evaluate(rx, patient(**patient_kw), DRUGS, kb))  # type: ignore[arg-type]


@pytest.mark.parametrize("validity", [1, 2, 3])
def test_validity_of_one_to_three_days_is_allowed(validity: int) -> None:
    assert "validity_out_of_range" not in _days(1, validity_days=validity)


def test_validity_of_four_days_is_blocked() -> None:
    findings = evaluate(draft(line(1), validity_days=4), patient(), DRUGS, kb_of())
    finding = only(findings, "validity_out_of_range")
    assert (finding.severity, finding.field, finding.line) == ("block", "validity_days", None)
    assert finding.detail["limit"] == 3


def test_validity_below_one_day_is_blocked() -> None:
    assert "validity_out_of_range" in _days(1, validity_days=0)


def test_seven_days_on_an_ordinary_prescription_are_allowed() -> None:
    assert "days_over_limit" not in _days(7)


def test_eight_days_on_an_ordinary_prescription_are_blocked_naming_the_limit() -> None:
    findings = evaluate(draft(line(1, days=8), diagnoses=("J45",)), patient(), DRUGS, kb_of(HYPERTENSION))
    finding = only(findings, "days_over_limit")
    assert (finding.severity, finding.field) == ("block", "lines.0.days")
    assert finding.detail["limit"] == 7 and finding.detail["limit_scope"] == "ordinary"
    assert "7 天" in finding.message_zh and "7-day" in finding.message_en


def test_acute_prescription_allows_three_days_and_blocks_four() -> None:
    assert "days_over_limit" not in _days(3, course="acute")
    assert "days_over_limit" in _days(4, course="acute")


def test_limited_mobility_with_a_reason_allows_fourteen_days() -> None:
    assert "days_over_limit" not in _days(
        14, limited_mobility=True, extension_reason="行动不便", diagnoses=("J45",)
    )
    assert "days_over_limit" in _days(
        15, limited_mobility=True, extension_reason="行动不便", diagnoses=("J45",)
    )


def test_limited_mobility_without_a_reason_keeps_seven_days_and_says_so() -> None:
    rx = draft(line(1, days=8), diagnoses=("J45",))
    finding = only(evaluate(rx, patient(limited_mobility=True), DRUGS, kb_of()), "days_over_limit")
    assert finding.detail["limit"] == 7
    assert "延长理由" in finding.message_zh


def test_a_blank_reason_is_no_reason() -> None:
    assert "days_over_limit" in _days(8, limited_mobility=True, extension_reason="   ", diagnoses=("J45",))


def test_listed_chronic_disease_with_a_reason_allows_thirty_days() -> None:
    assert "days_over_limit" not in _days(30, diagnoses=("I10.x00x002",), extension_reason="病情稳定")


def test_listed_chronic_disease_blocks_thirty_one_days_naming_the_long_limit() -> None:
    rx = draft(line(1, days=31), diagnoses=("I10",), extension_reason="病情稳定")
    finding = only(evaluate(rx, patient(), DRUGS, kb_of(HYPERTENSION)), "days_over_limit")
    assert finding.detail["limit"] == 30 and finding.detail["limit_scope"] == "chronic_disease"


def test_listed_chronic_disease_without_a_reason_keeps_seven_days() -> None:
    assert "days_over_limit" in _days(8, diagnoses=("I10",))


def test_unlisted_diagnosis_does_not_extend_the_limit() -> None:
    assert "days_over_limit" in _days(8, diagnoses=("J45",), extension_reason="哮喘稳定")


def test_acute_course_is_never_extended() -> None:
    assert "days_over_limit" in _days(4, course="acute", diagnoses=("I10",), extension_reason="稳定")


def test_the_knowledge_base_may_change_a_limit() -> None:
    kb = kb_of(HYPERTENSION, ("day_limit", {"scope": "ordinary", "days": 5}))
    assert "days_over_limit" not in _days(5, kb=kb, diagnoses=("J45",))
    assert "days_over_limit" in _days(6, kb=kb, diagnoses=("J45",))


def test_zero_days_are_blocked() -> None:
    assert "days_invalid" in _days(0)
