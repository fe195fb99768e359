"""The values the rule engine works on: a prescription draft, the patient's facts, and findings.

Lines are numbered from 0 and fields are dotted paths into the draft (``lines.2.dose``,
``validity_days``, ``diagnosis_codes``); the prescribing API prefixes them with ``body.``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ihis.formulary.facts import DrugFacts
from ihis.medication_rules.knowledge import KnowledgeBase, Severity, drug_codes

PrescriptionKind = Literal["western_patent", "herbal"]
Course = Literal["acute", "ordinary", "chronic"]


@dataclass(frozen=True)
class RxLine:
    """One prescribed drug: dose per administration, frequency code, route code, days, packages."""

    drug_id: int
    dose: Decimal
    dose_unit: str
    frequency: str
    route: str
    days: int
    quantity: int  # packages (DrugFacts.package_unit)


@dataclass(frozen=True)
class RxDraft:
    """A prescription as submitted for checking (before signing)."""

    kind: PrescriptionKind
    lines: tuple[RxLine, ...]
    diagnosis_codes: tuple[str, ...]  # ICD-10
    validity_days: int
    course: Course = "ordinary"
    extension_reason: str | None = None  # why the days exceed the ordinary limit (DOMAIN §5)

    @property
    def has_extension_reason(self) -> bool:
        return bool(self.extension_reason and self.extension_reason.strip())


@dataclass(frozen=True)
class PatientFacts:
    """What the rules need to know of the patient (None: not recorded)."""

    birth_date: dt.date
    today: dt.date  # the hospital's date (Asia/Shanghai)
    sex: str | None
    allergy_classes: frozenset[str]  # class or ingredient codes
    pregnant: bool | None = None
    lactating: bool | None = None
    limited_mobility: bool = False


def age_in_months(birth_date: dt.date, today: dt.date) -> int:
    """Full months of age: a month is complete on the same day of the month as the birth (a birth
    on the 31st completes a month on the 1st after a shorter month), so ``// 12`` equals
    ``idnumbers.age_on``."""
    months = (today.year - birth_date.year) * 12 + (today.month - birth_date.month)
    if today.day < birth_date.day:
        months -= 1
    return max(months, 0)


@dataclass(frozen=True)
class Finding:
    """One result of a rule: its stable code, severity, the line and field it concerns, and text."""

    code: str
    severity: Severity
    line: int | None
    field: str
    message_zh: str
    message_en: str
    detail: dict[str, str | int]

    @property
    def key(self) -> str:
        """Stable identity across re-evaluation (rule code, line(s), drug(s)): overrides match on it.

        Unique within one evaluation: ``interaction:2/0:17+23`` is line 2 (drug 23) against line 0
        (drug 17)."""
        drugs = sorted(str(self.detail[k]) for k in ("drug_id", "other_drug_id") if k in self.detail)
        line = "-" if self.line is None else str(self.line)
        if "other_line" in self.detail:
            line += f"/{self.detail['other_line']}"
        return f"{self.code}:{line}:{'+'.join(drugs) or '-'}"


@dataclass(frozen=True)
class LineView:
    """A line whose drug is known, with the drug's codes and printable names."""

    index: int
    line: RxLine
    drug: DrugFacts
    codes: frozenset[str]

    @property
    def name_zh(self) -> str:
        return self.drug.generic_name

    @property
    def name_en(self) -> str:
        return ", ".join(sorted(self.drug.ingredients)) or self.drug.code

    def field(self, name: str) -> str:
        return f"lines.{self.index}.{name}"


@dataclass(frozen=True)
class Context:
    """One evaluation: the draft, the patient, the drugs and the knowledge base, with derived facts."""

    draft: RxDraft
    patient: PatientFacts
    drugs: Mapping[int, DrugFacts]
    kb: KnowledgeBase
    lines: tuple[LineView, ...] = field(init=False)
    age_months: int = field(init=False)

    def __post_init__(self) -> None:
        views = tuple(
            LineView(i, line, self.drugs[line.drug_id], drug_codes(self.drugs[line.drug_id]))
            for i, line in enumerate(self.draft.lines)
            if line.drug_id in self.drugs
        )
        object.__setattr__(self, "lines", views)
        object.__setattr__(self, "age_months", age_in_months(self.patient.birth_date, self.patient.today))

    @property
    def age_years(self) -> int:
        return self.age_months // 12

    def pairs(self) -> list[tuple[LineView, LineView]]:
        """Every pair of lines (earlier, later) in line order."""
        return [(a, b) for i, a in enumerate(self.lines) for b in self.lines[i + 1 :]]


def line_finding(
    view: LineView,
    code: str,
    severity: Severity,
    field_name: str,
    message_zh: str,
    message_en: str,
    **detail: str | int,
) -> Finding:
    """A finding on one line, naming its drug in the detail."""
    return Finding(
        code=code,
        severity=severity,
        line=view.index,
        field=view.field(field_name),
        message_zh=message_zh,
        message_en=message_en,
        detail={"drug_id": view.drug.id, "drug": view.name_zh, **detail},
    )


def pair_finding(
    first: LineView,
    second: LineView,
    code: str,
    severity: Severity,
    message_zh: str,
    message_en: str,
    **detail: str | int,
) -> Finding:
    """A finding on a pair of lines, reported on the later one and naming both drugs."""
    return Finding(
        code=code,
        severity=severity,
        line=second.index,
        field=second.field("drug_id"),
        message_zh=message_zh,
        message_en=message_en,
        detail={
            "drug_id": second.drug.id,
            "drug": second.name_zh,
            "other_line": first.index,
            "other_drug_id": first.drug.id,
            "other_drug": first.name_zh,
            **detail,
        },
    )
