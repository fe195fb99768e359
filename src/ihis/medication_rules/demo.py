"""The demo knowledge base, covering the demo formulary (its ingredient and class codes).

Dose maxima come from the Chinese package inserts (说明书) named in each row's ``source``;
paediatric rows where the label doses by weight are the label's mg/kg maximum times the upper
weight of the age band (WHO / 中国儿童生长标准, about P97), so they warn rather than block. The
values are a plausible starting point for a hospital's pharmacy and therapeutics committee, who
own the knowledge base and must confirm them before production use.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from ihis.medication_rules.service import Writer, current_version, replace_all

ADULT: Final = 18 * 12  # months
ELDERLY: Final = 65 * 12


def _pair(kind: str, a: str, b: str, severity: str, zh: str, en: str) -> tuple[str, dict[str, Any]]:
    return (kind, {"a": a, "b": b, "severity": severity, "note_zh": zh, "note_en": en})


def _indication(code: str, *icd10: str) -> tuple[str, dict[str, Any]]:
    return ("indication", {"code": code, "icd10": list(icd10)})


DAY_LIMITS: Final[list[tuple[str, dict[str, Any]]]] = [
    # DOMAIN §5 RULES defaults.
    ("day_limit", {"scope": "acute", "days": 3}),
    ("day_limit", {"scope": "ordinary", "days": 7}),
    ("day_limit", {"scope": "limited_mobility", "days": 14}),
    ("day_limit", {"scope": "chronic_disease", "days": 30}),
]

CHRONIC_DISEASES: Final[list[tuple[str, dict[str, Any]]]] = [
    # RULES: listed stable chronic diseases eligible for a one-month prescription.
    ("chronic_disease", {"icd10": icd, "name_zh": zh, "name_en": en})
    for icd, zh, en in (
        ("I10-I15", "高血压", "hypertension"),
        ("E10-E14", "糖尿病", "diabetes mellitus"),
        ("I20-I25", "冠心病", "coronary heart disease"),
        ("B18", "慢性病毒性肝炎", "chronic viral hepatitis"),
        ("K74", "肝硬化", "cirrhosis"),
        ("A15-A19", "结核病", "tuberculosis"),
        ("C00-C97", "恶性肿瘤", "cancer"),
        ("I60-I69", "脑血管病", "cerebrovascular disease"),
        ("N40", "前列腺增生", "prostatic hyperplasia"),
    )
]

BANNED: Final[list[tuple[str, dict[str, Any]]]] = [
    (
        "banned_class",
        {
            "code": "opioid",
            "reason_zh": "本院互联网医院不开具阿片类药物",
            "reason_en": "the hospital does not prescribe opioids online",
        },
    ),
    (
        "banned_class",
        {
            "code": "benzodiazepine",
            "reason_zh": "本院互联网医院不开具苯二氮䓬类药物",
            "reason_en": "the hospital does not prescribe benzodiazepines online",
        },
    ),
]

# fmt: off
_DOSES: Final = (
    # (ingredient, unit, min age months, max age months (excl.), max single, max daily, severity, source)
    ("amlodipine", "mg", ADULT, None, "10", "10", "block",
     "苯磺酸氨氯地平片说明书：最大剂量 10 mg 每日一次"),
    ("nifedipine", "mg", ADULT, None, None, "120", "block",
     "硝苯地平片/控释片说明书：每日最大剂量不超过 120 mg"),
    ("irbesartan", "mg", ADULT, None, "300", "300", "block",
     "厄贝沙坦片说明书：150 mg 每日一次，可增至 300 mg"),
    ("valsartan", "mg", ADULT, None, "320", "320", "block",
     "缬沙坦说明书（Diovan）：高血压 80–320 mg 每日一次"),
    ("enalapril", "mg", ADULT, None, "40", "40", "block",
     "马来酸依那普利片说明书：每日最大剂量 40 mg"),
    ("hydrochlorothiazide", "mg", ADULT, None, None, "100", "block",
     "氢氯噻嗪片说明书：高血压每日 25–100 mg"),
    # The demo formulary holds the succinate (缓释) tablets; a tartrate product would need its own row.
    ("metoprolol", "mg", ADULT, None, None, "190", "block",
     "琥珀酸美托洛尔缓释片说明书：每日最大 190 mg"),
    ("metformin", "mg", ADULT, None, "1000", "2550", "block",
     "盐酸二甲双胍片说明书（格华止）：成人每日最大 2550 mg"),
    ("metformin", "mg", 120, ADULT, "1000", "2000", "block",
     "盐酸二甲双胍片说明书（格华止）：10–16 岁每日最大 2000 mg"),
    ("glimepiride", "mg", ADULT, None, "6", "6", "block",
     "格列美脲片中国说明书（亚莫利）：每日最大 6 mg"),
    ("acarbose", "mg", ADULT, None, "200", "600", "block",
     "阿卡波糖片说明书（拜唐苹）：每次最多 200 mg，每日三次"),
    ("atorvastatin", "mg", ADULT, None, "80", "80", "block",
     "阿托伐他汀钙片说明书（立普妥）：10–80 mg 每日一次"),
    ("rosuvastatin", "mg", ADULT, None, "20", "20", "block",
     "瑞舒伐他汀钙片中国说明书（可定）：每日最大 20 mg"),
    ("aspirin", "mg", ADULT, None, None, "300", "warn",
     "阿司匹林肠溶片说明书（拜阿司匹灵）：抗血小板 100–300 mg/日"),
    ("clopidogrel", "mg", ADULT, None, "300", "300", "block",
     "硫酸氢氯吡格雷片说明书（波立维）：75 mg/日，负荷量 300 mg"),
    ("warfarin", "mg", ADULT, None, "10", "10", "warn",
     "华法林钠片说明书：按 INR 个体化，日剂量 >10 mg 罕见，须核对"),
    ("digoxin", "mg", ADULT, None, None, "0.5", "block",
     "地高辛片说明书：成人维持量 0.125–0.5 mg 每日一次"),
    ("digoxin", "mg", ELDERLY, None, None, "0.25", "warn",
     "地高辛片说明书：老年人肾功能减退，宜 ≤0.25 mg/日"),
    ("amoxicillin", "mg", 144, None, "1000", "4000", "block",
     "阿莫西林胶囊说明书：成人一次 0.5–1 g，一日不超过 4 g"),
    # 阿莫西林说明书: children 20–40 mg/kg a day -> 40 mg/kg x the band's upper weight.
    ("amoxicillin", "mg", 1, 12, None, "400", "warn",
     "阿莫西林说明书：小儿一日 ≤40 mg/kg（≤10 kg）"),
    ("amoxicillin", "mg", 12, 36, None, "600", "warn",
     "阿莫西林说明书：小儿一日 ≤40 mg/kg（≤15 kg）"),
    ("amoxicillin", "mg", 36, 72, None, "900", "warn",
     "阿莫西林说明书：小儿一日 ≤40 mg/kg（≤22 kg）"),
    ("amoxicillin", "mg", 72, 144, None, "1600", "warn",
     "阿莫西林说明书：小儿一日 ≤40 mg/kg（≤40 kg）"),
    ("cefuroxime", "mg", 144, None, "500", "1000", "block",
     "头孢呋辛酯片说明书：成人一次 250–500 mg，一日两次"),
    ("cefuroxime", "mg", 24, 144, "250", "500", "warn",
     "头孢呋辛酯片说明书：2 岁以上儿童一次 250 mg，一日两次"),
    # Zollinger-Ellison syndrome needs more, hence only a warning.
    ("omeprazole", "mg", ADULT, None, "40", "80", "warn",
     "奥美拉唑肠溶胶囊说明书：20–40 mg/日"),
    ("ibuprofen", "mg", 144, None, "800", "2400", "block",
     "布洛芬片说明书：成人及 12 岁以上一次 ≤800 mg，一日 ≤2.4 g"),
    # 布洛芬混悬液说明书（美林）: 6 months–12 years 5–10 mg/kg a dose, at most 4 doses a day.
    ("ibuprofen", "mg", 6, 12, "100", "400", "warn",
     "布洛芬混悬液说明书：一次 ≤10 mg/kg（≤10 kg）"),
    ("ibuprofen", "mg", 12, 48, "150", "600", "warn",
     "布洛芬混悬液说明书：1–3 岁（10–15 kg）"),
    ("ibuprofen", "mg", 48, 84, "210", "840", "warn",
     "布洛芬混悬液说明书：4–6 岁（16–21 kg）"),
    ("ibuprofen", "mg", 84, 120, "270", "1080", "warn",
     "布洛芬混悬液说明书：7–9 岁（22–27 kg）"),
    ("ibuprofen", "mg", 120, 144, "320", "1280", "warn",
     "布洛芬混悬液说明书：10–11 岁（28–32 kg）"),
    ("levothyroxine", "μg", ADULT, None, None, "200", "warn",
     "左甲状腺素钠片说明书（优甲乐）：维持量 100–200 μg/日"),
    # 《中国药典》2020 年版一部: daily amounts of decoction pieces (one dose = one 剂 a day).
    ("astragalus", "g", 0, None, "30", None, "warn",
     "《中国药典》2020 一部 黄芪：9–30 g"),
    ("angelica", "g", 0, None, "12", None, "warn",
     "《中国药典》2020 一部 当归：6–12 g"),
    ("salvia", "g", 0, None, "15", None, "warn",
     "《中国药典》2020 一部 丹参：10–15 g"),
)
# fmt: on
DOSE_RANGES: Final[list[tuple[str, dict[str, Any]]]] = [
    (
        "dose_range",
        {
            "ingredient": ingredient,
            "unit": unit,
            "min_age_months": low,
            "max_age_months": high,
            "max_single": single,
            "max_daily": daily,
            "severity": severity,
            "source": source,
        },
    )
    for ingredient, unit, low, high, single, daily, severity, source in _DOSES
]

AGE_RULES: Final[list[tuple[str, dict[str, Any]]]] = [
    ("age_rule", {"code": c, "group": g, "age_years": y, "severity": s, "note_zh": zh, "note_en": en})
    for c, g, y, s, zh, en in (
        (
            "aspirin",
            "child",
            16,
            "warn",
            "慎用：可能引起瑞氏综合征",
            "use with caution: risk of Reye's syndrome",
        ),
        ("metformin", "child", 10, "warn", "不推荐使用（说明书）", "not recommended (label)"),
        ("glimepiride", "child", 18, "warn", "不推荐使用（说明书）", "not recommended (label)"),
        ("statin", "child", 10, "warn", "儿童用药安全性尚未确立", "safety in children not established"),
        (
            "digoxin",
            "elderly",
            65,
            "warn",
            "肾功能减退易蓄积中毒，宜减量并监测血药浓度",
            "reduced renal clearance: lower the dose and monitor levels",
        ),
        (
            "glimepiride",
            "elderly",
            65,
            "warn",
            "长效磺脲类低血糖风险高（Beers 标准）",
            "long-acting sulfonylurea: high hypoglycaemia risk (Beers criteria)",
        ),
        (
            "ibuprofen",
            "elderly",
            65,
            "warn",
            "长期使用增加消化道出血及肾损害风险（Beers 标准）",
            "chronic use raises GI bleeding and renal risk (Beers criteria)",
        ),
    )
]

INTERACTIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    _pair(
        "interaction",
        "anticoagulant",
        "antiplatelet",
        "warn",
        "合用增加出血风险，需监测 INR 及出血征象",
        "bleeding risk: monitor INR and signs of bleeding",
    ),
    _pair(
        "interaction",
        "anticoagulant",
        "nsaid",
        "warn",
        "非甾体抗炎药增加华法林出血风险",
        "NSAIDs increase the bleeding risk of warfarin",
    ),
    _pair(
        "interaction",
        "clopidogrel",
        "omeprazole",
        "warn",
        "奥美拉唑抑制 CYP2C19，降低氯吡格雷抗血小板作用，宜换用泮托拉唑",
        "omeprazole inhibits CYP2C19 and weakens clopidogrel; prefer pantoprazole",
    ),
    _pair(
        "interaction",
        "acei",
        "arb",
        "block",
        "ACEI 与 ARB 双重阻断 RAS，增加高钾、低血压及肾损害风险",
        "dual RAS blockade: hyperkalaemia, hypotension and renal failure (ONTARGET)",
    ),
    _pair(
        "interaction",
        "cardiac_glycoside",
        "thiazide",
        "warn",
        "噻嗪类致低钾，增加地高辛中毒风险，需监测血钾",
        "thiazide hypokalaemia raises digoxin toxicity: monitor potassium",
    ),
    _pair(
        "interaction",
        "sulfonylurea",
        "insulin",
        "warn",
        "合用增加低血糖风险，需调整剂量并监测血糖",
        "hypoglycaemia risk: adjust doses and monitor glucose",
    ),
    _pair(
        "interaction",
        "tcm_blood_activating",
        "anticoagulant",
        "warn",
        "丹参等活血化瘀药增强华法林抗凝作用，增加出血风险",
        "danshen (salvia) potentiates warfarin: bleeding risk",
    ),
    _pair(
        "interaction",
        "aspirin",
        "ibuprofen",
        "warn",
        "布洛芬可干扰阿司匹林的抗血小板作用",
        "ibuprofen interferes with aspirin's antiplatelet effect",
    ),
]

CROSS_SENSITIVITIES: Final[list[tuple[str, dict[str, Any]]]] = [
    _pair(
        "cross_sensitivity",
        "penicillin",
        "cephalosporin",
        "warn",
        "青霉素类与头孢菌素类可能交叉过敏，慎用并密切观察",
        "penicillins and cephalosporins may cross-react: use with caution",
    ),
]

DUPLICATE_GROUPS: Final[list[tuple[str, dict[str, Any]]]] = [
    ("duplicate_group", {"name": n, "codes": [n], "severity": "warn", "name_zh": zh, "name_en": en})
    for n, zh, en in (
        ("ccb", "钙通道阻滞剂", "calcium channel blockers"),
        ("arb", "血管紧张素 II 受体拮抗剂", "angiotensin II receptor blockers"),
        ("acei", "血管紧张素转换酶抑制剂", "ACE inhibitors"),
        ("beta_blocker", "β 受体阻滞剂", "beta blockers"),
        ("statin", "他汀类", "statins"),
        ("nsaid", "非甾体抗炎药", "NSAIDs"),
        ("ppi", "质子泵抑制剂", "proton pump inhibitors"),
        ("sulfonylurea", "磺脲类", "sulfonylureas"),
        ("anticoagulant", "抗凝药", "anticoagulants"),
    )
]

PREGNANCY_RULES: Final[list[tuple[str, dict[str, Any]]]] = [
    ("pregnancy_rule", {"code": c, "condition": k, "severity": s, "note_zh": zh, "note_en": en})
    for c, k, s, zh, en in (
        (
            "anticoagulant",
            "pregnancy",
            "block",
            "禁用：香豆素类可致胚胎病",
            "contraindicated: coumarin embryopathy",
        ),
        ("statin", "pregnancy", "block", "禁用（说明书）", "contraindicated (label)"),
        ("statin", "lactation", "block", "禁用（说明书）", "contraindicated (label)"),
        ("acei", "pregnancy", "block", "禁用：胎儿毒性", "contraindicated: fetotoxicity"),
        ("arb", "pregnancy", "block", "禁用：胎儿毒性", "contraindicated: fetotoxicity"),
        (
            "sulfonylurea",
            "pregnancy",
            "block",
            "禁用，妊娠期血糖宜用胰岛素控制",
            "contraindicated: use insulin in pregnancy",
        ),
        ("nsaid", "pregnancy", "warn", "妊娠晚期禁用，早中期慎用", "avoid in the third trimester"),
        (
            "tcm_blood_activating",
            "pregnancy",
            "warn",
            "活血化瘀药孕妇慎用",
            "blood-activating herbs: caution in pregnancy",
        ),
    )
]

_INFECTIONS: Final = ("A00-B99", "J00-J22", "J40-J44", "H65-H66", "L00-L08", "N30", "N34", "N39", "K05")
INDICATIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    _indication("ccb", "I10-I15", "I20-I25"),
    _indication("arb", "I10-I15", "I50", "E11.2", "N18"),
    _indication("acei", "I10-I15", "I20-I25", "I50"),
    _indication("thiazide", "I10-I15", "I50", "R60"),
    _indication("beta_blocker", "I10-I15", "I20-I25", "I47-I49", "I50"),
    _indication("biguanide", "E10-E14"),
    _indication("sulfonylurea", "E10-E14"),
    _indication("alpha_glucosidase_inhibitor", "E10-E14", "R73"),
    _indication("insulin", "E10-E14", "O24"),
    _indication("statin", "E78", "I20-I25", "I63", "I70", "E10-E14"),
    _indication("antiplatelet", "I20-I25", "I63", "I65-I66", "I70", "Z95"),
    _indication("anticoagulant", "I48", "I26", "I80-I82", "I05-I09", "Z95"),
    _indication("cardiac_glycoside", "I50", "I48"),
    _indication("penicillin", *_INFECTIONS, "K25-K29"),
    _indication("cephalosporin", *_INFECTIONS),
    _indication("ppi", "K20-K31"),
    _indication("nsaid", "M00-M99", "R50-R52", "G43-G44", "N94", "J00-J06"),
    _indication("thyroid_hormone", "E00-E07", "E89", "C73"),
    _indication("compound_danshen", "I20-I25", "I63", "I67"),
]

Entry = tuple[str, dict[str, Any]]
DEMO_ENTRIES: Final[list[Entry]] = [
    *DAY_LIMITS,
    *CHRONIC_DISEASES,
    *BANNED,
    *DOSE_RANGES,
    *AGE_RULES,
    *INTERACTIONS,
    *CROSS_SENSITIVITIES,
    *DUPLICATE_GROUPS,
    *PREGNANCY_RULES,
    *INDICATIONS,
]


def seed_demo_knowledge(db: Session, institution_id: int) -> int:
    """Load the demo knowledge base into an institution whose knowledge base is still empty; returns
    the entries created (0 when it already has a version: a re-run, or a hospital's own edits)."""
    if current_version(db, institution_id) > 0:
        return 0
    replace_all(db, institution_id, Writer(None, "demo"), DEMO_ENTRIES, action="seed", field="demo")
    return len(DEMO_ENTRIES)
