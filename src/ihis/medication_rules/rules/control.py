"""Drugs that may not be prescribed online at all: unknown, off the online formulary, a never-online
control class (DOMAIN §5, fixed), or a class the hospital bans (knowledge base ``banned_class``)."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.formulary.facts import CONTROL_CLASS_NAMES
from ihis.medication_rules.findings import Context, Finding, line_finding


def check(ctx: Context) -> Iterator[Finding]:
    """Block unknown, offline, never-online and banned drugs."""
    for index, line in enumerate(ctx.draft.lines):
        if line.drug_id not in ctx.drugs:
            yield Finding(
                code="drug_unknown",
                severity="block",
                line=index,
                field=f"lines.{index}.drug_id",
                message_zh=f"第 {index + 1} 行药品不在本院药品目录中",
                message_en=f"Line {index + 1}: the drug is not in the formulary",
                detail={"drug_id": line.drug_id},
            )
    for view in ctx.lines:
        drug = view.drug
        if drug.never_online:
            zh, en = CONTROL_CLASS_NAMES.get(drug.control_class, (drug.control_class, drug.control_class))
            # 处方管理办法; BJ 5.6.3: these classes are never prescribed online (fixed, DOMAIN §5).
            yield line_finding(
                view,
                "control_class_never_online",
                "block",
                "drug_id",
                f"{view.name_zh}属于{zh}，不得在互联网医院开具",
                f"{view.name_en} is a {en.lower()} drug and cannot be prescribed online",
                control_class=drug.control_class,
            )
        elif not drug.online:
            yield line_finding(
                view,
                "drug_not_online",
                "block",
                "drug_id",
                f"{view.name_zh}不在互联网医院药品目录中",
                f"{view.name_en} is not in the online formulary",
            )
        for banned in ctx.kb.banned:
            if banned.code in view.codes:
                yield line_finding(
                    view,
                    "banned_class",
                    "block",
                    "drug_id",
                    f"{view.name_zh}属于本院禁止线上开具的类别（{banned.code}）：{banned.reason_zh}",
                    f"{view.name_en} is banned online by the hospital ({banned.code}): {banned.reason_en}",
                    banned_code=banned.code,
                )
                break
