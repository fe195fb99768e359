"""Diagnosis code tables: editions of a code system and their codes (DOMAIN §9).

Editions are kept apart (ICD-10 国家临床版 2.0 and 医保版 2.0 differ), and each institution picks
its current edition per system. Tables are per institution: an import by one hospital never
changes what another hospital's doctors see (docs/coding.md).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime


class CodeSystem(StrEnum):
    ICD10 = "icd10"  # GB/T 14396, ICD-10 diagnoses
    TCM_DISEASE = "tcm-disease"  # GB/T 15657-2021 中医病名
    TCM_SYNDROME = "tcm-syndrome"  # GB/T 15657-2021 中医证候


SYSTEM_LABELS: dict[CodeSystem, tuple[str, str]] = {
    CodeSystem.ICD10: ("ICD-10 疾病诊断", "ICD-10 diagnoses"),
    CodeSystem.TCM_DISEASE: ("中医病名", "TCM diseases"),
    CodeSystem.TCM_SYNDROME: ("中医证候", "TCM syndromes"),
}

# Sort keys compare byte-wise on PostgreSQL too ("C" collation), so that prefix ranges
# (``key >= 'I1' AND key < 'I2'``) use the b-tree index and mean "starts with" on both databases.
_KEY = String(48).with_variant(String(48, collation="C"), "postgresql")
_INITIALS = String(128).with_variant(String(128, collation="C"), "postgresql")


class CodeEdition(InstitutionScoped, Timestamped, Base):
    """One edition of a code system (e.g. "ICD-10 国临版 2.0"); at most one current per system."""

    __tablename__ = "code_edition"
    __table_args__ = (
        UniqueConstraint("institution_id", "system", "name"),
        CheckConstraint("system IN ('icd10', 'tcm-disease', 'tcm-syndrome')", name="system_known"),
        # The invariant "one current edition per institution and system" lives in the database.
        Index(
            "ux_code_edition_current",
            "institution_id",
            "system",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[IntPk]
    system: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    code_count: Mapped[int] = mapped_column(Integer, default=0)  # enabled codes after the last import
    imported_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    imported_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))


class DiagnosisCode(InstitutionScoped, Base):
    """One code of an edition. ``code_key`` (upper case, no dots) and ``initials`` serve the search."""

    __tablename__ = "diagnosis_code"
    __table_args__ = (
        UniqueConstraint("edition_id", "code_key"),
        Index("ix_diagnosis_code_initials", "edition_id", "initials"),
    )

    id: Mapped[IntPk]
    edition_id: Mapped[int] = mapped_column(BigId, ForeignKey("code_edition.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(48))  # as the official table spells it (I10.x00x002)
    code_key: Mapped[str] = mapped_column(_KEY)  # I10X00X002
    name: Mapped[str] = mapped_column(String(200))
    initials: Mapped[str] = mapped_column(_INITIALS)  # pinyin initials: 原发性高血压 -> yfxgxy
    parent_code: Mapped[str | None] = mapped_column(String(48))  # 类目 / 上级编码 when the table has one
    # A code dropped by a re-import is disabled, never deleted: templates and records may cite it.
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
