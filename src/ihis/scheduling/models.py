"""Scheduling tables: clinic sessions (号源), weekly templates (排班模板) and their change history."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime


class SessionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    STOPPED = "stopped"  # 停诊: final


class ChangeKind(StrEnum):
    """Temporary changes of a session (BJ 5.1.1.2: 停诊、替诊、加号), plus a time shift."""

    STOP = "stop"
    SUBSTITUTE = "substitute"
    ADD_SLOTS = "add_slots"
    SHIFT = "shift"


MODES_SQL = "'text','phone','video'"


class ClinicSession(InstitutionScoped, Timestamped, Base):
    """出诊时段/号源 — one doctor's bookable block of slots on one date, in one service mode."""

    __tablename__ = "clinic_session"
    __table_args__ = (
        # One session per doctor, start and mode; makes template generation idempotent.
        UniqueConstraint("doctor_id", "start_at", "mode"),
        CheckConstraint("booked >= 0", name="booked_not_negative"),
        CheckConstraint("booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        CheckConstraint("status IN ('draft','published','stopped')", name="status"),
        CheckConstraint(f"mode IN ({MODES_SQL})", name="mode"),
        # The patient search: published sessions of an institution by start time.
        Index("ix_clinic_session_search", "institution_id", "status", "start_at"),
        Index("ix_clinic_session_department_start", "department_id", "start_at"),
        Index("ix_clinic_session_doctor_start", "doctor_id", "start_at"),
        # The reminder sweep: published sessions not yet reminded, by start.
        Index("ix_clinic_session_reminder", "status", "reminded_at", "start_at"),
    )

    id: Mapped[IntPk]
    doctor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"))
    campus_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("campus.id"))
    service_date: Mapped[dt.date] = mapped_column(Date)  # hospital-local date
    start_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    end_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    mode: Mapped[str] = mapped_column(String(8))
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    price_fen: Mapped[int] = mapped_column(Integer)
    # ICD-10 code prefixes, upper case, sorted, comma-separated ("I10,J44"); empty: open to all.
    disease_tags: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.DRAFT.value)
    substituted_from_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    template_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("weekly_template.id", ondelete="SET NULL")
    )
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked

    @property
    def tags(self) -> list[str]:
        return [t for t in self.disease_tags.split(",") if t]


class WeeklyTemplate(InstitutionScoped, Timestamped, Base):
    """排班模板 — a weekly recurring session of one doctor, expanded into sessions on demand."""

    __tablename__ = "weekly_template"
    __table_args__ = (
        UniqueConstraint("doctor_id", "weekday", "start_time", "mode"),
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_iso"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("price_fen IS NULL OR price_fen >= 0", name="price_not_negative"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
        CheckConstraint(f"mode IN ({MODES_SQL})", name="mode"),
    )

    id: Mapped[IntPk]
    doctor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("department.id"), index=True)
    campus_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("campus.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # ISO: Monday 1 .. Sunday 7
    start_time: Mapped[dt.time] = mapped_column(Time)  # hospital-local
    end_time: Mapped[dt.time] = mapped_column(Time)
    mode: Mapped[str] = mapped_column(String(8))
    capacity: Mapped[int] = mapped_column(Integer)
    price_fen: Mapped[int | None] = mapped_column(Integer)  # None: the doctor's price for the mode
    disease_tags: Mapped[str] = mapped_column(String(255), default="")


class SessionChange(InstitutionScoped, Base):
    """号源变更记录 — one temporary change of a session (who, when, why, before and after)."""

    __tablename__ = "session_change"
    __table_args__ = (CheckConstraint("kind IN ('stop','substitute','add_slots','shift')", name="kind"),)

    id: Mapped[IntPk]
    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("clinic_session.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[str] = mapped_column(Text)  # canonical JSON of the changed fields
    after: Mapped[str] = mapped_column(Text)
