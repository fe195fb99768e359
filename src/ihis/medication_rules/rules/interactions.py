"""Interactions and incompatibilities (配伍禁忌, BJ 5.3.3): knowledge base ``interaction`` pairs of
ingredient or class codes, matched in either order; one finding per pair of lines (the most
severe matching pair), however many codes of a drug match."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.medication_rules.findings import Context, Finding, pair_finding
from ihis.medication_rules.knowledge import SEVERITY_RANK


def check(ctx: Context) -> Iterator[Finding]:
    """Report each interacting pair of lines with the pair's severity and description."""
    for first, second in ctx.pairs():
        if first.drug.id == second.drug.id:
            continue
        pairs = [p for p in ctx.kb.interactions if p.between(first.codes, second.codes)]
        if not pairs:
            continue
        pair = min(pairs, key=lambda p: SEVERITY_RANK[p.severity])
        yield pair_finding(
            first,
            second,
            "interaction",
            pair.severity,
            f"{first.name_zh}与{second.name_zh}存在相互作用（{pair.a} + {pair.b}）：{pair.note_zh}",
            f"{first.name_en} and {second.name_en} interact ({pair.a} + {pair.b}): {pair.note_en}",
            pair=f"{pair.a}+{pair.b}",
        )
