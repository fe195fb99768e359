"""Signing credentials of staff and the signed documents of every domain (EMR, prescriptions...)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.crypto.fields import EncryptedString
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime

CREDENTIAL_STATUSES = ("pending_pin", "active", "revoked")
# "personal": a doctor's or pharmacist's own signature; "seal": the hospital's electronic seal (电子公章),
# held by one keeper at a time who opens it with the seal's own PIN.
PURPOSES = ("personal", "seal")


class SigningCredential(InstitutionScoped, Timestamped, Base):
    """A person's signer at the CA: ``pending_pin`` after enrolment, ``active`` once the PIN is set."""

    __tablename__ = "signing_credential"
    __table_args__ = (
        CheckConstraint("status IN ('pending_pin', 'active', 'revoked')", name="status_known"),
        CheckConstraint("failed_pin_attempts >= 0", name="failed_pin_attempts_non_negative"),
        CheckConstraint("purpose IN ('personal', 'seal')", name="purpose_known"),
        # One live credential per person and purpose; revoked ones stay for the record.
        Index(
            "uq_signing_credential_live_user",
            "institution_id",
            "user_id",
            "purpose",
            unique=True,
            sqlite_where=text("status != 'revoked'"),
            postgresql_where=text("status != 'revoked'"),
        ),
        # One live hospital seal per institution.
        Index(
            "uq_signing_credential_live_seal",
            "institution_id",
            unique=True,
            sqlite_where=text("purpose = 'seal' AND status != 'revoked'"),
            postgresql_where=text("purpose = 'seal' AND status != 'revoked'"),
        ),
    )

    id: Mapped[IntPk]
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    signer_kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16), default="personal")
    ca_signer_ref: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    certificate_serial: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(512))
    not_before: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    not_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    enrolled_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class SignedDocument(InstitutionScoped, Base):
    """One signed, time-stamped version of a document: content, digest, signature, certificate, token."""

    __tablename__ = "signed_document"
    __table_args__ = (
        UniqueConstraint("institution_id", "kind", "ref_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[IntPk]
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    # The canonical JSON that was hashed (health data: encrypted at rest, ARCHITECTURE principle 7).
    content: Mapped[str] = mapped_column(EncryptedString())
    digest_algorithm: Mapped[str] = mapped_column(String(16))
    digest_hex: Mapped[str] = mapped_column(String(128))
    signature_algorithm: Mapped[str] = mapped_column(String(32))
    signature_b64: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    certificate_serial: Mapped[str] = mapped_column(String(64))
    tsa_token_b64: Mapped[str] = mapped_column(Text)
    timestamped_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    signer_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"), index=True)
    credential_id: Mapped[int] = mapped_column(BigId, ForeignKey("signing_credential.id"))
    # Opaque code for the public verification page (QR); reveals nothing by itself.
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
