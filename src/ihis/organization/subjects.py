"""诊疗科目 — the diagnosis-and-treatment subjects of 《医疗机构诊疗科目名录》 (卫医发〔1994〕第27号).

A first-level subject has a two-digit code (``03`` 内科); its second-level subjects add a dotted
two-digit suffix (``03.01`` 呼吸内科专业). This is the common part of the list, used to validate
department codes and as the console's pick list; an institution may register a code that is not
listed here, in which case the department must carry the subject's name itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUBJECT_CODE_SHAPE = re.compile(r"^\d{2}(\.\d{2})?$")


@dataclass(frozen=True)
class Subject:
    code: str
    name: str

    @property
    def parent_code(self) -> str | None:
        return self.code.split(".")[0] if "." in self.code else None


def _group(code: str, name: str, children: tuple[str, ...]) -> tuple[Subject, ...]:
    second_level = (Subject(f"{code}.{i:02d}", child) for i, child in enumerate(children, 1))
    return (Subject(code, name), *second_level)


SUBJECTS: tuple[Subject, ...] = (
    Subject("01", "预防保健科"),
    Subject("02", "全科医疗科"),
    *_group(
        "03",
        "内科",
        (
            "呼吸内科专业",
            "消化内科专业",
            "神经内科专业",
            "心血管内科专业",
            "血液内科专业",
            "肾病学专业",
            "内分泌专业",
            "免疫学专业",
            "变态反应专业",
            "老年病专业",
            "其他",
        ),
    ),
    *_group(
        "04",
        "外科",
        (
            "普通外科专业",
            "神经外科专业",
            "骨科专业",
            "泌尿外科专业",
            "胸外科专业",
            "心脏大血管外科专业",
            "烧伤科专业",
            "整形外科专业",
            "其他",
        ),
    ),
    *_group(
        "05",
        "妇产科",
        ("妇科专业", "产科专业", "计划生育专业", "优生学专业", "生殖健康与不孕症专业", "其他"),
    ),
    Subject("06", "妇女保健科"),
    *_group(
        "07",
        "儿科",
        (
            "新生儿专业",
            "小儿传染病专业",
            "小儿消化专业",
            "小儿呼吸专业",
            "小儿心脏病专业",
            "小儿肾病专业",
            "小儿血液病专业",
            "小儿神经病学专业",
            "小儿内分泌专业",
            "小儿遗传病专业",
            "小儿免疫专业",
            "其他",
        ),
    ),
    Subject("08", "小儿外科"),
    Subject("09", "儿童保健科"),
    Subject("10", "眼科"),
    Subject("11", "耳鼻咽喉科"),
    *_group(
        "12",
        "口腔科",
        ("口腔内科专业", "口腔颌面外科专业", "正畸专业", "口腔修复专业", "口腔预防保健专业", "其他"),
    ),
    *_group("13", "皮肤科", ("皮肤病专业", "性传播疾病专业", "其他")),
    Subject("14", "医疗美容科"),
    *_group(
        "15",
        "精神科",
        (
            "精神病专业",
            "精神卫生专业",
            "药物依赖专业",
            "精神康复专业",
            "社区防治专业",
            "临床心理专业",
            "司法精神专业",
            "其他",
        ),
    ),
    Subject("16", "传染科"),
    Subject("17", "结核病科"),
    Subject("19", "肿瘤科"),
    Subject("20", "急诊医学科"),
    Subject("21", "康复医学科"),
    Subject("26", "麻醉科"),
    Subject("27", "疼痛科"),
    Subject("28", "重症医学科"),
    *_group(
        "50",
        "中医科",
        (
            "内科专业",
            "外科专业",
            "妇产科专业",
            "儿科专业",
            "皮肤科专业",
            "眼科专业",
            "耳鼻咽喉科专业",
            "口腔科专业",
            "肿瘤科专业",
            "骨伤科专业",
            "肛肠科专业",
            "老年病科专业",
            "针灸科专业",
            "推拿科专业",
            "康复医学专业",
            "急诊科专业",
            "预防保健科专业",
            "其他",
        ),
    ),
    Subject("51", "民族医学科"),
    Subject("52", "中西医结合科"),
)

_BY_CODE = {s.code: s for s in SUBJECTS}


def subject_name(code: str) -> str | None:
    """The catalogue name of a subject code, or None if the catalogue does not list it."""
    subject = _BY_CODE.get(code)
    return subject.name if subject else None


def is_well_formed(code: str) -> bool:
    return bool(SUBJECT_CODE_SHAPE.fullmatch(code))
