"""Interactions: knowledge-base pairs of ingredient or class codes, either order, reported once."""

from __future__ import annotations

from typing import Any

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

WARFARIN = make_drug(
    1, "warfarin", classes={"anticoagulant"}, unit_amount="2.5", pack_size=60, high_alert=True
)
ASPIRIN = make_drug(2, "aspirin", classes={"antiplatelet", "nsaid"}, unit_amount="100", pack_size=30)
ENALAPRIL = make_drug(3, "enalapril", classes={"acei"}, unit_amount="10", pack_size=16)
VALSARTAN = make_drug(4, "valsartan", classes={"arb"}, unit_amount="80", pack_size=7)
AMLODIPINE = make_drug(5, "amlodipine", classes={"ccb"})
DRUGS = {d.id: d for d in (WARFARIN, ASPIRIN, ENALAPRIL, VALSARTAN, AMLODIPINE)}
DOSES = {1: "2.5", 2: "100", 3: "10", 4: "80", 5: "5"}


def pair(a: str, b: str, severity: str = "warn") -> tuple[str, dict[str, Any]]:
    return (
        "interaction",
        {"a": a, "b": b, "severity": severity, "note_zh": "出血风险", "note_en": "bleeding"},
    )


def rx(*ids: int) -> Any:
    return draft(*(line(i, dose=DOSES[i], quantity=1) for i in ids), diagnoses=("I48", "I25", "I10"))


def test_known_interaction_pair_warns_naming_both_drugs() -> None:
    finding = only(evaluate(rx(1, 2), patient(), DRUGS, kb_of(pair("warfarin", "aspirin"))), "interaction")
    assert (finding.severity, finding.line, finding.field) == ("warn", 1, "lines.1.drug_id")
    assert finding.detail["other_line"] == 0
    assert "warfarin片" in finding.message_zh and "aspirin片" in finding.message_zh
    assert "出血风险" in finding.message_zh and "bleeding" in finding.message_en


def test_pair_matches_in_either_order() -> None:
    kb = kb_of(pair("aspirin", "warfarin"))
    assert "interaction" in codes(evaluate(rx(1, 2), patient(), DRUGS, kb))
    assert "interaction" in codes(evaluate(rx(2, 1), patient(), DRUGS, kb))


def test_drug_matching_by_ingredient_and_class_reports_once_with_the_most_severe_pair() -> None:
    kb = kb_of(
        pair("warfarin", "aspirin"),
        pair("anticoagulant", "nsaid", "block"),
        pair("anticoagulant", "antiplatelet"),
    )
    finding = only(evaluate(rx(1, 2), patient(), DRUGS, kb), "interaction")
    assert finding.severity == "block" and finding.detail["pair"] == "anticoagulant+nsaid"


def test_blocking_pair_blocks() -> None:
    finding = only(evaluate(rx(3, 4), patient(), DRUGS, kb_of(pair("acei", "arb", "block"))), "interaction")
    assert finding.severity == "block"


def test_unrelated_drugs_do_not_interact() -> None:
    assert "interaction" not in codes(
        evaluate(rx(1, 5), patient(), DRUGS, kb_of(pair("warfarin", "aspirin")))
    )


def test_each_interacting_pair_of_lines_is_reported_with_its_own_key() -> None:
    findings = evaluate(rx(2, 5, 1), patient(), {**DRUGS}, kb_of(pair("anticoagulant", "antiplatelet")))
    finding = only(findings, "interaction")
    assert finding.key == "interaction:2/0:1+2"
