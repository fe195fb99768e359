"""Special populations (BJ 5.3.3): children (under 6: 《互联网诊疗管理办法》第十九条), the elderly
(knowledge base ``age_rule``), and pregnancy or lactation where recorded (``pregnancy_rule``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, TypeVar

from ihis.medication_rules.findings import Context, Finding, line_finding
from ihis.medication_rules.knowledge import SEVERITY_RANK, AgeRule, PregnancyRule

R = TypeVar("R", AgeRule, PregnancyRule)

ACCOMPANIED_CHILD_AGE: Final = 6  # DOMAIN §1 (fixed); prescribing requires guardian and clinician


def _most_severe(rules: Sequence[R]) -> R | None:
    """The first of the most severe rows (knowledge-base order breaks ties)."""
    return min(rules, key=lambda r: SEVERITY_RANK[r.severity], default=None)


def _child_under_six(ctx: Context) -> Iterator[Finding]:
    if ctx.age_years >= ACCOMPANIED_CHILD_AGE:
        return
    years, months = divmod(ctx.age_months, 12)
    yield Finding(
        code="child_under_six",
        severity="info",
        line=None,
        field="patient",
        message_zh=f"患儿 {years} 岁 {months} 个月，未满 6 岁：须记录监护人及陪同医师",
        message_en=(
            f"Child aged {years} y {months} mo (under 6): record the guardian and accompanying clinician"
        ),
        detail={"age_months": ctx.age_months},
    )


def _age_rules(ctx: Context) -> Iterator[Finding]:
    age = ctx.age_years
    for view in ctx.lines:
        # One finding per line and group: the most severe matching row (ingredient or class).
        matching = [r for r in ctx.kb.age_rules if r.code in view.codes and r.applies(age)]
        for group in ("child", "elderly"):
            rule = _most_severe([r for r in matching if r.group == group])
            if rule is None:
                continue
            if rule.group == "child":
                zh, en = f"不满 {rule.age_years} 岁儿童", f"children under {rule.age_years}"
            else:
                zh, en = f"{rule.age_years} 岁及以上老年人", f"patients aged {rule.age_years} and over"
            yield line_finding(
                view,
                f"age_{rule.group}",
                rule.severity,
                "drug_id",
                f"{view.name_zh}：{zh}{rule.note_zh}",
                f"{view.name_en}: {en} — {rule.note_en}",
                age_years=age,
                rule_code=rule.code,
            )


def _pregnancy(ctx: Context) -> Iterator[Finding]:
    states = {"pregnancy": ctx.patient.pregnant is True, "lactation": ctx.patient.lactating is True}
    names = {"pregnancy": ("妊娠期", "pregnancy"), "lactation": ("哺乳期", "lactation")}
    for view in ctx.lines:
        for condition in ("pregnancy", "lactation"):
            if not states[condition]:
                continue
            rule = _most_severe(
                [r for r in ctx.kb.pregnancy_rules if r.condition == condition and r.code in view.codes]
            )
            if rule is None:
                continue
            zh, en = names[condition]
            yield line_finding(
                view,
                condition,
                rule.severity,
                "drug_id",
                f"{view.name_zh}：{zh}{rule.note_zh}",
                f"{view.name_en} in {en}: {rule.note_en}",
                rule_code=rule.code,
            )


def check(ctx: Context) -> Iterator[Finding]:
    """Child under 6 (info), age-group rules and pregnancy/lactation rules (each row's severity)."""
    yield from _child_under_six(ctx)
    yield from _age_rules(ctx)
    yield from _pregnancy(ctx)
