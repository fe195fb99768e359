"""The engine as a whole: ordering, keys, ages, and the demo knowledge base on real-looking drafts."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from ihis.medication_rules import entries
from ihis.medication_rules.demo import DEMO_ENTRIES
from ihis.medication_rules.engine import age_in_months, evaluate
from ihis.medication_rules.knowledge import icd_matches
from ihis.medication_rules.vocab import FREQUENCIES
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

DEMO_KB = kb_of(*DEMO_ENTRIES)
AMLODIPINE = make_drug(1, "amlodipine", classes={"ccb"})
VALSARTAN = make_drug(2, "valsartan", classes={"arb"}, unit_amount="80", pack_size=7)
ENALAPRIL = make_drug(3, "enalapril", classes={"acei"}, unit_amount="10", pack_size=16)
WARFARIN = make_drug(
    4, "warfarin", classes={"anticoagulant"}, unit_amount="2.5", pack_size=60, high_alert=True
)
ASPIRIN = make_drug(5, "aspirin", classes={"antiplatelet", "nsaid"}, unit_amount="100", pack_size=30)
METFORMIN = make_drug(6, "metformin", classes={"biguanide"}, unit_amount="500", pack_size=20)
ATORVASTATIN = make_drug(7, "atorvastatin", classes={"statin"}, unit_amount="20", pack_size=7)
MORPHINE = make_drug(8, "morphine", classes={"opioid"}, control_class="narcotic")
DRUGS = {
    d.id: d for d in (AMLODIPINE, VALSARTAN, ENALAPRIL, WARFARIN, ASPIRIN, METFORMIN, ATORVASTATIN, MORPHINE)
}


def test_demo_knowledge_base_is_valid_and_has_every_kind() -> None:
    kinds = {kind for kind, _ in DEMO_ENTRIES}
    assert kinds == set(entries.KINDS)
    assert DEMO_KB.day_limit("ordinary") == 7 and DEMO_KB.day_limit("chronic_disease") == 30


def test_chronic_hypertension_and_diabetes_month_prescription_passes_the_demo_rules() -> None:
    rx = draft(
        line(1, dose="5", days=30, quantity=2),
        line(2, dose="80", days=30, quantity=5),
        line(6, dose="500", frequency="tid", days=30, quantity=5),
        line(7, dose="20", days=30, quantity=5),
        diagnoses=("I10.x00x002", "E11.900"),
        course="chronic",
        extension_reason="病情稳定，长期处方",
    )
    assert [f for f in evaluate(rx, patient(60), DRUGS, DEMO_KB) if f.severity != "info"] == []


def test_demo_rules_block_dual_ras_blockade_and_warn_on_warfarin_with_aspirin() -> None:
    rx = draft(
        line(2, dose="80"),
        line(3, dose="10"),
        line(4, dose="2.5"),
        line(5, dose="100"),
        diagnoses=("I10", "I48"),
    )
    findings = evaluate(rx, patient(60), DRUGS, DEMO_KB)
    interactions = {(f.line, f.detail["other_line"]): f.severity for f in findings if f.code == "interaction"}
    assert interactions == {(1, 0): "block", (3, 2): "warn"}
    assert only(findings, "high_alert").line == 2


def test_demo_rules_block_a_narcotic_twice_over_control_class_and_hospital_ban() -> None:
    findings = evaluate(draft(line(8, dose="10")), patient(), DRUGS, DEMO_KB)
    assert {"control_class_never_online", "banned_class"} <= set(codes(findings))


def test_findings_are_ordered_blocks_first_then_by_line() -> None:
    rx = draft(
        line(4, dose="2.5"), line(5, dose="100"), line(1, dose="15"), validity_days=5, diagnoses=("I48",)
    )
    findings = evaluate(rx, patient(), DRUGS, DEMO_KB)
    ranks = [("block", "warn", "info").index(f.severity) for f in findings]
    assert ranks == sorted(ranks)
    assert findings[0].code == "validity_out_of_range"
    assert findings == evaluate(rx, patient(), DRUGS, DEMO_KB)


def test_finding_keys_are_unique_and_stable_across_evaluations() -> None:
    rx = draft(line(4, dose="2.5"), line(5, dose="100"), line(5, dose="100"), diagnoses=("J45",))
    first = [f.key for f in evaluate(rx, patient(), DRUGS, DEMO_KB)]
    assert len(first) == len(set(first))
    assert first == [f.key for f in evaluate(rx, patient(), DRUGS, DEMO_KB)]
    assert "high_alert:0:4" in first


def test_finding_keys_survive_an_unrelated_change_of_another_line() -> None:
    before = evaluate(
        draft(line(4, dose="2.5"), line(5, dose="100"), diagnoses=("I48",)), patient(), DRUGS, DEMO_KB
    )
    after = evaluate(
        draft(line(4, dose="2.5"), line(5, dose="75"), diagnoses=("I48",)), patient(), DRUGS, DEMO_KB
    )
    assert only(before, "interaction").key == only(after, "interaction").key


@pytest.mark.parametrize(
    ("birth", "today", "months"),
    [
        (dt.date(2020, 11, 22), dt.date(2026, 11, 21), 71),
        (dt.date(2020, 11, 22), dt.date(2026, 11, 22), 72),
        (dt.date(2020, 1, 31), dt.date(2020, 2, 29), 0),
        (dt.date(2020, 1, 31), dt.date(2020, 3, 1), 1),
        (dt.date(2020, 2, 29), dt.date(2026, 2, 28), 71),
        (dt.date(2020, 2, 29), dt.date(2026, 3, 1), 72),
    ],
)
def test_age_in_months_counts_full_months(birth: dt.date, today: dt.date, months: int) -> None:
    assert age_in_months(birth, today) == months


def test_frequencies_give_exact_doses_per_day() -> None:
    assert FREQUENCIES["q8h"].per_day == 3
    assert FREQUENCIES["qod"].per_day == Fraction(1, 2)
    assert FREQUENCIES["qw"].per_day == Fraction(1, 7)
    assert FREQUENCIES["prn"].per_day is None
    assert FREQUENCIES["st"].once_only


@pytest.mark.parametrize(
    ("pattern", "code", "hit"),
    [("I10-I15", "I15.900", True), ("I10-I15", "I16", False), ("I10-I15", "I09", False),
     ("E78", "E78.501", True), ("C00-C97", "C50.900", True), ("N40", "N41", False), ("J", "J45.9", True)],
)  # fmt: skip
def test_icd10_patterns_are_prefixes_or_category_ranges(pattern: str, code: str, hit: bool) -> None:
    assert icd_matches(pattern, code) is hit
