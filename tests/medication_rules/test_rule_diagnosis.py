"""Diagnosis-drug fit: a diagnosis is required; known indications should match one."""

from __future__ import annotations

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

DRUGS = {1: make_drug(1, "amlodipine", classes={"ccb"}), 2: make_drug(2, "omeprazole", classes={"ppi"})}
INDICATIONS = kb_of(("indication", {"code": "ccb", "icd10": ["I10-I15", "I20-I25"]}))


def test_prescription_without_diagnosis_is_blocked_on_the_diagnosis_field() -> None:
    finding = only(evaluate(draft(line(1), diagnoses=()), patient(), DRUGS, INDICATIONS), "diagnosis_missing")
    assert (finding.severity, finding.field, finding.line) == ("block", "diagnosis_codes", None)


def test_blank_diagnosis_codes_count_as_none() -> None:
    assert "diagnosis_missing" in codes(
        evaluate(draft(line(1), diagnoses=(" ",)), patient(), DRUGS, INDICATIONS)
    )


def test_drug_indicated_for_none_of_the_diagnoses_warns() -> None:
    finding = only(
        evaluate(draft(line(1), diagnoses=("J45",)), patient(), DRUGS, INDICATIONS), "diagnosis_mismatch"
    )
    assert (finding.severity, finding.field) == ("warn", "lines.0.drug_id")
    assert "I10-I15" in finding.message_zh


def test_diagnosis_within_an_indicated_range_fits() -> None:
    for code in ("I10", "I15.0", "I25.103", "I10.x00x002"):
        assert codes(evaluate(draft(line(1), diagnoses=(code,)), patient(), DRUGS, INDICATIONS)) == []


def test_diagnosis_just_outside_the_range_does_not_fit() -> None:
    assert "diagnosis_mismatch" in codes(
        evaluate(draft(line(1), diagnoses=("I16",)), patient(), DRUGS, INDICATIONS)
    )


def test_drug_without_known_indications_is_not_checked() -> None:
    assert codes(evaluate(draft(line(2, dose="20"), diagnoses=("J45",)), patient(), DRUGS, INDICATIONS)) == []
