"""Allergy: direct hits block; cross-sensitive classes warn."""

from __future__ import annotations

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

AMOXICILLIN = make_drug(
    1, "amoxicillin", classes={"penicillin", "beta_lactam"}, unit_amount="250", pack_size=24
)
CEFUROXIME = make_drug(
    2, "cefuroxime", classes={"cephalosporin", "beta_lactam"}, unit_amount="250", pack_size=12
)
CROSS = (
    "cross_sensitivity",
    {"a": "penicillin", "b": "cephalosporin", "severity": "warn", "note_zh": "交叉过敏", "note_en": "cross"},
)
RX_AMOX = draft(line(1, dose="500", frequency="tid", days=3), diagnoses=("J02",))
RX_CEF = draft(line(2, dose="250", frequency="bid", days=3), diagnoses=("J02",))


def test_allergy_to_the_drugs_class_blocks_it() -> None:
    findings = evaluate(RX_AMOX, patient(allergies={"penicillin"}), {1: AMOXICILLIN}, kb_of())
    finding = only(findings, "allergy")
    assert (finding.severity, finding.field) == ("block", "lines.0.drug_id")
    assert finding.detail["allergy"] == "penicillin"
    assert "penicillin" in finding.message_zh and "amoxicillin片" in finding.message_zh


def test_allergy_to_the_ingredient_blocks_it() -> None:
    findings = evaluate(RX_AMOX, patient(allergies={"amoxicillin"}), {1: AMOXICILLIN}, kb_of())
    assert only(findings, "allergy").severity == "block"


def test_allergy_to_another_class_does_not_block() -> None:
    assert "allergy" not in codes(
        evaluate(RX_AMOX, patient(allergies={"sulfonamide"}), {1: AMOXICILLIN}, kb_of())
    )


def test_cross_sensitive_class_warns_in_either_direction() -> None:
    kb = kb_of(CROSS)
    cef = only(
        evaluate(RX_CEF, patient(allergies={"penicillin"}), {2: CEFUROXIME}, kb), "allergy_cross_sensitivity"
    )
    amox = only(
        evaluate(RX_AMOX, patient(allergies={"cephalosporin"}), {1: AMOXICILLIN}, kb),
        "allergy_cross_sensitivity",
    )
    assert cef.severity == amox.severity == "warn"
    assert cef.detail["allergy"] == "penicillin" and cef.detail["cross_code"] == "cephalosporin"


def test_direct_hit_is_reported_as_allergy_not_as_cross_sensitivity() -> None:
    findings = evaluate(
        RX_CEF, patient(allergies={"penicillin", "cephalosporin"}), {2: CEFUROXIME}, kb_of(CROSS)
    )
    assert "allergy" in codes(findings) and "allergy_cross_sensitivity" not in codes(findings)
