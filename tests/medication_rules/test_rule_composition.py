"""At most 5 drugs per western/patent prescription (处方管理办法 第六条); herbal pieces apart."""

from __future__ import annotations

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

DRUGS = {i: make_drug(i, f"ingredient{i}") for i in range(1, 8)}
HERBS = {
    i: make_drug(i, f"herb{i}", kind="herbal", dose_unit="g", routes={"decoction"}) for i in range(11, 18)
}


def herb_line(drug_id: int) -> object:
    return line(drug_id, dose="10", dose_unit="g", route="decoction")


def test_five_drugs_on_a_western_prescription_are_allowed() -> None:
    findings = evaluate(draft(*(line(i) for i in range(1, 6))), patient(), DRUGS, kb_of())
    assert "too_many_drugs" not in codes(findings)


def test_six_drugs_on_a_western_prescription_are_blocked() -> None:
    findings = evaluate(draft(*(line(i) for i in range(1, 7))), patient(), DRUGS, kb_of())
    finding = only(findings, "too_many_drugs")
    assert (finding.severity, finding.line, finding.field) == ("block", None, "lines")
    assert finding.detail == {"limit": 5, "count": 6}


def test_the_same_drug_on_two_lines_counts_once() -> None:
    lines = [line(i) for i in range(1, 6)] + [line(5, dose="10")]
    assert "too_many_drugs" not in codes(evaluate(draft(*lines), patient(), DRUGS, kb_of()))


def test_herbal_prescription_is_not_held_to_five_drugs() -> None:
    lines = [line(i, dose="10", dose_unit="g", route="decoction") for i in range(11, 18)]
    findings = evaluate(draft(*lines, kind="herbal"), patient(), HERBS, kb_of())
    assert "too_many_drugs" not in codes(findings)
    assert "prescription_kind_mismatch" not in codes(findings)


def test_herbal_pieces_on_a_western_prescription_are_blocked() -> None:
    drugs = {**DRUGS, **HERBS}
    findings = evaluate(
        draft(line(1), line(11, dose="10", dose_unit="g", route="decoction")), patient(), drugs, kb_of()
    )
    finding = only(findings, "prescription_kind_mismatch")
    assert (finding.severity, finding.line, finding.field) == ("block", 1, "lines.1.drug_id")


def test_western_drug_on_a_herbal_prescription_is_blocked() -> None:
    drugs = {**DRUGS, **HERBS}
    findings = evaluate(
        draft(line(11, dose="10", dose_unit="g", route="decoction"), line(1), kind="herbal"),
        patient(),
        drugs,
        kb_of(),
    )
    assert only(findings, "prescription_kind_mismatch").line == 1


def test_patent_medicine_belongs_on_a_western_patent_prescription() -> None:
    drugs = {1: make_drug(1, "compound_danshen", kind="patent")}
    assert codes(evaluate(draft(line(1)), patient(), drugs, kb_of())) == []
