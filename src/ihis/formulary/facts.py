"""What the rest of IHIS needs to know about a drug, as plain values (no ORM rows cross domains).

The prescribing domain and the medication-rule engine work on ``DrugFacts``; the formulary builds
them from its catalogue (``formulary.service.drug_facts``). Codes are stable lower-case identifiers:

- ``ingredients``: active ingredients (``amlodipine``, ``insulin_aspart``);
- ``classes``: pharmacological / allergy classes the knowledge base speaks of (``ccb``, ``arb``,
  ``statin``, ``penicillin``, ``nsaid``);
- ``control_class``: ``CONTROL_CLASSES`` (DOMAIN §5; 《处方管理办法》), ``none`` for ordinary drugs;
- ``routes``: ``ROUTES`` codes the drug may be given by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

DrugKind = Literal["western", "patent", "herbal"]  # 西药 / 中成药 / 中药饮片

# Never prescribed online (DOMAIN §5, fixed): narcotic, psychotropic I and II, toxic for medical use,
# radioactive, precursor chemicals; nor vaccines or blood products.
NEVER_ONLINE: Final = frozenset(
    {
        "narcotic",
        "psychotropic_1",
        "psychotropic_2",
        "toxic",
        "radioactive",
        "precursor",
        "vaccine",
        "blood_product",
    }
)
CONTROL_CLASSES: Final = frozenset({"none"}) | NEVER_ONLINE
CONTROL_CLASS_NAMES: Final = {
    "none": ("普通药品", "Ordinary"),
    "narcotic": ("麻醉药品", "Narcotic"),
    "psychotropic_1": ("第一类精神药品", "Psychotropic class I"),
    "psychotropic_2": ("第二类精神药品", "Psychotropic class II"),
    "toxic": ("医疗用毒性药品", "Toxic drug for medical use"),
    "radioactive": ("放射性药品", "Radioactive drug"),
    "precursor": ("药品类易制毒化学品", "Precursor chemical"),
    "vaccine": ("疫苗", "Vaccine"),
    "blood_product": ("血液制品", "Blood product"),
}
# Retention of prescriptions by control class, years (处方管理办法 第五十条).
RETENTION_YEARS: Final = {"none": 1, "toxic": 2, "psychotropic_2": 2, "narcotic": 3, "psychotropic_1": 3}
ROUTES: Final = {
    "po": ("口服", "Oral"),
    "sl": ("舌下含服", "Sublingual"),
    "sc": ("皮下注射", "Subcutaneous"),
    "im": ("肌内注射", "Intramuscular"),
    "iv": ("静脉注射", "Intravenous"),
    "inh": ("吸入", "Inhalation"),
    "topical": ("外用", "Topical"),
    "decoction": ("煎服", "Decoction"),
}


@dataclass(frozen=True)
class DrugFacts:
    """One catalogue drug as prescribing and the rule engine see it."""

    id: int
    code: str
    generic_name: str
    trade_name: str | None
    kind: DrugKind
    form: str  # dosage form: 片剂, 胶囊, 注射液, 饮片 ...
    strength: str  # as printed: "5mg", "0.25g", "300单位/3ml"
    dose_unit: str  # unit of one dose: mg, g, ml, IU, μg
    unit_amount: Decimal  # dose_unit per dispensing unit (5 for a 5 mg tablet)
    dispense_unit: str  # 片, 粒, 支, g
    pack_size: int  # dispensing units per package (28 tablets)
    package_unit: str  # 盒, 瓶, 支, g
    price_fen: int  # per package
    control_class: str = "none"
    high_alert: bool = False
    monitoring: frozenset[str] = field(default_factory=frozenset)
    ingredients: frozenset[str] = field(default_factory=frozenset)
    classes: frozenset[str] = field(default_factory=frozenset)
    routes: frozenset[str] = field(default_factory=frozenset)
    insurance_code: str | None = None
    online: bool = True  # in the online formulary (never for NEVER_ONLINE classes)

    @property
    def never_online(self) -> bool:
        return self.control_class in NEVER_ONLINE
