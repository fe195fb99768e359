"""EMR templates: the structured fields of an outpatient record (DOMAIN §4), ready to copy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped


class EmrTemplate(InstitutionScoped, Timestamped, Base):
    """A personal template (``owner_user_id``) or a department's shared one (``department_id``)."""

    __tablename__ = "emr_template"
    __table_args__ = (
        CheckConstraint(
            "(owner_user_id IS NOT NULL AND department_id IS NULL)"
            " OR (owner_user_id IS NULL AND department_id IS NOT NULL)",
            name="one_owner",
        ),
        # Names are unique per owner (NULLs never collide, so each constraint covers one kind).
        UniqueConstraint("institution_id", "owner_user_id", "name"),
        UniqueConstraint("institution_id", "department_id", "name"),
    )

    id: Mapped[IntPk]
    owner_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    chief_complaint: Mapped[str] = mapped_column(Text, default="")  # 主诉
    present_illness: Mapped[str] = mapped_column(Text, default="")  # 现病史
    past_history: Mapped[str] = mapped_column(Text, default="")  # 既往史
    allergy_history: Mapped[str] = mapped_column(Text, default="")  # 过敏史
    # [{"system": "icd10", "edition": "...", "code": "I10.x00x002", "name": "原发性高血压"}, ...]
    diagnoses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    treatment_advice: Mapped[str] = mapped_column(Text, default="")  # 处理意见 / 医嘱
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic guard of updates
    created_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    updated_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
