"""Tenancy: the institutions a (regional) platform hosts. Every business row points at one."""

from __future__ import annotations

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, Timestamped


class Institution(Timestamped, Base):
    """医疗机构 — a physical hospital served by the platform."""

    __tablename__ = "institution"

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    # 统一社会信用代码 (used by the regulator's upload formats).
    credit_code: Mapped[str | None] = mapped_column(String(18))
    # The physical institution's registered 诊疗科目 codes, comma-separated (e.g. "03.01,13.01").
    registered_subjects: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    introduction: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    def subject_codes(self) -> set[str]:
        return {c.strip() for c in self.registered_subjects.split(",") if c.strip()}
