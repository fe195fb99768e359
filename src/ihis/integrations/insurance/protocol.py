"""The medical insurance (医保) protocol IHIS speaks: item classes, pre-settlement, settlement.

Billing splits a drug bill into its insurance and self-pay parts only through
``InsuranceGateway``; the production client (``client.py``) speaks the platform's signed JSON
API and the sandbox (``sandbox.py``) speaks the same. Amounts are integer fen; ratios are basis
points (1/10000). See docs/logistics-and-insurance.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, Protocol

ItemClassName = Literal["甲", "乙", "丙", "unknown"]
ITEM_CLASSES: Final = ("甲", "乙", "丙", "unknown")
FULL_RATIO_BP: Final = 10_000
# 医保药品分类与代码 (national drug code, 23 characters): X 西药 / Z 中成药 / T 中药饮片, then the
# category and product segments (the demo formulary writes X/Z/T + the 7-character ATC code + 15
# digits). Anything else is not a catalogue code.
INSURANCE_CODE: Final = re.compile(r"^[XZT][A-Z0-9]{22}$")
# 险种类型 (insutype) of the basic schemes a drug order can be settled with.
INSURANCE_TYPES: Final = {"310": "职工基本医疗保险", "390": "城乡居民基本医疗保险"}
# 医保区划 (admdvs): six digits, the GB/T 2260 region code of the insured area.
ADMDVS: Final = re.compile(r"^\d{6}$")
PSN_NO: Final = re.compile(r"^[0-9A-Za-z]{8,30}$")

# Transaction numbers (infno) of the national platform's interface specification
# (医疗保障信息平台 定点医药机构接口规范): person query, catalogue query, outpatient
# pre-settlement, settlement and settlement reversal.
INFNO_PERSON: Final = "1101"
INFNO_CLASSIFY: Final = "1312"
INFNO_PRESETTLE: Final = "2206"
INFNO_SETTLE: Final = "2207"
INFNO_CANCEL: Final = "2208"


@dataclass(frozen=True)
class InsuranceItemQuery:
    """One bill line: the drug's 23-character insurance code, its name, quantity and unit price."""

    insurance_code: str
    name: str
    quantity: int
    price_fen: int

    @property
    def total_fen(self) -> int:
        """Quantity times unit price."""
        return self.quantity * self.price_fen


@dataclass(frozen=True)
class PersonInsurance:
    """1101 人员信息获取: the person number (人员编号), the scheme (险种) and the insured area (参保地)."""

    psn_no: str
    insutype: str
    insuplc_admdvs: str


@dataclass(frozen=True)
class ItemClass:
    """An item's class and the share of its price the patient pays first (先行自付), in basis points."""

    insurance_code: str
    class_: str
    self_pay_ratio: int


@dataclass(frozen=True)
class SplitLine:
    """One line's split; ``insurance_fen + self_pay_fen == total_fen``."""

    insurance_code: str
    class_: str
    total_fen: int
    insurance_fen: int
    self_pay_fen: int


@dataclass(frozen=True)
class Split:
    """A bill's split; each total is the sum of the lines'."""

    total_fen: int
    insurance_fen: int
    self_pay_fen: int
    lines: tuple[SplitLine, ...]


@dataclass(frozen=True)
class Settlement:
    """A settlement the platform recorded for our bill ref (``status``: settled or cancelled)."""

    bill_ref: str
    settlement_id: str
    status: str
    split: Split


class InsuranceError(Exception):
    """An insurance call failed; ``retryable`` says whether the same call may succeed later."""

    def __init__(self, code: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.status = status


class InsuranceGateway(Protocol):
    """Anything that finds persons, classifies, pre-settles and settles (the HTTP client, or a fake)."""

    def person_info(self, id_number: str, name: str) -> PersonInsurance:  # pragma: no cover
        """1101: the person's insurance by resident ID number and name (``InsuranceError`` if none)."""
        ...

    def classify(self, items: list[InsuranceItemQuery]) -> list[ItemClass]:  # pragma: no cover
        """The class of each item, in order."""
        ...

    def presettle(self, insured_id: str, items: list[InsuranceItemQuery]) -> Split:  # pragma: no cover
        """The split the platform would settle now (nothing recorded)."""
        ...

    def settle(
        self, bill_ref: str, insured_id: str, items: list[InsuranceItemQuery]
    ) -> Settlement:  # pragma: no cover
        """Settle our bill ``bill_ref`` (the same ref answers the same settlement)."""
        ...

    def cancel_settlement(self, bill_ref: str) -> Settlement:  # pragma: no cover
        """Reverse the settlement of ``bill_ref`` (reversing twice is the same as once)."""
        ...
