"""Organization tables: campuses, departments, staff profiles and their review, prices, disclosure."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

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
)
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime


class ServiceMode(StrEnum):
    """Online consultation modes (BJ 5.6.1.1: 图文、电话、视频)."""

    TEXT = "text"
    PHONE = "phone"
    VIDEO = "video"


class ReviewStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class DocumentKind(StrEnum):
    """Documents an applicant submits (BJ 5.5.2.1 注册审核, 实名认证)."""

    LICENCE = "licence"  # 执业证书
    QUALIFICATION = "qualification"  # 资格证书
    PRACTICE = "practice"  # 执业注册/备案证明
    TITLE = "title"  # 职称证书
    ID_CARD = "id_card"  # 身份证件
    INSTITUTION_LICENCE = "institution_licence"  # 《医疗机构执业许可证》
    PHOTO = "photo"  # 免冠证件照 (also shown in the directory)
    OTHER = "other"


class DisclosureKey(StrEnum):
    """信息公示 items on the patient end (BJ 5.6.4.1 (1)-(8))."""

    DOCTOR_LOOKUP = "doctor_lookup"  # (1) 医师信息查询渠道
    APPROVED_SUBJECTS = "approved_subjects"  # (2) 批准开展的诊疗科目
    SERVICES_PROCESS = "services_process"  # (3) 诊疗服务项目、内容、流程
    DOCTORS_ON_DUTY = "doctors_on_duty"  # (4) 诊疗服务方式及出诊医师信息
    PRICES = "prices"  # (5) 诊疗服务、常用药品和主要医用耗材价格
    COMPLAINTS = "complaints"  # (6) 医疗纠纷处理程序、投诉信箱和投诉咨询电话
    CONVENIENCE = "convenience"  # (7) 便民服务措施
    BOOKING_RULES = "booking_rules"  # (8) 预约挂号开放规则、号源情况
    STOP_NOTICES = "stop_notices"  # (8) 停诊/替诊信息


class Campus(InstitutionScoped, Timestamped, Base):
    """院区 — a site of the institution."""

    __tablename__ = "campus"
    __table_args__ = (UniqueConstraint("institution_id", "name"),)

    id: Mapped[IntPk]
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Department(InstitutionScoped, Timestamped, Base):
    """科室 — an online department under one registered 诊疗科目."""

    __tablename__ = "department"
    __table_args__ = (
        UniqueConstraint("institution_id", "name"),
        Index("ix_department_directory", "institution_id", "enabled", "sort_order"),
    )

    id: Mapped[IntPk]
    campus_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("campus.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    subject_code: Mapped[str] = mapped_column(String(8))
    subject_name: Mapped[str] = mapped_column(String(64))
    introduction: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)  # 诊疗范围
    strengths: Mapped[str | None] = mapped_column(Text)  # 优势和特色
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffProfile(InstitutionScoped, Timestamped, Base):
    """医护/药师执业档案 — the professional profile of one staff account, reviewed by the hospital."""

    __tablename__ = "staff_profile"
    __table_args__ = (
        UniqueConstraint("user_id"),
        Index("ix_staff_profile_directory", "institution_id", "review_status", "service_on", "profession"),
        CheckConstraint("review_status IN ('draft','submitted','approved','rejected')", name="review_status"),
        CheckConstraint("profession IN ('doctor','nurse','pharmacist')", name="profession"),
    )

    id: Mapped[IntPk]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"))
    profession: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("department.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(16))
    licence_no: Mapped[str | None] = mapped_column(String(32))  # 执业证书编码
    qualification_no: Mapped[str | None] = mapped_column(String(32))  # 资格证书编码
    practice_cert_no: Mapped[str | None] = mapped_column(String(32))  # 执业注册/备案证明编号
    practice_started_on: Mapped[dt.date | None] = mapped_column(Date)
    specialties: Mapped[str | None] = mapped_column(Text)  # 擅长
    introduction: Mapped[str | None] = mapped_column(Text)
    photo_key: Mapped[str | None] = mapped_column(String(32))
    photo_content_type: Mapped[str | None] = mapped_column(String(32))
    prescription_right: Mapped[bool] = mapped_column(Boolean, default=False)
    service_on: Mapped[bool] = mapped_column(Boolean, default=False)
    review_status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.DRAFT.value)
    review_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    reviewed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))


class StaffServiceMode(InstitutionScoped, Base):
    """One service mode of one profile: enabled or not, with an optional price override in fen."""

    __tablename__ = "staff_service_mode"
    __table_args__ = (
        UniqueConstraint("profile_id", "mode"),
        Index("ix_staff_service_mode_mode", "institution_id", "mode", "enabled"),
        CheckConstraint("price_fen IS NULL OR price_fen >= 0", name="price_not_negative"),
    )

    id: Mapped[IntPk]
    profile_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_profile.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    price_fen: Mapped[int | None] = mapped_column(Integer)


class QualificationDocument(InstitutionScoped, Base):
    """资质材料 — one uploaded scan (PNG/JPEG/PDF) of a profile's certificates."""

    __tablename__ = "qualification_document"

    id: Mapped[IntPk]
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_profile.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    file_key: Mapped[str] = mapped_column(String(32), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Shown to reviewers only; never used to build a path.
    filename: Mapped[str | None] = mapped_column(String(128))
    uploaded_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ReviewDecision(InstitutionScoped, Base):
    """审核记录 — one approval or rejection of a profile, kept forever."""

    __tablename__ = "review_decision"

    id: Mapped[IntPk]
    profile_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_profile.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ServicePrice(InstitutionScoped, Timestamped, Base):
    """服务定价 — the price of one service mode for one title, in fen (BJ 5.6.1.1)."""

    __tablename__ = "service_price"
    __table_args__ = (
        UniqueConstraint("institution_id", "title", "mode"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    id: Mapped[IntPk]
    title: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    price_fen: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))


class DisclosureItem(InstitutionScoped, Base):
    """信息公示 — one item of the patient-end disclosure page, maintained by operations."""

    __tablename__ = "disclosure_item"
    __table_args__ = (UniqueConstraint("institution_id", "key"),)

    id: Mapped[IntPk]
    key: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
