"""Identity tables: accounts (patients and staff), roles, sessions, SMS codes, visitors, consent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.crypto.fields import EncryptedString
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime


class UserAccount(InstitutionScoped, Timestamped, Base):
    """账号 — a person who logs in: a patient (by phone) or a staff member (by username)."""

    __tablename__ = "user_account"
    __table_args__ = (
        UniqueConstraint("institution_id", "kind", "phone_bidx"),
        UniqueConstraint("institution_id", "username"),
        UniqueConstraint("institution_id", "staff_no"),
    )

    id: Mapped[IntPk]
    kind: Mapped[str] = mapped_column(String(16))  # "patient" | "staff"
    # active | pending_review (self-registered staff) | disabled
    status: Mapped[str] = mapped_column(String(24), default="active")
    username: Mapped[str | None] = mapped_column(String(64))
    staff_no: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(EncryptedString(), deferred=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString(), deferred=True)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # RFC 6238 §5.2: the last accepted TOTP time step; no code is accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigId)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class RoleAssignment(InstitutionScoped, Base):
    """角色 — one role held by one staff account."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[IntPk]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class RecoveryCode(Base):
    """One-time recovery code for a staff account's second factor (stored hashed)."""

    __tablename__ = "recovery_code"

    id: Mapped[IntPk]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class AuthSession(InstitutionScoped, Base):
    """登录会话 — an opaque token (stored hashed) with idle and absolute expiry."""

    __tablename__ = "auth_session"

    id: Mapped[IntPk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # "cookie" | "bearer"
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    absolute_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Staff sessions are half-open until the second factor passes.
    mfa_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    step_up_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class LoginFailure(Base):
    """A failed login for a principal (hashed username/phone, whether or not an account exists)."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_principal_at", "principal", "at"),)

    id: Mapped[IntPk]
    institution_id: Mapped[int] = mapped_column(BigId, ForeignKey("institution.id"))
    principal: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SmsCode(InstitutionScoped, Base):
    """短信验证码 — 6 digits, 5-minute expiry, single use, attempt-limited (stored hashed)."""

    __tablename__ = "sms_code"
    __table_args__ = (Index("ix_sms_code_phone_purpose", "phone_bidx", "purpose", "created_at"),)

    id: Mapped[IntPk]
    phone_bidx: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))  # register | login | reset | step_up
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))


class Visitor(InstitutionScoped, Timestamped, Base):
    """就诊人 — the account holder or a family member they act for; real-name verified."""

    __tablename__ = "visitor"
    __table_args__ = (UniqueConstraint("account_id", "id_number_bidx"),)

    id: Mapped[IntPk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))  # self | spouse | child | parent | other
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(EncryptedString(), deferred=True)
    id_number_bidx: Mapped[str] = mapped_column(String(64), index=True)
    phone: Mapped[str] = mapped_column(EncryptedString(), deferred=True)
    phone_bidx: Mapped[str] = mapped_column(String(64))
    sex: Mapped[int] = mapped_column(SmallInteger)  # GB/T 2261.1: 0 unknown, 1 male, 2 female, 9
    birth_date: Mapped[dt.date] = mapped_column(Date)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    verification_ref: Mapped[str | None] = mapped_column(String(64))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # 医保 binding: the platform's person number (人员编号, infno 1101), its insurance type
    # (险种 e.g. 310 职工基本医疗保险, 390 城乡居民) and insured area (参保地 admdvs), when bound.
    insurance_psn_no: Mapped[str | None] = mapped_column(EncryptedString(), deferred=True)
    insurance_type: Mapped[str | None] = mapped_column(String(8))
    insurance_area: Mapped[str | None] = mapped_column(String(12))
    insurance_bound_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ConsentDocument(InstitutionScoped, Base):
    """知情同意书 — one version of a consent text; the newest effective one must be accepted."""

    __tablename__ = "consent_document"
    __table_args__ = (UniqueConstraint("institution_id", "kind", "version"),)

    id: Mapped[IntPk]
    kind: Mapped[str] = mapped_column(String(32), default="internet_service")
    version: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    body_hash: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ConsentAcceptance(InstitutionScoped, Base):
    """A patient's acceptance of one consent version, with the text hash, time and IP."""

    __tablename__ = "consent_acceptance"
    __table_args__ = (UniqueConstraint("account_id", "document_id"),)

    id: Mapped[IntPk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("consent_document.id"))
    version: Mapped[str] = mapped_column(String(32))
    text_hash: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
