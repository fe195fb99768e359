"""Frequency, route, dose unit (dosage form) and positive amounts of a line."""

from __future__ import annotations

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

DRUGS = {1: make_drug(1, "amlodipine", classes={"ccb"})}


def test_route_the_drug_cannot_be_given_by_is_blocked() -> None:
    finding = only(evaluate(draft(line(1, route="iv")), patient(), DRUGS, kb_of()), "route_not_allowed")
    assert (finding.severity, finding.field) == ("block", "lines.0.route")
    assert "静脉注射" in finding.message_zh and "口服" in finding.message_zh


def test_one_of_the_drugs_routes_is_allowed() -> None:
    drugs = {1: make_drug(1, "insulin_aspart", routes={"sc", "iv"}, dose_unit="IU", unit_amount="300")}
    rx = draft(line(1, dose="6", dose_unit="IU", route="sc", frequency="tid"), diagnoses=("E11",))
    assert "route_not_allowed" not in codes(evaluate(rx, patient(), drugs, kb_of()))


def test_dose_unit_other_than_the_drugs_is_blocked_on_the_unit_field() -> None:
    finding = only(evaluate(draft(line(1, dose_unit="g")), patient(), DRUGS, kb_of()), "dose_unit_mismatch")
    assert (finding.severity, finding.field) == ("block", "lines.0.dose_unit")
    assert finding.detail["expected_unit"] == "mg"


def test_unknown_frequency_is_blocked() -> None:
    finding = only(evaluate(draft(line(1, frequency="q5h")), patient(), DRUGS, kb_of()), "frequency_unknown")
    assert finding.field == "lines.0.frequency"


def test_dose_of_zero_is_blocked() -> None:
    assert only(evaluate(draft(line(1, dose="0")), patient(), DRUGS, kb_of()), "dose_invalid").field == (
        "lines.0.dose"
    )


def test_quantity_of_zero_packages_is_blocked() -> None:
    finding = only(evaluate(draft(line(1, quantity=0)), patient(), DRUGS, kb_of()), "quantity_invalid")
    assert finding.field == "lines.0.quantity"
