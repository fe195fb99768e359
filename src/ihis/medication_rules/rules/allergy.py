"""Allergy (BJ 5.3.3): a drug whose ingredient or class the patient is allergic to is blocked; a
drug cross-sensitive with a recorded allergy (knowledge base ``cross_sensitivity``, e.g.
penicillin <-> cephalosporin) is flagged with the pair's severity."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.medication_rules.findings import Context, Finding, line_finding
from ihis.medication_rules.knowledge import SEVERITY_RANK


def check(ctx: Context) -> Iterator[Finding]:
    """Block a direct allergy hit; otherwise report the most severe cross-sensitivity."""
    allergies = ctx.patient.allergy_classes
    for view in ctx.lines:
        hits = sorted(allergies & view.codes)
        if hits:
            yield line_finding(
                view,
                "allergy",
                "block",
                "drug_id",
                f"患者对{'、'.join(hits)}过敏，{view.name_zh}含该成分或属该类别",
                f"The patient is allergic to {', '.join(hits)}; {view.name_en} contains or belongs to it",
                allergy=",".join(hits),
            )
            continue
        pairs = [p for p in ctx.kb.cross_sensitivities if p.between(allergies, view.codes)]
        if not pairs:
            continue
        pair = min(pairs, key=lambda p: SEVERITY_RANK[p.severity])
        allergy, drug_code = (pair.a, pair.b) if pair.a in allergies else (pair.b, pair.a)
        yield line_finding(
            view,
            "allergy_cross_sensitivity",
            pair.severity,
            "drug_id",
            f"患者对{allergy}过敏，{view.name_zh}（{drug_code}）可能存在交叉过敏：{pair.note_zh}",
            f"The patient is allergic to {allergy}; {view.name_en} ({drug_code}) may cross-react: "
            f"{pair.note_en}",
            allergy=allergy,
            cross_code=drug_code,
        )
