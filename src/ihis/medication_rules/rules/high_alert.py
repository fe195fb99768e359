"""High-alert drugs (高警示药品, DOMAIN §5: warfarin, digoxin, insulin ...): shown, never blocking."""

from __future__ import annotations

from collections.abc import Iterator

from ihis.medication_rules.findings import Context, Finding, line_finding


def check(ctx: Context) -> Iterator[Finding]:
    """One info finding per line whose drug is marked high-alert in the formulary."""
    for view in ctx.lines:
        if view.drug.high_alert:
            yield line_finding(
                view,
                "high_alert",
                "info",
                "drug_id",
                f"{view.name_zh}为高警示药品，请核对剂量并告知患者用药注意事项",
                f"{view.name_en} is a high-alert drug: double-check the dose and counsel the patient",
            )
