"""Tables of the sandbox insurance platform (demo and tests only): its catalogue overrides, the
settlements it recorded, and the signature nonces it has seen."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxInsuranceCatalogue(Base):
    """An explicit class for one insurance code (the default rule classifies the rest)."""

    __tablename__ = "sandbox_insurance_catalogue"

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(23), unique=True)
    class_: Mapped[str] = mapped_column("class", String(8))


class SandboxInsuranceSettlement(Base):
    """A settlement the sandbox platform recorded, keyed by the hospital's bill ref."""

    __tablename__ = "sandbox_insurance_settlement"

    id: Mapped[IntPk]
    bill_ref: Mapped[str] = mapped_column(String(64), unique=True)
    setl_id: Mapped[str] = mapped_column(String(40), unique=True)
    # SHA-256 of the canonical request (insured id and items): a reused ref with other content is refused.
    request_digest: Mapped[str] = mapped_column(String(64))
    split_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # settled | cancelled
    settled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class SandboxInsuranceNonce(Base):
    """A signature nonce the sandbox platform has seen (replay protection)."""

    __tablename__ = "sandbox_insurance_nonce"
    __table_args__ = (UniqueConstraint("nonce"),)

    id: Mapped[IntPk]
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
