"""The rational-use rule engine (BJ 5.3.3; DOMAIN §5): pure functions over a draft, the patient's
facts, the drugs' facts and one knowledge base version. No database, no I/O.

    findings = evaluate(draft, patient, drugs, kb)
    blocked = any(f.severity == "block" for f in findings)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from ihis.formulary.facts import DrugFacts
from ihis.medication_rules.findings import (
    Context,
    Finding,
    PatientFacts,
    RxDraft,
    RxLine,
    age_in_months,
)
from ihis.medication_rules.knowledge import SEVERITY_RANK, KnowledgeBase
from ihis.medication_rules.rules import (
    allergy,
    composition,
    control,
    diagnosis,
    dosing,
    duplicates,
    duration,
    high_alert,
    interactions,
    population,
    usage,
)

__all__ = ["RULES", "Finding", "PatientFacts", "RxDraft", "RxLine", "age_in_months", "evaluate"]

Rule = Callable[[Context], Iterable[Finding]]
RULES: Final[tuple[Rule, ...]] = (
    control.check,
    composition.check,
    duration.check,
    usage.check,
    dosing.check,
    population.check,
    allergy.check,
    interactions.check,
    duplicates.check,
    diagnosis.check,
    high_alert.check,
)


def _order(finding: Finding) -> tuple[int, int, str, str]:
    line = -1 if finding.line is None else finding.line
    return (SEVERITY_RANK[finding.severity], line, finding.code, finding.key)


def evaluate(
    draft: RxDraft, patient: PatientFacts, drugs: Mapping[int, DrugFacts], kb: KnowledgeBase
) -> list[Finding]:
    """Every finding of every rule, most severe first, then by line (prescription-wide first)."""
    ctx = Context(draft=draft, patient=patient, drugs=drugs, kb=kb)
    findings = [finding for rule in RULES for finding in rule(ctx)]
    return sorted(findings, key=_order)
