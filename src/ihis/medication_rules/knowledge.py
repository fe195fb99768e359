"""The knowledge base the rule engine reads: immutable values, built from the stored entries.

A *code* is a lower-case ingredient or class code of ``DrugFacts`` (``warfarin``, ``nsaid``); a drug
matches a code when it is one of its ingredients or classes. ICD-10 patterns are a prefix (``E78``,
``I10.x``) or an inclusive range of categories (``I10-I15``, ``C00-C97``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from ihis.formulary.facts import DrugFacts

Severity = Literal["block", "warn", "info"]
SEVERITY_RANK: Final = {"block": 0, "warn": 1, "info": 2}
DayScope = Literal["acute", "ordinary", "limited_mobility", "chronic_disease"]

# RULES defaults (DOMAIN §5): acute 3 days, ordinary/chronic 7, limited mobility 2 weeks, listed
# stable chronic diseases 1 month. The knowledge base may change them (kind ``day_limit``).
DEFAULT_DAY_LIMITS: Final[Mapping[DayScope, int]] = MappingProxyType(
    {"acute": 3, "ordinary": 7, "limited_mobility": 14, "chronic_disease": 30}
)


def drug_codes(drug: DrugFacts) -> frozenset[str]:
    """The codes a drug answers to: its ingredients and classes."""
    return drug.ingredients | drug.classes


def icd_matches(pattern: str, code: str) -> bool:
    """True if ICD-10 ``code`` falls under ``pattern`` (a prefix, or a ``lo-hi`` category range)."""
    code = code.strip().upper()
    pattern = pattern.strip().upper()
    if "-" in pattern:
        lo, hi = (p.strip() for p in pattern.split("-", 1))
        head = code[: len(lo)]
        return len(head) == len(lo) and lo <= head <= hi
    return code.startswith(pattern)


@dataclass(frozen=True)
class BannedCode:
    """Hospital-maintained ban beyond the fixed never-online classes (a class or an ingredient)."""

    code: str
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class ChronicDisease:
    """A listed stable chronic disease (长处方病种): diagnoses under ``icd10`` may get the long limit."""

    icd10: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class DoseRange:
    """Maximum single and daily dose of one ingredient for an age band [min, max) in months."""

    ingredient: str
    unit: str
    min_age_months: int = 0
    max_age_months: int | None = None  # exclusive; None: no upper bound
    max_single: str | None = None  # decimal text, in ``unit``
    max_daily: str | None = None
    route: str | None = None  # applies to this route only
    severity: Severity = "block"
    source: str = ""

    def covers(self, age_months: int, route: str) -> bool:
        """True if this row applies to a patient of ``age_months`` and a line given by ``route``."""
        if age_months < self.min_age_months:
            return False
        if self.max_age_months is not None and age_months >= self.max_age_months:
            return False
        return self.route is None or self.route == route


@dataclass(frozen=True)
class AgeRule:
    """A code not for children below ``age_years`` (group child) or cautioned from ``age_years``
    (group elderly)."""

    code: str
    group: Literal["child", "elderly"]
    age_years: int
    severity: Severity
    note_zh: str
    note_en: str

    def applies(self, age_years: int) -> bool:
        """True if a patient of ``age_years`` full years falls in this rule's group."""
        return age_years < self.age_years if self.group == "child" else age_years >= self.age_years


@dataclass(frozen=True)
class CodePair:
    """Two codes that matter together: an interaction, or a cross-sensitivity between allergy classes."""

    a: str
    b: str
    severity: Severity
    note_zh: str
    note_en: str

    def between(self, left: frozenset[str], right: frozenset[str]) -> bool:
        """True if one side matches ``a`` and the other ``b`` (either order)."""
        return (self.a in left and self.b in right) or (self.b in left and self.a in right)


@dataclass(frozen=True)
class DuplicateGroup:
    """Drugs of this group duplicate each other's therapy (two statins; an ACEI with an ARB)."""

    name: str
    codes: frozenset[str]
    severity: Severity
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class PregnancyRule:
    """A code contraindicated or cautioned in pregnancy or lactation."""

    code: str
    condition: Literal["pregnancy", "lactation"]
    severity: Severity
    note_zh: str
    note_en: str


@dataclass(frozen=True)
class Indication:
    """The diagnoses (ICD-10 patterns) a code is indicated for."""

    code: str
    icd10: tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """One version of an institution's rational-use knowledge base (immutable)."""

    version: int
    banned: tuple[BannedCode, ...] = ()
    day_limits: Mapping[DayScope, int] = field(default_factory=lambda: DEFAULT_DAY_LIMITS)
    chronic_diseases: tuple[ChronicDisease, ...] = ()
    dose_ranges: tuple[DoseRange, ...] = ()
    age_rules: tuple[AgeRule, ...] = ()
    cross_sensitivities: tuple[CodePair, ...] = ()
    interactions: tuple[CodePair, ...] = ()
    duplicate_groups: tuple[DuplicateGroup, ...] = ()
    pregnancy_rules: tuple[PregnancyRule, ...] = ()
    indications: tuple[Indication, ...] = ()

    def day_limit(self, scope: DayScope) -> int:
        """The days limit of ``scope`` (the RULES default unless the knowledge base sets it)."""
        return self.day_limits.get(scope, DEFAULT_DAY_LIMITS[scope])

    def chronic_disease_of(self, diagnosis_codes: tuple[str, ...]) -> ChronicDisease | None:
        """The first listed chronic disease one of the diagnoses falls under."""
        for disease in self.chronic_diseases:
            if any(icd_matches(disease.icd10, code) for code in diagnosis_codes):
                return disease
        return None
