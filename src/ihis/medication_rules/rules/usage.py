"""How a line says the drug is taken (BJ 5.3.3 dosage form and route): a known frequency, a route
the drug may be given by, the drug's own dose unit, a positive dose and at least one package."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.formulary.facts import ROUTES
from ihis.medication_rules.findings import Context, Finding, line_finding
from ihis.medication_rules.vocab import FREQUENCIES


def _route_names(codes: frozenset[str]) -> tuple[str, str]:
    ordered = sorted(codes)
    return (
        "、".join(ROUTES.get(c, (c, c))[0] for c in ordered) or "无",
        ", ".join(ROUTES.get(c, (c, c))[1].lower() for c in ordered) or "none",
    )


def check(ctx: Context) -> Iterator[Finding]:
    """Block unknown frequencies, wrong routes, a dose unit not the drug's, non-positive amounts."""
    for view in ctx.lines:
        line, drug = view.line, view.drug
        if line.frequency not in FREQUENCIES:
            yield line_finding(
                view,
                "frequency_unknown",
                "block",
                "frequency",
                f"{view.name_zh}的给药频次“{line.frequency}”无法识别",
                f"{view.name_en}: unknown frequency '{line.frequency}'",
                frequency=line.frequency,
            )
        if line.route not in drug.routes:
            allowed_zh, allowed_en = _route_names(drug.routes)
            route_zh = ROUTES.get(line.route, (line.route, line.route))[0]
            yield line_finding(
                view,
                "route_not_allowed",
                "block",
                "route",
                f"{view.name_zh}不能经“{route_zh}”给药（可用：{allowed_zh}）",
                f"{view.name_en} cannot be given by route '{line.route}' (allowed: {allowed_en})",
                route=line.route,
            )
        if line.dose_unit != drug.dose_unit:
            yield line_finding(
                view,
                "dose_unit_mismatch",
                "block",
                "dose_unit",
                f"{view.name_zh}（{drug.form} {drug.strength}）的剂量单位应为 {drug.dose_unit}，"
                f"而非 {line.dose_unit}",
                f"{view.name_en} ({drug.strength}) is dosed in {drug.dose_unit}, not {line.dose_unit}",
                dose_unit=line.dose_unit,
                expected_unit=drug.dose_unit,
            )
        if line.dose <= 0:
            yield line_finding(
                view,
                "dose_invalid",
                "block",
                "dose",
                f"{view.name_zh}的单次剂量须大于 0",
                f"{view.name_en}: the dose must be above 0",
            )
        if line.quantity < 1:
            yield line_finding(
                view,
                "quantity_invalid",
                "block",
                "quantity",
                f"{view.name_zh}的数量须至少 1{drug.package_unit}",
                f"{view.name_en}: the quantity must be at least one package",
                quantity=line.quantity,
            )
