"""Tables of the prescribing domain: e-prescriptions (处方), their lines, rule findings with the doctor's
overrides, the timeline, the pharmacists' duty roster, and prescription templates.

One ``prescription`` row is one prescription number through its whole life. The doctor edits the
draft, submits it by signing with the PIN (the canonical content is kept by the signing domain as
version N of ``("rx", id)``), the pharmacist claims, checks that the rows still match what was
signed, and approves (a second signed document, ``("rx-review", id)``) or rejects; a rejected
prescription is revised (a new draft, then version N+1) or withdrawn (DOMAIN §5).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

DRAFT = "draft"
PENDING_REVIEW = "pending_review"  # signed by the doctor, in the review queue
UNDER_REVIEW = "under_review"  # claimed by a pharmacist
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STATUSES = (DRAFT, PENDING_REVIEW, UNDER_REVIEW, APPROVED, REJECTED, WITHDRAWN)

WESTERN_PATENT = "western_patent"  # 西药、中成药处方
HERBAL = "herbal"  # 中药饮片处方 (separate, DOMAIN §5)
KINDS = (WESTERN_PATENT, HERBAL)
COURSES = ("acute", "ordinary", "chronic")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Prescription(InstitutionScoped, Timestamped, Base):
    """处方 — written in a consultation, signed by the doctor, reviewed by a pharmacist (DOMAIN §5)."""

    __tablename__ = "prescription"
    __table_args__ = (
        UniqueConstraint("institution_id", "number"),  # unique per hospital (DOMAIN §5)
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("course", COURSES), name="course"),
        CheckConstraint("validity_days BETWEEN 1 AND 3", name="validity_days"),  # fixed maximum 3
        CheckConstraint(
            "status IN ('draft','withdrawn') OR signed_document_id IS NOT NULL", name="submitted_is_signed"
        ),
        CheckConstraint("status <> 'approved' OR review_document_id IS NOT NULL", name="approved_is_signed"),
        CheckConstraint("status <> 'rejected' OR reject_reason IS NOT NULL", name="rejected_has_reason"),
        CheckConstraint("status <> 'under_review' OR reviewer_id IS NOT NULL", name="claimed_has_reviewer"),
        Index("ix_prescription_consultation", "consultation_id", "id"),
        Index("ix_prescription_review_queue", "institution_id", "status", "submitted_at"),
        Index("ix_prescription_account", "account_id", "id"),
        Index("ix_prescription_visitor", "visitor_id", "id"),
    )

    id: Mapped[IntPk]
    number: Mapped[str] = mapped_column(String(32))
    consultation_id: Mapped[int] = mapped_column(BigId, ForeignKey("consultation.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    doctor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))  # the patient's account
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    # JSON list of {"system", "code", "name"} (the consultation's diagnoses the prescription treats).
    diagnoses: Mapped[str] = mapped_column(Text, default="[]")
    course: Mapped[str] = mapped_column(String(16), default="ordinary")
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    validity_days: Mapped[int] = mapped_column(Integer, default=1)
    # Patient facts the rules use, recorded on the prescription (allergy/pregnancy "where recorded").
    allergy_classes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of codes
    pregnant: Mapped[bool | None] = mapped_column(Boolean)
    lactating: Mapped[bool | None] = mapped_column(Boolean)
    limited_mobility: Mapped[bool] = mapped_column(Boolean, default=False)
    # Children under 6: guardian and accompanying clinician (互联网诊疗管理办法 第十九条).
    guardian_name: Mapped[str | None] = mapped_column(String(64))
    guardian_relation: Mapped[str | None] = mapped_column(String(32))
    accompanying_clinician: Mapped[str | None] = mapped_column(String(64))
    herbal_doses: Mapped[int | None] = mapped_column(Integer)  # 剂数 of a herbal prescription
    herbal_usage: Mapped[str | None] = mapped_column(String(200))  # 煎服法
    note: Mapped[str | None] = mapped_column(String(500))
    renewed_from_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("prescription.id"))
    kb_version: Mapped[int | None] = mapped_column(Integer)  # knowledge base of the last check
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    # Doctor's signature of the current version (signing domain), and when.
    signed_version: Mapped[int] = mapped_column(Integer, default=0)
    signed_document_id: Mapped[int | None] = mapped_column(BigId)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    # Review.
    reviewer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_document_id: Mapped[int | None] = mapped_column(BigId)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    checklist: Mapped[str | None] = mapped_column(Text)  # JSON of the 四查十对 answers
    # Optimistic concurrency for edits of the draft.
    version: Mapped[int] = mapped_column(Integer, default=1)


class PrescriptionLine(InstitutionScoped, Base):
    """One drug of a prescription, with what the catalogue said of it when written."""

    __tablename__ = "prescription_line"
    __table_args__ = (
        UniqueConstraint("prescription_id", "position"),
        CheckConstraint("days > 0 AND quantity > 0", name="positive"),
    )

    id: Mapped[IntPk]
    prescription_id: Mapped[int] = mapped_column(BigId, ForeignKey("prescription.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    drug_id: Mapped[int] = mapped_column(BigId)
    drug_code: Mapped[str] = mapped_column(String(32))
    drug_name: Mapped[str] = mapped_column(String(128))
    strength: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(32))
    package: Mapped[str] = mapped_column(String(64))  # "7片/盒"
    dose: Mapped[str] = mapped_column(String(16))  # decimal as text: never a float
    dose_unit: Mapped[str] = mapped_column(String(16))
    frequency: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)  # packages
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))


class PrescriptionFinding(InstitutionScoped, Base):
    """A rational-use finding of the last check of the draft; a warning carries the doctor's override."""

    __tablename__ = "prescription_finding"
    __table_args__ = (
        UniqueConstraint("prescription_id", "key"),
        CheckConstraint(_in("severity", ("block", "warn", "info")), name="severity"),
        CheckConstraint("severity <> 'block' OR override_reason IS NULL", name="blocks_not_overridable"),
    )

    id: Mapped[IntPk]
    prescription_id: Mapped[int] = mapped_column(BigId, ForeignKey("prescription.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    line: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    message_zh: Mapped[str] = mapped_column(String(500))
    message_en: Mapped[str] = mapped_column(String(500))
    override_reason: Mapped[str | None] = mapped_column(String(500))
    overridden_by: Mapped[int | None] = mapped_column(BigId)
    overridden_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class PrescriptionEvent(InstitutionScoped, Base):
    """处方时间线 — one step (written, checked, signed, recalled, claimed, approved ...), never changed."""

    __tablename__ = "prescription_event"
    __table_args__ = (Index("ix_prescription_event_rx", "prescription_id", "id"),)

    id: Mapped[IntPk]
    prescription_id: Mapped[int] = mapped_column(BigId, ForeignKey("prescription.id"))
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


class PharmacistDuty(InstitutionScoped, Base):
    """A pharmacist's duty shift for prescription review (在岗): checked in, then out."""

    __tablename__ = "pharmacist_duty"
    __table_args__ = (
        # One open shift per pharmacist.
        Index(
            "uq_pharmacist_duty_open",
            "pharmacist_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_pharmacist_duty_open", "institution_id", "ended_at"),
    )

    id: Mapped[IntPk]
    pharmacist_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class RxTemplate(InstitutionScoped, Timestamped, Base):
    """处方模板 — a doctor's personal or a department's lines to start from (never submitted by itself)."""

    __tablename__ = "rx_template"
    __table_args__ = (
        CheckConstraint(_in("scope", ("personal", "department")), name="scope"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        Index("ix_rx_template_owner", "institution_id", "scope", "owner_id"),
    )

    id: Mapped[IntPk]
    scope: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int] = mapped_column(BigId)  # the doctor (personal) or the department
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    lines: Mapped[str] = mapped_column(
        Text
    )  # JSON list of {drug_id, dose, dose_unit, frequency, route, days, quantity}
    created_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))


class UnstaffedAlert(InstitutionScoped, Base):
    """One warning to operations per gap in review staffing during business hours (issue 5 §3)."""

    __tablename__ = "review_unstaffed_alert"
    __table_args__ = (UniqueConstraint("institution_id", "gap_started_at"),)

    id: Mapped[IntPk]
    gap_started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    notified_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)
