"""Tables of the sandbox real-name authority (demo and tests only).

The authority's side of the wire: the synthetic people it knows, and the requests it answered
(nonce replay protection and a trace). Identities here are invented (checksum-valid) data; the
request log keeps no name, ID number or phone, since a demo user may type real ones.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxIdentity(Base):
    """One synthetic person the sandbox authority recognises (name + ID number + mobile)."""

    __tablename__ = "sandbox_identity"

    id: Mapped[IntPk]
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxRealnameRequest(Base):
    """One verification request the sandbox authority answered."""

    __tablename__ = "sandbox_realname_request"

    id: Mapped[IntPk]
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    order_no: Mapped[str] = mapped_column(String(40))
    biz_no: Mapped[str | None] = mapped_column(String(64))
    # "1".."4" (protocol.Verdict), or the failure the sandbox answered with ("unavailable").
    result: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
