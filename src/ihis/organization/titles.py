"""Professions and professional titles (职称) of online staff, with their GB/T 8561 codes.

Prices are set per title and service mode (BJ 5.6.1.1 职称信息管理); the directory sorts doctors
by title level (正高 > 副高 > 中级 > 初级).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Profession(StrEnum):
    DOCTOR = "doctor"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"


@dataclass(frozen=True)
class Title:
    name: str
    profession: Profession
    # 1 正高, 2 副高, 3 中级, 4 初级
    level: int
    # GB/T 8561-2001 专业技术职务代码 (used by the regulator's upload formats).
    gb_code: str


TITLES: tuple[Title, ...] = (
    Title("主任医师", Profession.DOCTOR, 1, "231"),
    Title("副主任医师", Profession.DOCTOR, 2, "232"),
    Title("主治医师", Profession.DOCTOR, 3, "233"),
    Title("住院医师", Profession.DOCTOR, 4, "234"),
    Title("主任药师", Profession.PHARMACIST, 1, "241"),
    Title("副主任药师", Profession.PHARMACIST, 2, "242"),
    Title("主管药师", Profession.PHARMACIST, 3, "243"),
    Title("药师", Profession.PHARMACIST, 4, "244"),
    Title("主任护师", Profession.NURSE, 1, "251"),
    Title("副主任护师", Profession.NURSE, 2, "252"),
    Title("主管护师", Profession.NURSE, 3, "253"),
    Title("护师", Profession.NURSE, 4, "254"),
    Title("护士", Profession.NURSE, 4, "255"),
)

TITLE_NAMES: tuple[str, ...] = tuple(t.name for t in TITLES)
_BY_NAME = {t.name: t for t in TITLES}


def title_named(name: str) -> Title | None:
    """The title with this name, or None."""
    return _BY_NAME.get(name)


def title_level(name: str | None) -> int:
    """Sort key: 1 for 正高 ... 4 for 初级; unknown or missing titles last."""
    title = _BY_NAME.get(name or "")
    return title.level if title else 9
