"""How long a prescription lasts: validity (DOMAIN §5: the day of issue, at most 3 days, fixed) and
the days each line covers (RULES limits from the knowledge base: acute 3, ordinary 7, limited
mobility 14, listed stable chronic diseases 30 — the last two only with a recorded reason)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from ihis.medication_rules.findings import Context, Finding, line_finding
from ihis.medication_rules.knowledge import DayScope

MAX_VALIDITY_DAYS: Final = 3  # 处方管理办法 第十八条: extendable to at most 3 days (fixed)

_SCOPE_NAMES: Final[dict[DayScope, tuple[str, str]]] = {
    "acute": ("急性病处方", "acute-disease prescriptions"),
    "ordinary": ("普通处方", "ordinary prescriptions"),
    "limited_mobility": ("行动不便患者处方", "patients with limited mobility"),
    "chronic_disease": ("慢性病长期处方", "long-term prescriptions of listed chronic diseases"),
}


@dataclass(frozen=True)
class DaysLimit:
    """The limit that applies to the draft and what else could have extended it."""

    days: int
    scope: DayScope
    extendable_with_reason: bool  # a reason would raise the limit


def days_limit(ctx: Context) -> DaysLimit:
    """The highest limit the draft qualifies for."""
    kb, draft = ctx.kb, ctx.draft
    if draft.course == "acute":
        return DaysLimit(kb.day_limit("acute"), "acute", extendable_with_reason=False)
    best = DaysLimit(kb.day_limit("ordinary"), "ordinary", extendable_with_reason=False)
    candidates: list[DayScope] = []
    if ctx.patient.limited_mobility:
        candidates.append("limited_mobility")
    if kb.chronic_disease_of(draft.diagnosis_codes) is not None:
        candidates.append("chronic_disease")
    for scope in candidates:
        if kb.day_limit(scope) <= best.days:
            continue
        if draft.has_extension_reason:
            best = DaysLimit(kb.day_limit(scope), scope, extendable_with_reason=False)
        else:
            best = DaysLimit(best.days, best.scope, extendable_with_reason=True)
    return best


def check(ctx: Context) -> Iterator[Finding]:
    """Block validity outside 1..3 days, line days below 1 or above the applicable limit."""
    validity = ctx.draft.validity_days
    if not 1 <= validity <= MAX_VALIDITY_DAYS:
        yield Finding(
            code="validity_out_of_range",
            severity="block",
            line=None,
            field="validity_days",
            message_zh=f"处方有效期须为 1 至 {MAX_VALIDITY_DAYS} 天（当前 {validity} 天）",
            message_en=f"Validity must be 1 to {MAX_VALIDITY_DAYS} days (got {validity})",
            detail={"limit": MAX_VALIDITY_DAYS, "validity_days": validity},
        )
    limit = days_limit(ctx)
    name_zh, name_en = _SCOPE_NAMES[limit.scope]
    hint_zh = "；如患者行动不便或属慢性病长期处方，请记录延长理由" if limit.extendable_with_reason else ""
    hint_en = "; record a reason to extend it (limited mobility or a listed chronic disease)"
    for view in ctx.lines:
        days = view.line.days
        if days < 1:
            yield line_finding(
                view,
                "days_invalid",
                "block",
                "days",
                f"{view.name_zh}用药天数须至少 1 天",
                f"{view.name_en}: days must be at least 1",
                days=days,
            )
        elif days > limit.days:
            yield line_finding(
                view,
                "days_over_limit",
                "block",
                "days",
                f"{view.name_zh}用药 {days} 天，超过{name_zh} {limit.days} 天的限制{hint_zh}",
                f"{view.name_en}: {days} days exceeds the {limit.days}-day limit of {name_en}"
                + (hint_en if limit.extendable_with_reason else ""),
                days=days,
                limit=limit.days,
                limit_scope=limit.scope,
            )
