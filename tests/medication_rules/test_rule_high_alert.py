"""High-alert drugs are shown, never blocked."""

from __future__ import annotations

from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import draft, kb_of, line, make_drug, patient


def test_high_alert_drug_gives_information_only() -> None:
    drugs = {1: make_drug(1, "warfarin", classes={"anticoagulant"}, unit_amount="2.5", high_alert=True)}
    findings = evaluate(draft(line(1, dose="2.5"), diagnoses=("I48",)), patient(), drugs, kb_of())
    assert [(f.code, f.severity, f.field) for f in findings] == [("high_alert", "info", "lines.0.drug_id")]
    assert "高警示药品" in findings[0].message_zh


def test_ordinary_drug_is_not_high_alert() -> None:
    drugs = {1: make_drug(1, "amlodipine")}
    assert evaluate(draft(line(1)), patient(), drugs, kb_of()) == []
