"""Diagnosis-drug fit (BJ 5.3.3; 四查十对 "查用药合理性，对临床诊断"): a prescription needs a
diagnosis, and a drug whose indications are known (knowledge base ``indication``) should match one."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.medication_rules.findings import Context, Finding, line_finding
from ihis.medication_rules.knowledge import icd_matches


def check(ctx: Context) -> Iterator[Finding]:
    """Block a prescription without diagnosis; warn on a drug indicated for none of them."""
    diagnoses = tuple(c for c in ctx.draft.diagnosis_codes if c.strip())
    if not diagnoses:
        yield Finding(
            code="diagnosis_missing",
            severity="block",
            line=None,
            field="diagnosis_codes",
            message_zh="处方须有临床诊断",
            message_en="A prescription needs a diagnosis",
            detail={},
        )
        return
    for view in ctx.lines:
        patterns = sorted({p for ind in ctx.kb.indications if ind.code in view.codes for p in ind.icd10})
        if not patterns:
            continue
        if not any(icd_matches(p, code) for p in patterns for code in diagnoses):
            yield line_finding(
                view,
                "diagnosis_mismatch",
                "warn",
                "drug_id",
                f"{view.name_zh}的适应证（{'、'.join(patterns)}）与处方诊断（{'、'.join(diagnoses)}）不符",
                f"{view.name_en} is indicated for {', '.join(patterns)}, not for the diagnoses "
                f"{', '.join(diagnoses)}",
                indications=",".join(patterns),
            )
