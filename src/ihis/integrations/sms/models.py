"""Tables of the sandbox SMS provider (demo and tests only): the messages it received.

This is the provider's side of the wire, not IHIS's: it exists so that the demo and the browser
tests can read what a phone would have received (``GET /api/v1/admin/sandbox/sms``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxSmsMessage(Base):
    """One SendSms request the sandbox provider answered (accepted, or refused by injection)."""

    __tablename__ = "sandbox_sms_message"
    __table_args__ = (
        # The provider refuses a reused SignatureNonce (replay protection).
        UniqueConstraint("nonce", "phone"),
        Index("ix_sandbox_sms_message_phone_received_at", "phone", "received_at"),
    )

    id: Mapped[IntPk]
    phone: Mapped[str] = mapped_column(String(20))
    sign_name: Mapped[str] = mapped_column(String(64))
    template_code: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    out_id: Mapped[str | None] = mapped_column(String(64), index=True)
    biz_id: Mapped[str | None] = mapped_column(String(40))
    request_id: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(64))
    # "OK" when accepted; otherwise the provider error code the sandbox answered with.
    code: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
