"""The catalogue fields of a drug (DOMAIN §6), their validation, snapshots and search keys.

``DrugFields`` is the one validation of a drug's fields: proposals from the API, rows of an import
and the demo seed all pass through it, and approval re-validates the merged result. A snapshot is
the canonical JSON of those fields (sorted keys, decimals as strings) kept in proposals and revisions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from ihis.formulary.facts import CONTROL_CLASSES, NEVER_ONLINE, ROUTES, DrugFacts
from ihis.formulary.models import Drug
from ihis.platform.errors import FieldError

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=16)]

# 批准文号: 国药准字 + H (化学药) / Z (中成药) / S (生物制品) / J (进口分包装) / B / T / F + 8 digits.
APPROVAL_NUMBER = re.compile(r"^国药准字[HZSJBTF]\d{8}$")
# 国家医保药品代码: 23 characters, upper-case letters and digits; X 西药, Z 中成药, T 中药饮片.
INSURANCE_CODE = re.compile(r"^[XZT][A-Z0-9]{22}$")
FIELD_NAMES: tuple[str, ...] = (
    "code",
    "generic_name",
    "trade_name",
    "kind",
    "form",
    "strength",
    "dose_unit",
    "unit_amount",
    "dispense_unit",
    "pack_size",
    "package_unit",
    "approval_number",
    "manufacturer",
    "batch",
    "expiry",
    "price_fen",
    "insurance_code",
    "control_class",
    "high_alert",
    "monitoring",
    "ingredients",
    "classes",
    "routes",
    "instructions",
    "online",
)


class DrugFields(BaseModel):
    """Every catalogue field of one drug, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
    generic_name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    trade_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    kind: Literal["western", "patent", "herbal"]
    form: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    strength: Text64
    dose_unit: Unit
    unit_amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]
    dispense_unit: Unit
    pack_size: Annotated[int, Field(ge=1, le=100_000)]
    package_unit: Unit
    approval_number: Annotated[str, StringConstraints(max_length=32)] | None = None
    manufacturer: Annotated[str, StringConstraints(max_length=128)] | None = None
    batch: Annotated[str, StringConstraints(max_length=32)] | None = None
    expiry: dt.date | None = None
    price_fen: Annotated[int, Field(ge=0, le=100_000_000)]
    insurance_code: Annotated[str, StringConstraints(max_length=23)] | None = None
    control_class: str = "none"
    high_alert: bool = False
    monitoring: Annotated[list[Code], Field(max_length=20)] = []
    ingredients: Annotated[list[Code], Field(min_length=1, max_length=20)]
    classes: Annotated[list[Code], Field(max_length=20)] = []
    routes: Annotated[list[str], Field(min_length=1, max_length=10)]
    instructions: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    online: bool = True

    @field_validator(
        "trade_name", "approval_number", "manufacturer", "batch", "insurance_code", "instructions"
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("approval_number")
    @classmethod
    def _approval_number(cls, value: str | None) -> str | None:
        if value is not None and not APPROVAL_NUMBER.match(value):
            raise ValueError("批准文号应为“国药准字”+字母+8位数字 (e.g. 国药准字H20031015)")
        return value

    @field_validator("insurance_code")
    @classmethod
    def _insurance_code(cls, value: str | None) -> str | None:
        if value is not None and not INSURANCE_CODE.match(value):
            raise ValueError("医保药品代码应为23位大写字母或数字，以 X/Z/T 开头")
        return value

    @field_validator("control_class")
    @classmethod
    def _control_class(cls, value: str) -> str:
        if value not in CONTROL_CLASSES:
            raise ValueError(f"unknown control class; one of {', '.join(sorted(CONTROL_CLASSES))}")
        return value

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ROUTES]
        if unknown:
            raise ValueError(f"unknown route {unknown[0]}; one of {', '.join(ROUTES)}")
        return sorted(set(value))

    @field_validator("monitoring", "ingredients", "classes")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    def snapshot(self) -> dict[str, Any]:
        """The canonical, JSON-ready form (decimals and dates as strings)."""
        data = self.model_dump()
        data["unit_amount"] = format(self.unit_amount.normalize(), "f")
        data["expiry"] = self.expiry.isoformat() if self.expiry else None
        return data


def validate_fields(data: dict[str, Any], prefix: str) -> tuple[DrugFields | None, list[FieldError]]:
    """Validate a drug's fields; every problem names ``<prefix>.<field>``."""
    try:
        fields = DrugFields.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "row"
            problems.append(FieldError(f"{prefix}.{name}", str(err["type"]), "格式不正确", str(err["msg"])))
        return None, problems
    if fields.online and fields.control_class in NEVER_ONLINE:
        # DOMAIN §5, BJ 5.6.3: a never-online class cannot enter the online formulary.
        return None, [
            FieldError(
                f"{prefix}.online",
                "never_online",
                "麻醉、精神、毒性、放射性药品等不得进入互联网药品目录",
                "Drugs of this control class can never be in the online formulary",
            )
        ]
    return fields, []


def canonical_json(data: dict[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 characters kept: the same fields give the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def snapshot_of(drug: Drug) -> dict[str, Any]:
    """The catalogue fields of a stored drug in canonical form."""
    data: dict[str, Any] = {name: getattr(drug, name) for name in FIELD_NAMES}
    data["unit_amount"] = format(drug.unit_amount.normalize(), "f")
    data["expiry"] = drug.expiry.isoformat() if drug.expiry else None
    for name in ("monitoring", "ingredients", "classes", "routes"):
        data[name] = sorted(data[name] or [])
    return data


def pinyin_key(*names: str | None) -> str:
    """Upper-case pinyin initials of each name, space separated (``阿莫西林胶囊`` -> ``AMXLJN``)."""
    # Imported when a name is keyed (imports, catalogue changes), not with the API: pypinyin's
    # dictionaries take ~55 MB of every process that imports it.
    from pypinyin import Style, lazy_pinyin

    keys = []
    for name in names:
        if name:
            letters = lazy_pinyin(name, style=Style.FIRST_LETTER, strict=False)
            keys.append(re.sub(r"[^0-9A-Z]", "", "".join(letters).upper()))
    return " ".join(k for k in keys if k)[:160]


def column_values(fields: DrugFields) -> dict[str, Any]:
    """The ``drug`` column values for these fields (search key included)."""
    values = fields.model_dump()
    values["pinyin"] = pinyin_key(fields.generic_name, fields.trade_name)
    return values


def to_facts(drug: Drug) -> DrugFacts:
    """The plain-value view of a catalogue row that prescribing and the rule engine use."""
    return DrugFacts(
        id=drug.id,
        code=drug.code,
        generic_name=drug.generic_name,
        trade_name=drug.trade_name,
        kind=drug.kind,  # type: ignore[arg-type]  # CHECK constraint: western|patent|herbal
        form=drug.form,
        strength=drug.strength,
        dose_unit=drug.dose_unit,
        unit_amount=drug.unit_amount,
        dispense_unit=drug.dispense_unit,
        pack_size=drug.pack_size,
        package_unit=drug.package_unit,
        price_fen=drug.price_fen,
        control_class=drug.control_class,
        high_alert=drug.high_alert,
        monitoring=frozenset(drug.monitoring or ()),
        ingredients=frozenset(drug.ingredients or ()),
        classes=frozenset(drug.classes or ()),
        routes=frozenset(drug.routes or ()),
        insurance_code=drug.insurance_code,
        online=drug.online and drug.status == "active",
    )
