"""What one prescription may hold: at most 5 drugs on a western/patent prescription (处方管理办法
第六条), and herbal pieces (中药饮片) on a prescription of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ihis.medication_rules.findings import Context, Finding, line_finding

MAX_WESTERN_DRUGS: Final = 5  # 处方管理办法 第六条 (fixed)
_KIND_MISMATCH: Final = {
    True: ("中药饮片处方不能开具西药或中成药", "a herbal prescription cannot hold western or patent drugs"),
    False: ("西药/中成药处方不能开具中药饮片", "a western/patent prescription cannot hold herbal pieces"),
}


def check(ctx: Context) -> Iterator[Finding]:
    """Block a sixth drug and any line of the wrong kind for the prescription."""
    herbal = ctx.draft.kind == "herbal"
    for view in ctx.lines:
        if (view.drug.kind == "herbal") != herbal:
            zh, en = _KIND_MISMATCH[herbal]
            yield line_finding(
                view,
                "prescription_kind_mismatch",
                "block",
                "drug_id",
                f"{view.name_zh}：{zh}，请另开处方",
                f"{view.name_en}: {en}; write a separate prescription",
                drug_kind=view.drug.kind,
            )
    if herbal:
        return
    distinct = sorted({line.drug_id for line in ctx.draft.lines})
    if len(distinct) > MAX_WESTERN_DRUGS:
        yield Finding(
            code="too_many_drugs",
            severity="block",
            line=None,
            field="lines",
            message_zh=f"每张西药/中成药处方不得超过 {MAX_WESTERN_DRUGS} 种药品（当前 {len(distinct)} 种）",
            message_en=(
                f"A western/patent prescription holds at most {MAX_WESTERN_DRUGS} drugs "
                f"(this one has {len(distinct)})"
            ),
            detail={"limit": MAX_WESTERN_DRUGS, "count": len(distinct)},
        )
