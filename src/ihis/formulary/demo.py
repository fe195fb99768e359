"""The demo formulary: common chronic-disease drugs, three TCM decoction pieces, three controlled
drugs (so the never-online block can be seen), the hospital pharmacy and one sandbox supplier.

Codes, ingredients and classes are the contract of the demo rule knowledge base
(``ihis.medication_rules``); do not rename them. Approval numbers, insurance codes and batches are
illustrative (format-valid, not real registrations); prices are typical retail prices in fen.
The seed publishes drugs directly — the ONLY place that bypasses change control — and records a
revision saying so.
"""

# ruff: noqa: E501 - the demo table keeps each drug on two readable lines
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import DrugFields
from ihis.formulary.models import Drug, DrugStock, Pharmacy
from ihis.formulary.proposals import publish_directly
from ihis.integrations.supplier.client import DEV_APP_ID
from ihis.integrations.supplier.sandbox import seed_supplier_stock
from ihis.platform.clock import utcnow

HOSPITAL_PHARMACY = ("HOSP", "院内药房")
SUPPLIER_PHARMACY = ("SUP-SANDBOX", "合作药店（沙箱）")
DEMO_NOTE = "demo seed"
HOSPITAL_STOCK = 200
OUT_OF_STOCK = frozenset({"D016"})  # digoxin: shows "out of stock blocks the line" (TCM 8.2.6.4)
SUPPLIER_STOCK = {"D001": 50, "D003": 40, "D008": 60, "D011": 30}


@dataclass(frozen=True)
class DemoDrug:
    code: str
    name: str
    trade: str | None
    form: str
    strength: str
    dose_unit: str
    unit_amount: str
    dispense_unit: str
    pack: int
    package: str
    maker: str
    price_fen: int
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    atc: str  # feeds the illustrative insurance code
    indication: str
    route: str = "po"
    kind: str = "western"
    control: str = "none"
    high_alert: bool = False
    monitoring: tuple[str, ...] = ()


_W = DemoDrug
DRUGS: tuple[DemoDrug, ...] = (
    _W("D001", "苯磺酸氨氯地平片", "络活喜", "片剂", "5mg", "mg", "5", "片", 7, "盒", "辉瑞制药有限公司", 3350,
       ("amlodipine",), ("ccb",), "C08CA01", "高血压；慢性稳定型心绞痛"),
    _W("D002", "硝苯地平控释片", "拜新同", "控释片", "30mg", "mg", "30", "片", 7, "盒", "拜耳医药保健有限公司", 3290,
       ("nifedipine",), ("ccb",), "C08CA05", "高血压；冠心病慢性稳定型心绞痛"),
    _W("D003", "厄贝沙坦片", "安博维", "片剂", "150mg", "mg", "150", "片", 7, "盒", "赛诺菲（杭州）制药有限公司",
       2850, ("irbesartan",), ("arb",), "C09CA04", "原发性高血压；合并高血压的2型糖尿病肾病"),
    _W("D004", "缬沙坦胶囊", "代文", "胶囊", "80mg", "mg", "80", "粒", 7, "盒", "北京诺华制药有限公司", 2990,
       ("valsartan",), ("arb",), "C09CA03", "轻、中度原发性高血压"),
    _W("D005", "马来酸依那普利片", "悦宁定", "片剂", "10mg", "mg", "10", "片", 16, "盒", "扬子江药业集团有限公司",
       1250, ("enalapril",), ("acei",), "C09AA02", "原发性高血压；肾血管性高血压；心力衰竭"),
    _W("D006", "氢氯噻嗪片", None, "片剂", "25mg", "mg", "25", "片", 100, "瓶", "天津力生制药股份有限公司", 350,
       ("hydrochlorothiazide",), ("thiazide", "sulfonamide"), "C03AA03", "水肿性疾病；高血压"),
    _W("D007", "琥珀酸美托洛尔缓释片", "倍他乐克", "缓释片", "47.5mg", "mg", "47.5", "片", 7, "盒",
       "阿斯利康制药有限公司", 2180, ("metoprolol",), ("beta_blocker",), "C07AB02", "高血压；心绞痛；心力衰竭"),
    _W("D008", "盐酸二甲双胍片", "格华止", "片剂", "500mg", "mg", "500", "片", 20, "盒",
       "中美上海施贵宝制药有限公司", 1620, ("metformin",), ("biguanide",), "A10BA02", "2型糖尿病"),
    _W("D009", "格列美脲片", "亚莫利", "片剂", "2mg", "mg", "2", "片", 15, "盒", "赛诺菲（北京）制药有限公司", 4550,
       ("glimepiride",), ("sulfonylurea", "sulfonamide"), "A10BB12", "饮食控制不佳的2型糖尿病"),
    _W("D010", "阿卡波糖片", "拜唐苹", "片剂", "50mg", "mg", "50", "片", 30, "盒", "拜耳医药保健有限公司", 4960,
       ("acarbose",), ("alpha_glucosidase_inhibitor",), "A10BF01", "2型糖尿病；降低糖耐量减低者的餐后血糖"),
    _W("D011", "阿托伐他汀钙片", "立普妥", "片剂", "20mg", "mg", "20", "片", 7, "盒", "辉瑞制药有限公司", 5410,
       ("atorvastatin",), ("statin",), "C10AA05", "高胆固醇血症；冠心病"),
    _W("D012", "瑞舒伐他汀钙片", "可定", "片剂", "10mg", "mg", "10", "片", 7, "盒", "阿斯利康制药有限公司", 4600,
       ("rosuvastatin",), ("statin",), "C10AA07", "原发性高胆固醇血症；混合型血脂异常"),
    _W("D013", "阿司匹林肠溶片", "拜阿司匹灵", "肠溶片", "100mg", "mg", "100", "片", 30, "盒",
       "拜耳医药保健有限公司", 1550, ("aspirin",), ("antiplatelet", "nsaid"), "B01AC06", "抑制血小板聚集，心脑血管事件二级预防"),
    _W("D014", "硫酸氢氯吡格雷片", "波立维", "片剂", "75mg", "mg", "75", "片", 7, "盒", "赛诺菲（杭州）制药有限公司",
       11900, ("clopidogrel",), ("antiplatelet",), "B01AC04", "动脉粥样硬化血栓形成事件的预防"),
    _W("D015", "华法林钠片", None, "片剂", "2.5mg", "mg", "2.5", "片", 60, "瓶", "上海信谊药厂有限公司", 1580,
       ("warfarin",), ("anticoagulant",), "B01AA03", "血栓栓塞性疾病的预防和治疗", high_alert=True,
       monitoring=("inr",)),
    _W("D016", "地高辛片", None, "片剂", "0.25mg", "mg", "0.25", "片", 100, "瓶", "上海信谊药厂有限公司", 850,
       ("digoxin",), ("cardiac_glycoside",), "C01AA05", "慢性心功能不全；室上性心动过速", high_alert=True,
       monitoring=("drug_level",)),
    _W("D017", "阿莫西林胶囊", "阿莫仙", "胶囊", "250mg", "mg", "250", "粒", 24, "盒", "珠海联邦制药股份有限公司",
       1090, ("amoxicillin",), ("penicillin", "beta_lactam"), "J01CA04", "敏感菌所致的呼吸道、泌尿道等感染"),
    _W("D018", "头孢呋辛酯片", "西力欣", "片剂", "250mg", "mg", "250", "片", 12, "盒",
       "葛兰素史克制药（重庆）有限公司", 3250, ("cefuroxime",), ("cephalosporin", "beta_lactam"), "J01DC02",
       "敏感菌所致的呼吸道、泌尿道、皮肤软组织感染"),
    _W("D019", "奥美拉唑肠溶胶囊", None, "肠溶胶囊", "20mg", "mg", "20", "粒", 14, "盒", "常州四药制药有限公司",
       1850, ("omeprazole",), ("ppi",), "A02BC01", "胃溃疡、十二指肠溃疡、反流性食管炎"),
    _W("D020", "布洛芬缓释胶囊", "芬必得", "缓释胶囊", "300mg", "mg", "300", "粒", 20, "盒",
       "中美天津史克制药有限公司", 1890, ("ibuprofen",), ("nsaid",), "M01AE01", "轻至中度疼痛；发热"),
    _W("D021", "门冬胰岛素注射液", "诺和锐", "注射液", "300IU/3ml", "IU", "300", "支", 1, "支",
       "诺和诺德（中国）制药有限公司", 7800, ("insulin_aspart",), ("insulin",), "A10AB05", "糖尿病",
       route="sc", high_alert=True, monitoring=("blood_glucose",)),
    _W("D022", "左甲状腺素钠片", "优甲乐", "片剂", "50μg", "μg", "50", "片", 100, "盒", "默克制药（江苏）有限公司",
       2950, ("levothyroxine",), ("thyroid_hormone",), "H03AA01", "甲状腺功能减退症的替代治疗"),
    _W("D023", "布洛芬混悬液", "美林", "口服混悬液", "100ml:2g", "mg", "20", "ml", 100, "瓶", "上海强生制药有限公司",
       2450, ("ibuprofen",), ("nsaid",), "M01AE01", "儿童普通感冒或流感引起的发热；轻至中度疼痛"),
    _W("D024", "阿莫西林颗粒", None, "颗粒剂", "125mg", "mg", "125", "袋", 12, "盒", "珠海联邦制药股份有限公司",
       1260, ("amoxicillin",), ("penicillin", "beta_lactam"), "J01CA04", "儿童敏感菌所致的感染"),
    _W("D025", "复方丹参滴丸", None, "滴丸", "27mg", "mg", "27", "丸", 180, "瓶", "天士力医药集团股份有限公司", 2650,
       ("compound_danshen",), ("tcm_blood_activating",), "C01EB00", "气滞血瘀所致的胸痹；冠心病心绞痛",
       kind="patent"),
    _W("H001", "黄芪", None, "饮片", "净制切片", "g", "1", "g", 1, "g", "安徽协和成药业饮片有限公司", 12,
       ("astragalus",), ("tcm_qi_tonic",), "HQ00001", "补气升阳，益卫固表", route="decoction", kind="herbal"),
    _W("H002", "当归", None, "饮片", "净制切片", "g", "1", "g", 1, "g", "安徽协和成药业饮片有限公司", 25,
       ("angelica",), ("tcm_blood_tonic",), "DG00001", "补血活血，调经止痛", route="decoction", kind="herbal"),
    _W("H003", "丹参", None, "饮片", "净制切片", "g", "1", "g", 1, "g", "安徽协和成药业饮片有限公司", 10,
       ("salvia",), ("tcm_blood_activating",), "DS00001", "活血祛瘀，通经止痛", route="decoction", kind="herbal"),
    _W("C001", "吗啡缓释片", "美施康定", "缓释片", "30mg", "mg", "30", "片", 10, "盒", "萌蒂（中国）制药有限公司", 4260,
       ("morphine",), ("opioid",), "N02AA01", "重度癌痛", control="narcotic", high_alert=True),
    _W("C002", "地西泮片", None, "片剂", "2.5mg", "mg", "2.5", "片", 100, "瓶", "北京益民药业有限公司", 620,
       ("diazepam",), ("benzodiazepine",), "N05BA01", "焦虑；失眠；癫痫辅助治疗", control="psychotropic_2"),
    _W("C003", "三唑仑片", None, "片剂", "0.25mg", "mg", "0.25", "片", 20, "盒", "江苏恩华药业股份有限公司", 880,
       ("triazolam",), ("benzodiazepine",), "N05CD05", "失眠", control="psychotropic_1"),
)  # fmt: skip


def demo_fields(drug: DemoDrug, number: int) -> DrugFields:
    """The catalogue fields of one demo drug (illustrative registration data, see the docstring)."""
    prefix = {"western": "X", "patent": "Z", "herbal": "T"}[drug.kind]
    letter = {"western": "H", "patent": "Z"}.get(drug.kind)
    return DrugFields(
        code=drug.code,
        generic_name=drug.name,
        trade_name=drug.trade,
        kind=drug.kind,
        form=drug.form,
        strength=drug.strength,
        dose_unit=drug.dose_unit,
        unit_amount=Decimal(drug.unit_amount),
        dispense_unit=drug.dispense_unit,
        pack_size=drug.pack,
        package_unit=drug.package,
        approval_number=f"国药准字{letter}2003{number:04d}" if letter else None,
        manufacturer=drug.maker,
        batch=f"B2509{number:03d}",
        expiry=dt.date(2027, 12, 31),
        price_fen=drug.price_fen,
        insurance_code=f"{prefix}{drug.atc}{number:015d}",
        control_class=drug.control,
        high_alert=drug.high_alert,
        monitoring=list(drug.monitoring),
        ingredients=list(drug.ingredients),
        classes=list(drug.classes),
        routes=[drug.route],
        instructions=f"【适应症】{drug.indication}。【用法用量】遵医嘱。",
        online=drug.control == "none",
    )


def _pharmacy(db: Session, institution_id: int, code: str, name: str, kind: str) -> Pharmacy:
    pharmacy = db.scalar(
        select(Pharmacy).where(Pharmacy.institution_id == institution_id, Pharmacy.code == code)
    )
    if pharmacy is None:
        pharmacy = Pharmacy(
            institution_id=institution_id,
            code=code,
            name=name,
            kind=kind,
            supplier_adapter="sandbox" if kind == "supplier" else None,
            active=True,
        )
        db.add(pharmacy)
        db.flush()
    return pharmacy


def _stock(db: Session, institution_id: int, pharmacy: Pharmacy, drug: Drug, on_hand: int) -> None:
    exists = db.scalar(
        select(DrugStock.id).where(DrugStock.pharmacy_id == pharmacy.id, DrugStock.drug_id == drug.id)
    )
    if exists is None:
        db.add(
            DrugStock(
                institution_id=institution_id,
                pharmacy_id=pharmacy.id,
                drug_id=drug.id,
                on_hand=on_hand,
                reserved=0,
                updated_at=utcnow(),
            )
        )


def seed_demo_formulary(
    db: Session, institution_id: int, *, supplier_app_id: str = DEV_APP_ID
) -> dict[str, int]:
    """Seed the demo pharmacies, catalogue and stock (idempotent); returns drug ids by code."""
    hospital = _pharmacy(db, institution_id, *HOSPITAL_PHARMACY, "hospital")
    supplier = _pharmacy(db, institution_id, *SUPPLIER_PHARMACY, "supplier")
    existing = {d.code: d for d in db.scalars(select(Drug).where(Drug.institution_id == institution_id))}
    ids: dict[str, int] = {}
    for number, item in enumerate(DRUGS, start=1):
        drug = existing.get(item.code)
        if drug is None:
            drug = publish_directly(db, institution_id, demo_fields(item, number), DEMO_NOTE)
        ids[item.code] = drug.id
        _stock(db, institution_id, hospital, drug, 0 if item.code in OUT_OF_STOCK else HOSPITAL_STOCK)
        if item.code in SUPPLIER_STOCK:
            _stock(db, institution_id, supplier, drug, SUPPLIER_STOCK[item.code])
    db.flush()
    seed_supplier_stock(db, supplier_app_id, SUPPLIER_STOCK)
    return ids
