"""Tables of the registration domain: follow-up eligibility (复诊预判) and its evidence.

(Registrations themselves join this module in a later step; ``registration_id`` columns are
plain nullable ids until then, and become foreign keys when the ``registration`` table exists.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

UPLOAD_STATUSES = ("pending_doctor_confirmation", "confirmed", "rejected")


class DepartmentEligibilityPolicy(InstitutionScoped, Timestamped, Base):
    """科室复诊规则 — a department's override of the follow-up look-back window (DOMAIN §1)."""

    __tablename__ = "department_eligibility_policy"
    __table_args__ = (
        UniqueConstraint("department_id"),
        CheckConstraint("lookback_days >= 1 AND lookback_days <= 3650", name="lookback_days"),
    )

    id: Mapped[IntPk]
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id", ondelete="CASCADE"))
    lookback_days: Mapped[int] = mapped_column(Integer)
    # HIS department codes whose visits count for this department (comma-separated); empty:
    # the HIS department's name or code must equal this department's name or 诊疗科目 code.
    his_department_codes: Mapped[str | None] = mapped_column(String(255))
    updated_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))


class EvidenceUpload(InstitutionScoped, Timestamped, Base):
    """既往病历上传 — a patient's image/PDF of an earlier record, waiting for a doctor's confirmation."""

    __tablename__ = "evidence_upload"
    __table_args__ = (
        UniqueConstraint("visitor_id", "department_id", "sha256"),
        CheckConstraint("status IN ('pending_doctor_confirmation','confirmed','rejected')", name="status"),
        Index("ix_evidence_upload_account", "institution_id", "account_id", "id"),
    )

    id: Mapped[IntPk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"), index=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    file_key: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), default="pending_doctor_confirmation")
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    registration_id: Mapped[int | None] = mapped_column(BigId, index=True)


class EligibilityEvidence(InstitutionScoped, Base):
    """复诊依据 — what made a visitor eligible in a department: HIS records, or an upload.

    A row exists only for a HIS check that found the visitor eligible, or for an upload (then it
    counts once a doctor confirms the upload); refusals are in the audit ledger.
    """

    __tablename__ = "eligibility_evidence"
    __table_args__ = (
        CheckConstraint("source IN ('his','upload')", name="source"),
        CheckConstraint("(source = 'upload') = (upload_id IS NOT NULL)", name="upload_matches_source"),
        Index("ix_eligibility_evidence_visitor", "visitor_id", "department_id", "checked_at"),
    )

    id: Mapped[IntPk]
    source: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    upload_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("evidence_upload.id"))
    # HIS record ids as JSON lists (FHIR logical ids): patients, encounters, conditions.
    his_patient_ids: Mapped[str | None] = mapped_column(Text)
    his_encounter_ids: Mapped[str | None] = mapped_column(Text)
    his_condition_ids: Mapped[str | None] = mapped_column(Text)
    icd10_codes: Mapped[str | None] = mapped_column(Text)  # JSON list, the matched diagnoses
    tags: Mapped[str | None] = mapped_column(Text)  # JSON list, the session's disease tags checked
    lookback_days: Mapped[int] = mapped_column(Integer)
    granularity: Mapped[str] = mapped_column(String(16))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    registration_id: Mapped[int | None] = mapped_column(BigId, index=True)
