"""Tables of the consultation domain: consultations (接诊) and their timeline.

A confirmed registration waits in the doctor's queue (registration domain); the doctor's first act
on it — accept or reject — creates the consultation row. Every step is a timeline event.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
REJECTED = "rejected"
STOPPED = "stopped"
STATUSES = (IN_PROGRESS, COMPLETED, REJECTED, STOPPED)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Consultation(InstitutionScoped, Timestamped, Base):
    """接诊 — the doctor's handling of one registration: in progress, then completed, or rejected as
    not a follow-up, or stopped mid-way (BJ 5.2.1-5.2.3)."""

    __tablename__ = "consultation"
    __table_args__ = (
        UniqueConstraint("registration_id"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("status NOT IN ('rejected','stopped') OR reason IS NOT NULL", name="reason_given"),
        CheckConstraint("status <> 'stopped' OR advice IS NOT NULL", name="advice_given"),
        Index("ix_consultation_doctor_status", "doctor_id", "status", "started_at"),
        Index("ix_consultation_account", "account_id", "started_at"),
        Index("ix_consultation_visitor", "visitor_id", "started_at"),
    )

    id: Mapped[IntPk]
    registration_id: Mapped[int] = mapped_column(BigId, ForeignKey("registration.id"))
    session_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinic_session.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    doctor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))
    advice: Mapped[str | None] = mapped_column(String(1000))
    # The chat room of the consultation (messaging domain); None for a rejected one.
    room_id: Mapped[int | None] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer, default=1)


class TimelineEvent(InstitutionScoped, Base):
    """接诊时间线 — one step of a registration's consultation (who, when, what), never changed."""

    __tablename__ = "consultation_event"
    __table_args__ = (Index("ix_consultation_event_registration", "registration_id", "id"),)

    id: Mapped[IntPk]
    registration_id: Mapped[int] = mapped_column(BigId, ForeignKey("registration.id"))
    consultation_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consultation.id"))
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    detail: Mapped[str | None] = mapped_column(Text)  # canonical JSON, no personal data


DRAFT = "draft"
SIGNED = "signed"
RECORD_STATUSES = (DRAFT, SIGNED)


class MedicalRecord(InstitutionScoped, Timestamped, Base):
    """门诊电子病历 — one version of a consultation's outpatient record (《电子病历应用管理规范》).

    A version is a draft until the doctor signs it with the PIN; then it is archived and never
    changes. A correction is a new version (``amends_id`` = the signed one it corrects); every
    earlier version stays visible.
    """

    __tablename__ = "medical_record"
    __table_args__ = (
        UniqueConstraint("consultation_id", "version"),
        CheckConstraint(_in("status", RECORD_STATUSES), name="status"),
        CheckConstraint("status <> 'signed' OR signed_document_id IS NOT NULL", name="signed_has_signature"),
        # At most one draft per consultation.
        Index(
            "uq_medical_record_one_draft",
            "consultation_id",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
        Index("ix_medical_record_visitor", "visitor_id", "id"),
    )

    id: Mapped[IntPk]
    consultation_id: Mapped[int] = mapped_column(BigId, ForeignKey("consultation.id"))
    visitor_id: Mapped[int] = mapped_column(BigId, ForeignKey("visitor.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    amends_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("medical_record.id"))
    chief_complaint: Mapped[str] = mapped_column(Text, default="")
    present_illness: Mapped[str] = mapped_column(Text, default="")
    past_history: Mapped[str] = mapped_column(Text, default="")
    allergy_history: Mapped[str] = mapped_column(Text, default="")
    # JSON list of {"system", "code", "name"} (ICD-10, TCM disease/syndrome).
    diagnoses: Mapped[str] = mapped_column(Text, default="[]")
    advice: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    signed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # The signing domain's record of signature, certificate and time-stamp token.
    signed_document_id: Mapped[int | None] = mapped_column(BigId)
