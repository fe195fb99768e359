"""Duplicate therapy (重复用药, BJ 5.3.3): the same ingredient on two lines, or two drugs of one
knowledge base ``duplicate_group`` (two CCBs, two statins, an ACEI with an ARB). One finding per
pair of lines: a shared ingredient first, else the most severe group."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.medication_rules.findings import Context, Finding, pair_finding
from ihis.medication_rules.knowledge import SEVERITY_RANK


def check(ctx: Context) -> Iterator[Finding]:
    """Warn on a repeated ingredient; report group duplicates with the group's severity."""
    for first, second in ctx.pairs():
        shared = sorted(first.drug.ingredients & second.drug.ingredients)
        if shared:
            yield pair_finding(
                first,
                second,
                "duplicate_ingredient",
                "warn",
                f"{first.name_zh}与{second.name_zh}含相同成分（{'、'.join(shared)}），属重复用药",
                f"{first.name_en} and {second.name_en} share {', '.join(shared)}: duplicate therapy",
                ingredient=",".join(shared),
            )
            continue
        groups = [g for g in ctx.kb.duplicate_groups if g.codes & first.codes and g.codes & second.codes]
        if not groups:
            continue
        group = min(groups, key=lambda g: SEVERITY_RANK[g.severity])
        yield pair_finding(
            first,
            second,
            "duplicate_therapy",
            group.severity,
            f"{first.name_zh}与{second.name_zh}同属{group.name_zh}，属重复用药",
            f"{first.name_en} and {second.name_en} are both {group.name_en}: duplicate therapy",
            group=group.name,
        )
