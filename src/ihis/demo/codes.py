"""The demo's diagnosis code tables: a small subset of common chronic diseases (DOMAIN §9).

ICD-10 codes and names follow the national clinical edition 2.0 (国家临床版 2.0) and include the
codes the demo HIS records use (``his_records.py``: I10, I11, I25, E11, J45, K21, N40, L20).
The TCM codes are a handful of GB/T 15657-2021 style entries to exercise the TCM systems; they
are illustrative. A real installation imports the official tables (``ihis import icd10``,
docs/coding.md). Idempotent: rows are looked up by edition and code first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from ihis.coding import editions
from ihis.coding.keys import code_key, initials
from ihis.coding.models import CodeSystem, DiagnosisCode
from ihis.demo import data
from ihis.tenancy.models import Institution

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ihis.demo.loader import DemoLoad

# (code, name, parent)
ICD10: tuple[tuple[str, str, str | None], ...] = (
    ("I10", "特发性（原发性）高血压", None),
    ("I10.x00x002", "原发性高血压", "I10"),
    ("I11", "高血压性心脏病", None),
    ("I11.900", "高血压性心脏病", "I11"),
    ("I20.900", "心绞痛", None),
    ("I25", "慢性缺血性心脏病", None),
    ("I25.900", "慢性缺血性心脏病", "I25"),
    ("I25.103", "冠状动脉粥样硬化性心脏病", "I25"),
    ("I25.200", "陈旧性心肌梗死", "I25"),
    ("I48.x00", "心房颤动和扑动", None),
    ("I50.900", "心力衰竭", None),
    ("I63.900", "脑梗死", None),
    ("I69.300", "脑梗死后遗症", None),
    ("E11", "2型糖尿病", None),
    ("E11.900", "2型糖尿病", "E11"),
    ("E11.200", "2型糖尿病性肾病", "E11"),
    ("E11.300", "2型糖尿病性视网膜病变", "E11"),
    ("E11.400", "2型糖尿病性周围神经病变", "E11"),
    ("E10.900", "1型糖尿病", None),
    ("E03.900", "甲状腺功能减退症", None),
    ("E05.900", "甲状腺功能亢进症", None),
    ("E66.900", "肥胖症", None),
    ("E78.500", "高脂血症", None),
    ("E79.000", "高尿酸血症", None),
    ("M10.900", "痛风", None),
    ("J45", "哮喘", None),
    ("J45.900", "支气管哮喘", "J45"),
    ("J44.900", "慢性阻塞性肺疾病", None),
    ("J44.100", "慢性阻塞性肺疾病伴有急性加重", None),
    ("J42.x00", "慢性支气管炎", None),
    ("J30.400", "变应性鼻炎", None),
    ("K21", "胃-食管反流病", None),
    ("K21.900", "胃食管反流病", "K21"),
    ("K21.000", "反流性食管炎", "K21"),
    ("K29.500", "慢性胃炎", None),
    ("K58.900", "肠易激综合征", None),
    ("K76.000", "脂肪肝", None),
    ("N18.900", "慢性肾脏病", None),
    ("N40", "前列腺增生", None),
    ("N40.x00", "前列腺增生", "N40"),
    ("L20", "特应性皮炎", None),
    ("L20.900", "特应性皮炎", "L20"),
    ("L40.000", "寻常型银屑病", None),
    ("L50.900", "荨麻疹", None),
    ("M06.900", "类风湿性关节炎", None),
    ("M17.900", "膝关节骨性关节炎", None),
    ("M81.900", "骨质疏松", None),
    ("F32.900", "抑郁发作", None),
    ("F41.100", "广泛性焦虑障碍", None),
    ("F51.000", "非器质性失眠症", None),
    ("G20.x00", "帕金森病", None),
    ("G40.900", "癫痫", None),
    ("D50.900", "缺铁性贫血", None),
)
TCM_DISEASES: tuple[tuple[str, str, str | None], ...] = (
    ("A17.01", "眩晕病", None),
    ("A06.09", "消渴病", None),
    ("A04.01.01", "胸痹心痛病", None),
    ("A03.04", "哮病", None),
    ("A03.01", "咳嗽病", None),
    ("A05.01", "胃脘痛病", None),
    ("A04.06", "不寐病", None),
    ("A08.04.01", "湿疮病", None),
    ("A07.03.02", "精癃病", None),
    ("A16.03", "腰痛病", None),
)
TCM_SYNDROMES: tuple[tuple[str, str, str | None], ...] = (
    ("B04.03.01.01", "肝阳上亢证", None),
    ("B02.02.07", "气阴两虚证", None),
    ("B03.04.05", "痰浊阻肺证", None),
    ("B04.01.03.02", "心血瘀阻证", None),
    ("B04.03.05.01", "肝胃不和证", None),
    ("B04.02.01", "脾胃虚弱证", None),
    ("B04.01.05.01", "心脾两虚证", None),
    ("B03.06.02", "湿热蕴结证", None),
)
DEMO_EDITIONS: tuple[tuple[CodeSystem, str, tuple[tuple[str, str, str | None], ...]], ...] = (
    (CodeSystem.ICD10, "ICD-10 国临版 2.0（演示子集）", ICD10),
    (CodeSystem.TCM_DISEASE, "GB/T 15657-2021 中医病名（演示子集）", TCM_DISEASES),
    (CodeSystem.TCM_SYNDROME, "GB/T 15657-2021 中医证候（演示子集）", TCM_SYNDROMES),
)


def load_codes(db: Session, load: DemoLoad) -> None:
    """Load the demo code subsets into the demo hospital; each becomes current if none is yet."""
    inst = db.scalar(select(Institution).where(Institution.code == data.INSTITUTION_CODE))
    assert inst is not None, "the demo institution is loaded before its code tables"
    for system, edition_name, rows in DEMO_EDITIONS:
        edition = editions.edition_for_import(db, inst.id, system, edition_name)
        present = set(
            db.scalars(select(DiagnosisCode.code_key).where(DiagnosisCode.edition_id == edition.id))
        )
        for code, name, parent in rows:
            if code_key(code) in present:
                continue
            db.add(
                DiagnosisCode(
                    institution_id=inst.id,
                    edition_id=edition.id,
                    code=code,
                    code_key=code_key(code),
                    name=name,
                    initials=initials(name),
                    parent_code=parent,
                    enabled=True,
                )
            )
            load.add("diagnosis_code")
        db.flush()
        if edition.code_count != len(rows):
            edition.code_count = len(rows)
            db.flush()
        if editions.current_edition(db, inst.id, system) is None:
            editions.set_current(db, inst.id, edition.id)
            load.add("code_edition_current")
