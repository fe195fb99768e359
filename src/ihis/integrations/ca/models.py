"""Tables of the sandbox hospital CA and TSA (the authority's side of the wire; sandbox mode only).

Created in every schema like the other simulators' tables; written only when ``settings.sandbox``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxCaAuthority(Base):
    """The sandbox root CA and the TSA: made once per installation, shared through this table."""

    __tablename__ = "sandbox_ca_authority"

    id: Mapped[IntPk]
    # "root" or "tsa"; unique so that concurrent first uses agree on one key (ON CONFLICT DO NOTHING).
    name: Mapped[str] = mapped_column(String(16), unique=True)
    key_pem: Mapped[str] = mapped_column(Text)
    cert_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxCaSigner(Base):
    """One enrolled signer: subject, PIN-wrapped key, certificate, wrong-PIN counter."""

    __tablename__ = "sandbox_ca_signer"
    __table_args__ = (
        CheckConstraint("status IN ('pending_pin', 'active', 'revoked')", name="status_known"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_non_negative"),
    )

    id: Mapped[IntPk]
    signer_ref: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    staff_no: Mapped[str] = mapped_column(String(64))
    institution_code: Mapped[str] = mapped_column(String(64))
    institution_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[str | None] = mapped_column(Text)
    cert_pem: Mapped[str | None] = mapped_column(Text)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
