"""Tables of the registration domain: follow-up eligibility (复诊预判) and its evidence,
registrations (挂号) and the no-show blacklist (爽约黑名单) with its appeals.

(``registration_id`` on the evidence tables stays a plain indexed id: the evidence is written
before the registration exists, and the link is set once, by a guarded update.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

UPLOAD_STATUSES = ("pending_doctor_confirmation", "confirmed", "rejected")


class DepartmentEligibilityPolicy(InstitutionScoped, Timestamped, Base):
    """科室复诊规则 — a department's override of the follow-up look-back window (DOMAIN §1)."""

    __tablename__ = "department_eligibility_policy"
    __table_args__ = (
        UniqueConstraint("department_id"),
        CheckConstraint("lookback_days >= 1 AND lookback_days <= 3650", name="lookback_days"),
        CheckConstraint(
            "min_age_years IS NULL OR max_age_years IS NULL OR min_age_years <= max_age_years",
            name="age_range",
        ),
    )

    id: Mapped[IntPk]
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id", ondelete="CASCADE"))
    lookback_days: Mapped[int] = mapped_column(Integer)
    # Age rule of the department in whole years (e.g. 儿科: max 17), inclusive; None: no bound.
    min_age_years: Mapped[int | None] = mapped_column(Integer)
    max_age_years: Mapped[int | None] = mapped_column(Integer)
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


# --- registrations -------------------------------------------------------------------------------

PENDING_PAYMENT = "pending_payment"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
CLOSED = "closed"
NO_SHOW = "no_show"
REGISTRATION_STATUSES = (PENDING_PAYMENT, CONFIRMED, CANCELLED, CLOSED, NO_SHOW)
# A registration that holds one slot of its session (the slot counter counts exactly these).
LIVE_STATUSES = (PENDING_PAYMENT, CONFIRMED)
# patient: before the start; session_stopped: 停诊; doctor_rejected: not a follow-up (BJ 5.2.3).
CANCEL_KINDS = ("patient", "session_stopped", "doctor_rejected")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Registration(InstitutionScoped, Timestamped, Base):
    """挂号 — one visitor's booked slot in a clinic session; counts once paid (BJ 5.1.3.1)."""

    __tablename__ = "registration"
    __table_args__ = (
        CheckConstraint(_in("status", REGISTRATION_STATUSES), name="status"),
        CheckConstraint(f"cancel_kind IS NULL OR {_in('cancel_kind', CANCEL_KINDS)}", name="cancel_kind"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status <> 'confirmed' OR queue_number IS NOT NULL", name="confirmed_has_queue"),
        # One live registration per visitor and session ("not already booked in that session").
        Index(
            "uq_registration_live_visitor_session",
            "session_id",
            "visitor_id",
            unique=True,
            sqlite_where=text("status IN ('pending_payment','confirmed')"),
            postgresql_where=text("status IN ('pending_payment','confirmed')"),
        ),
        # Queue numbers are unique within a session.
        UniqueConstraint("session_id", "queue_number"),
        UniqueConstraint("number"),
        Index("ix_registration_account_created", "account_id", "created_at"),
        Index("ix_registration_session_status", "session_id", "status"),
        Index("ix_registration_institution_created", "institution_id", "created_at"),
    )

    id: Mapped[IntPk]
    number: Mapped[str] = mapped_column(String(24))  # GH + local date + id, shown to people
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"), index=True)
    session_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinic_session.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    # The doctor booked; the session's doctor may differ later (替诊).
    booked_doctor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    evidence_id: Mapped[int] = mapped_column(BigId, ForeignKey("eligibility_evidence.id"))
    amount_fen: Mapped[int] = mapped_column(Integer)
    bill_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("bill.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING_PAYMENT)
    pay_deadline: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    queue_number: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    guardian_accompanied: Mapped[bool] = mapped_column(default=False)  # visitor under 6
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    cancel_kind: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # Set by the consultation when the doctor receives the patient; None at the end: a no-show.
    attended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    no_show_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


# --- the no-show blacklist (BJ 5.6.9) ----------------------------------------------------------

BLOCK_ACTIVE = "active"
BLOCK_LIFTED = "lifted"
BLOCK_EXPIRED = "expired"
APPEAL_PENDING = "pending"
APPEAL_APPROVED = "approved"
APPEAL_REJECTED = "rejected"


class BookingBlock(InstitutionScoped, Timestamped, Base):
    """爽约黑名单 — an account barred from booking until ``ends_at`` (or lifted by operations)."""

    __tablename__ = "booking_block"
    __table_args__ = (
        CheckConstraint(_in("status", (BLOCK_ACTIVE, BLOCK_LIFTED, BLOCK_EXPIRED)), name="status"),
        CheckConstraint(_in("reason", ("no_show",)), name="reason"),
        CheckConstraint("ends_at > started_at", name="ends_after_start"),
        # At most one active block per account: the no-show job cannot block twice.
        Index(
            "uq_booking_block_active_account",
            "institution_id",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_booking_block_status_ends", "status", "ends_at"),
    )

    id: Mapped[IntPk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16), default="no_show")
    no_show_count: Mapped[int] = mapped_column(Integer)
    # The registrations that made it (JSON list of ids), for the appeal review.
    registration_ids: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default=BLOCK_ACTIVE)
    lifted_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lift_reason: Mapped[str | None] = mapped_column(String(200))


class BlockAppeal(InstitutionScoped, Timestamped, Base):
    """黑名单申诉 — the patient's appeal against a block, reviewed by operations."""

    __tablename__ = "block_appeal"
    __table_args__ = (
        CheckConstraint(_in("status", (APPEAL_PENDING, APPEAL_APPROVED, APPEAL_REJECTED)), name="status"),
        # One pending appeal per block.
        Index(
            "uq_block_appeal_pending",
            "block_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[IntPk]
    block_id: Mapped[int] = mapped_column(BigId, ForeignKey("booking_block.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=APPEAL_PENDING)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(200))
