"""Duplicate therapy: one ingredient twice, or two drugs of one knowledge-base group."""

from __future__ import annotations

from typing import Any

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

AMLODIPINE = make_drug(1, "amlodipine", classes={"ccb"})
NIFEDIPINE = make_drug(2, "nifedipine", classes={"ccb"}, unit_amount="30")
ENALAPRIL = make_drug(3, "enalapril", classes={"acei"}, unit_amount="10")
IRBESARTAN = make_drug(4, "irbesartan", classes={"arb"}, unit_amount="150")
AMLODIPINE_OTHER_MAKER = make_drug(5, "amlodipine", classes={"ccb"})
DRUGS = {d.id: d for d in (AMLODIPINE, NIFEDIPINE, ENALAPRIL, IRBESARTAN, AMLODIPINE_OTHER_MAKER)}
DOSES = {1: "5", 2: "30", 3: "10", 4: "150", 5: "5"}


def group(name: str, *members: str, severity: str = "warn") -> tuple[str, dict[str, Any]]:
    data = {
        "name": name,
        "codes": list(members),
        "severity": severity,
        "name_zh": "同类药",
        "name_en": "same class",
    }
    return ("duplicate_group", data)


def rx(*ids: int) -> Any:
    return draft(*(line(i, dose=DOSES[i]) for i in ids))


def test_two_drugs_of_one_group_warn() -> None:
    finding = only(evaluate(rx(1, 2), patient(), DRUGS, kb_of(group("ccb", "ccb"))), "duplicate_therapy")
    assert (finding.severity, finding.line, finding.detail["group"]) == ("warn", 1, "ccb")


def test_group_of_two_classes_catches_one_of_each() -> None:
    kb = kb_of(group("ras_blockers", "acei", "arb", severity="block"))
    assert only(evaluate(rx(3, 4), patient(), DRUGS, kb), "duplicate_therapy").severity == "block"


def test_drugs_of_different_groups_are_not_duplicates() -> None:
    assert "duplicate_therapy" not in codes(evaluate(rx(1, 3), patient(), DRUGS, kb_of(group("ccb", "ccb"))))


def test_same_ingredient_twice_warns_once_without_a_group_finding() -> None:
    findings = evaluate(rx(1, 5), patient(), DRUGS, kb_of(group("ccb", "ccb")))
    assert only(findings, "duplicate_ingredient").severity == "warn"
    assert "duplicate_therapy" not in codes(findings)


def test_same_ingredient_twice_warns_even_without_any_group() -> None:
    assert "duplicate_ingredient" in codes(evaluate(rx(1, 5), patient(), DRUGS, kb_of()))
