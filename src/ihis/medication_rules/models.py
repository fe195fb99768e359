"""Tables of the rational-use knowledge base (合理用药知识库), versioned per institution.

- ``rx_knowledge_version`` — one row per change (create, update, delete, import): the version
  counter of an institution's knowledge base; unique (institution, version), so two concurrent
  changes cannot both claim the next number.
- ``rx_knowledge_entry`` — one row per *revision* of an entry: ``entry_id`` is the entry's stable
  id (its first revision's id), ``data`` the kind's validated JSON; a revision is current from
  ``valid_from`` until ``valid_to`` (exclusive, NULL while current). An update closes the current
  revision and adds a new one; a delete closes it. Any past version can be rebuilt, so findings
  checked against version *n* can be reproduced when the pharmacist reviews.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.clock import utcnow
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, UtcDateTime


class RxKnowledgeVersion(InstitutionScoped, Base):
    """知识库版本 — one change of an institution's rational-use knowledge base."""

    __tablename__ = "rx_knowledge_version"
    __table_args__ = (UniqueConstraint("institution_id", "version"),)

    id: Mapped[IntPk]
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete | import | seed
    kind: Mapped[str | None] = mapped_column(String(32))
    entry_id: Mapped[int | None] = mapped_column(BigId)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RxKnowledgeEntry(InstitutionScoped, Base):
    """知识库条目 — one revision of a knowledge-base entry of one kind."""

    __tablename__ = "rx_knowledge_entry"
    __table_args__ = (
        # One current entry per natural key of a kind (e.g. one interaction per pair of codes).
        Index(
            "uq_rx_knowledge_entry_current_key",
            "institution_id",
            "kind",
            "natural_key",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index("ix_rx_knowledge_entry_window", "institution_id", "valid_from", "valid_to"),
    )

    id: Mapped[IntPk]
    entry_id: Mapped[int | None] = mapped_column(BigId, index=True)  # set to id on the first revision
    kind: Mapped[str] = mapped_column(String(32))
    natural_key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    valid_from: Mapped[int] = mapped_column(Integer)
    valid_to: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
