"""Dose range by age group (BJ 5.3.3; knowledge base ``dose_range`` rows, each citing its label) and
the quantity a line's dose, frequency and days need."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

from ihis.medication_rules.findings import Context, Finding, LineView, line_finding
from ihis.medication_rules.knowledge import SEVERITY_RANK, DoseRange
from ihis.medication_rules.vocab import FREQUENCIES, convert, plain


def _age_band(row: DoseRange) -> tuple[str, str]:
    def zh(months: int) -> str:
        return f"{months // 12} 岁" if months % 12 == 0 else f"{months} 月龄"

    def en(months: int) -> str:
        return f"{months // 12} y" if months % 12 == 0 else f"{months} mo"

    if row.max_age_months is None:
        return (f"{zh(row.min_age_months)}及以上", f"{en(row.min_age_months)} and over")
    return (
        f"{zh(row.min_age_months)}至不满{zh(row.max_age_months)}",
        f"{en(row.min_age_months)} to under {en(row.max_age_months)}",
    )


def _unchecked(view: LineView, units: list[str]) -> Finding:
    line = view.line
    return line_finding(
        view,
        "dose_unchecked",
        "warn",
        "dose_unit",
        f"{view.name_zh}的剂量单位 {line.dose_unit} 与剂量标准的单位（{'、'.join(units)}）不同，"
        "无法核对剂量范围",
        f"{view.name_en}: dose unit {line.dose_unit} differs from the reference unit ({', '.join(units)}); "
        "the dose range could not be checked",
        dose_unit=line.dose_unit,
        reference_unit=",".join(units),
    )


def _dose_findings(view: LineView, row: DoseRange, dose: Fraction, seen: set[str]) -> Iterator[Finding]:
    band_zh, band_en = _age_band(row)
    if row.max_single is not None and "single" not in seen and dose > Fraction(Decimal(row.max_single)):
        seen.add("single")
        yield line_finding(
            view,
            "dose_single_over_max",
            row.severity,
            "dose",
            f"{view.name_zh}单次剂量 {plain(dose)}{row.unit} 超过{band_zh}最大单次剂量 "
            f"{row.max_single}{row.unit}",
            f"{view.name_en}: single dose {plain(dose)} {row.unit} exceeds the maximum "
            f"{row.max_single} {row.unit} for ages {band_en}",
            max_single=row.max_single,
            unit=row.unit,
            source=row.source,
        )
    frequency = FREQUENCIES.get(view.line.frequency)
    if row.max_daily is None or frequency is None or frequency.per_day is None or "daily" in seen:
        return
    # Daily dose = dose x administrations per day of the frequency (qod: 1/2, qw: 1/7).
    daily = dose * frequency.per_day
    if daily > Fraction(Decimal(row.max_daily)):
        seen.add("daily")
        yield line_finding(
            view,
            "dose_daily_over_max",
            row.severity,
            "dose",
            f"{view.name_zh}日剂量 {plain(daily)}{row.unit}（{frequency.name_zh}）超过{band_zh}最大日剂量 "
            f"{row.max_daily}{row.unit}",
            f"{view.name_en}: daily dose {plain(daily)} {row.unit} ({frequency.name_en}) exceeds the "
            f"maximum {row.max_daily} {row.unit} for ages {band_en}",
            max_daily=row.max_daily,
            unit=row.unit,
            source=row.source,
        )


def _dose_range(ctx: Context) -> Iterator[Finding]:
    for view in ctx.lines:
        # Rows are per ingredient: they apply to single-ingredient drugs only (a compound's dose is
        # not a dose of each ingredient).
        if len(view.drug.ingredients) != 1 or view.line.dose <= 0:
            continue
        (ingredient,) = view.drug.ingredients
        line, route = view.line, view.line.route
        # Most severe rows first, so an exceeded block row is the one reported.
        rows = sorted(
            (r for r in ctx.kb.dose_ranges if r.ingredient == ingredient and r.covers(ctx.age_months, route)),
            key=lambda r: SEVERITY_RANK[r.severity],
        )
        checkable = [
            (r, dose) for r in rows if (dose := convert(line.dose, line.dose_unit, r.unit)) is not None
        ]
        if rows and not checkable:
            yield _unchecked(view, sorted({r.unit for r in rows}))
        seen: set[str] = set()
        for row, dose in checkable:
            yield from _dose_findings(view, row, dose, seen)


def packages_needed(view: LineView) -> int | None:
    """Packages the line's dose x frequency x days needs; None when it cannot be computed."""
    line, drug = view.line, view.drug
    frequency = FREQUENCIES.get(line.frequency)
    if frequency is None or frequency.per_day is None or line.dose_unit != drug.dose_unit:
        return None
    if line.dose <= 0 or line.days < 1 or drug.unit_amount <= 0 or drug.pack_size < 1:
        return None
    doses = Fraction(1) if frequency.once_only else frequency.per_day * line.days
    total = Fraction(line.dose) * doses
    return math.ceil(total / (Fraction(drug.unit_amount) * drug.pack_size))


def _quantity(ctx: Context) -> Iterator[Finding]:
    for view in ctx.lines:
        need = packages_needed(view)
        quantity = view.line.quantity
        if need is None or quantity < 1:
            continue
        unit = view.drug.package_unit
        if quantity > need + 1:
            yield line_finding(
                view,
                "quantity_excess",
                "warn",
                "quantity",
                f"{view.name_zh}开具 {quantity}{unit}，按用法用量 {view.line.days} 天只需 {need}{unit}",
                f"{view.name_en}: {quantity} packages prescribed; {view.line.days} days at this dose "
                f"need {need}",
                quantity=quantity,
                needed=need,
            )
        elif quantity < need:
            yield line_finding(
                view,
                "quantity_short",
                "info",
                "quantity",
                f"{view.name_zh}开具 {quantity}{unit}，不足 {view.line.days} 天用量（需 {need}{unit}）",
                f"{view.name_en}: {quantity} packages do not cover {view.line.days} days (need {need})",
                quantity=quantity,
                needed=need,
            )


def check(ctx: Context) -> Iterator[Finding]:
    """Dose above the age group's maximum (the row's severity), unit not checkable (warn), and a
    quantity over the need by more than one package (warn) or under it (info)."""
    yield from _dose_range(ctx)
    yield from _quantity(ctx)
