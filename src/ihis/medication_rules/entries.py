"""The kinds of knowledge-base entries: one validated data model per kind, its natural key (unique
among current entries of the kind) and the rule value the engine reads."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ihis.formulary.facts import ROUTES
from ihis.medication_rules import knowledge as kb
from ihis.medication_rules.knowledge import DayScope, Severity

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ICD_RE = re.compile(r"^[A-Z]([0-9]{1,2}(\.[0-9A-Z]{1,10})?)?$|^[A-Z][0-9]{2}-[A-Z][0-9]{2}$")


def _code(value: str) -> str:
    if not _CODE_RE.match(value):
        raise ValueError("a lower-case code of letters, digits and _ (like warfarin, nsaid)")
    return value


def _icd(value: str) -> str:
    value = value.strip().upper()
    if not _ICD_RE.match(value):
        raise ValueError("an ICD-10 prefix (E78, I10.x) or a category range (I10-I15)")
    if "-" in value:
        lo, hi = value.split("-")
        if lo > hi:
            raise ValueError("the range's start is after its end")
    return value


Code = Annotated[str, AfterValidator(_code)]
IcdPattern = Annotated[str, AfterValidator(_icd)]
Note = Annotated[str, Field(min_length=1, max_length=500)]


class EntryData(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    def natural_key(self) -> str:
        raise NotImplementedError


class BannedClassData(EntryData):
    """A class or ingredient the hospital bans online beyond the fixed never-online classes."""

    code: Code
    reason_zh: Note
    reason_en: Note

    def natural_key(self) -> str:
        return self.code


class DayLimitData(EntryData):
    """A days limit (DOMAIN §5 RULES); 84 days = the 12-week ceiling of long prescriptions."""

    scope: DayScope
    days: int = Field(ge=1, le=84)

    def natural_key(self) -> str:
        return self.scope


class ChronicDiseaseData(EntryData):
    """A listed stable chronic disease eligible for the long-prescription limit."""

    icd10: IcdPattern
    name_zh: Note
    name_en: Note

    def natural_key(self) -> str:
        return self.icd10


class DoseRangeData(EntryData):
    """Maximum single / daily dose of an ingredient for an age band [min, max) in months."""

    ingredient: Code
    unit: str = Field(min_length=1, max_length=16)
    min_age_months: int = Field(default=0, ge=0, le=1500)
    max_age_months: int | None = Field(default=None, ge=1, le=1500)
    max_single: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=4)
    max_daily: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=4)
    route: str | None = None
    severity: Severity = "block"
    source: str = Field(default="", max_length=500)

    @field_validator("max_age_months")
    @classmethod
    def _band(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_age_months")
        if value is not None and low is not None and value <= low:
            raise ValueError("must be above min_age_months")
        return value

    @field_validator("max_daily")
    @classmethod
    def _some_maximum(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None and info.data.get("max_single") is None:
            raise ValueError("give max_single, max_daily or both")
        return value

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        if value is not None and value not in ROUTES:
            raise ValueError(f"one of {', '.join(sorted(ROUTES))}")
        return value

    def natural_key(self) -> str:
        return f"{self.ingredient}|{self.min_age_months:04d}|{self.route or '*'}|{self.unit}"


class AgeRuleData(EntryData):
    """A code not for children under ``age_years`` (child) or cautioned from ``age_years`` (elderly)."""

    code: Code
    group: Literal["child", "elderly"]
    age_years: int = Field(ge=1, le=120)
    severity: Severity = "warn"
    note_zh: Note
    note_en: Note

    def natural_key(self) -> str:
        return f"{self.code}|{self.group}"


class PairData(EntryData):
    """Two codes, either order (an interaction, or a cross-sensitivity)."""

    a: Code
    b: Code
    severity: Severity = "warn"
    note_zh: Note
    note_en: Note

    @field_validator("b")
    @classmethod
    def _distinct(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("a"):
            raise ValueError("must differ from a")
        return value

    def natural_key(self) -> str:
        return "|".join(sorted((self.a, self.b)))


class DuplicateGroupData(EntryData):
    """Codes whose drugs duplicate each other's therapy."""

    name: Code
    codes: list[Code] = Field(min_length=1, max_length=50)
    severity: Severity = "warn"
    name_zh: Note
    name_en: Note

    def natural_key(self) -> str:
        return self.name


class PregnancyRuleData(EntryData):
    """A code contraindicated (block) or cautioned (warn) in pregnancy or lactation."""

    code: Code
    condition: Literal["pregnancy", "lactation"]
    severity: Severity = "block"
    note_zh: Note
    note_en: Note

    def natural_key(self) -> str:
        return f"{self.code}|{self.condition}"


class IndicationData(EntryData):
    """The diagnoses (ICD-10 patterns) a code is indicated for."""

    code: Code
    icd10: list[IcdPattern] = Field(min_length=1, max_length=100)

    def natural_key(self) -> str:
        return self.code


Kind = Literal[
    "banned_class",
    "day_limit",
    "chronic_disease",
    "dose_range",
    "age_rule",
    "cross_sensitivity",
    "interaction",
    "duplicate_group",
    "pregnancy_rule",
    "indication",
]
DATA_MODELS: Final[Mapping[str, type[EntryData]]] = {
    "banned_class": BannedClassData,
    "day_limit": DayLimitData,
    "chronic_disease": ChronicDiseaseData,
    "dose_range": DoseRangeData,
    "age_rule": AgeRuleData,
    "cross_sensitivity": PairData,
    "interaction": PairData,
    "duplicate_group": DuplicateGroupData,
    "pregnancy_rule": PregnancyRuleData,
    "indication": IndicationData,
}
KINDS: Final = tuple(DATA_MODELS)


def parse(kind: str, data: Mapping[str, Any]) -> EntryData:
    """Validate ``data`` as an entry of ``kind`` (raises pydantic.ValidationError)."""
    return DATA_MODELS[kind].model_validate(dict(data))


def stored(entry: EntryData) -> dict[str, Any]:
    """The JSON stored for an entry (decimals as text, so nothing is rounded)."""
    return entry.model_dump(mode="json", exclude_none=False)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def build(version: int, entries: Sequence[tuple[str, EntryData]]) -> kb.KnowledgeBase:
    """The immutable knowledge base of ``version`` from its entries (kind, data), in stored order."""
    lists: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    day_limits: dict[DayScope, int] = dict(kb.DEFAULT_DAY_LIMITS)
    for kind, data in entries:
        match data:
            case BannedClassData():
                lists[kind].append(kb.BannedCode(data.code, data.reason_zh, data.reason_en))
            case DayLimitData():
                day_limits[data.scope] = data.days
            case ChronicDiseaseData():
                lists[kind].append(kb.ChronicDisease(data.icd10, data.name_zh, data.name_en))
            case DoseRangeData():
                lists[kind].append(
                    kb.DoseRange(
                        ingredient=data.ingredient,
                        unit=data.unit,
                        min_age_months=data.min_age_months,
                        max_age_months=data.max_age_months,
                        max_single=_dec(data.max_single),
                        max_daily=_dec(data.max_daily),
                        route=data.route,
                        severity=data.severity,
                        source=data.source,
                    )
                )
            case AgeRuleData():
                lists[kind].append(
                    kb.AgeRule(
                        data.code, data.group, data.age_years, data.severity, data.note_zh, data.note_en
                    )
                )
            case PairData():
                lists[kind].append(kb.CodePair(data.a, data.b, data.severity, data.note_zh, data.note_en))
            case DuplicateGroupData():
                lists[kind].append(
                    kb.DuplicateGroup(
                        data.name, frozenset(data.codes), data.severity, data.name_zh, data.name_en
                    )
                )
            case PregnancyRuleData():
                lists[kind].append(
                    kb.PregnancyRule(data.code, data.condition, data.severity, data.note_zh, data.note_en)
                )
            case IndicationData():
                lists[kind].append(kb.Indication(data.code, tuple(data.icd10)))
    return kb.KnowledgeBase(
        version=version,
        banned=tuple(lists["banned_class"]),
        day_limits=MappingProxyType(day_limits),
        chronic_diseases=tuple(lists["chronic_disease"]),
        dose_ranges=tuple(lists["dose_range"]),
        age_rules=tuple(lists["age_rule"]),
        cross_sensitivities=tuple(lists["cross_sensitivity"]),
        interactions=tuple(lists["interaction"]),
        duplicate_groups=tuple(lists["duplicate_group"]),
        pregnancy_rules=tuple(lists["pregnancy_rule"]),
        indications=tuple(lists["indication"]),
    )
