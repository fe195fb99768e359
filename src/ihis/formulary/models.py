"""Tables of the formulary: the drug catalogue, its change control, pharmacies and stock.

- ``drug`` — 药品目录: one catalogue row per drug code and institution (DOMAIN §6 fields).
- ``drug_proposal`` — 目录变更申请: every add / change / disable awaits a senior pharmacist (BJ 5.6.3).
- ``drug_revision`` — one row per published version of a drug (who proposed, who approved, before/after).
- ``pharmacy`` — 药房: the hospital pharmacy, or a partner supplier reached through an adapter.
- ``drug_stock`` — 库存 per (pharmacy, drug): ``on_hand`` and ``reserved`` packages.
- ``stock_reservation`` — one reserved line of an order (``ref`` like ``rx:123``), so reserve,
  release and consume are idempotent per ref.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
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
from sqlalchemy.types import TypeDecorator

from ihis.formulary.facts import CONTROL_CLASSES, NEVER_ONLINE
from ihis.platform.db import Base, BigId, InstitutionScoped, IntPk, Timestamped, UtcDateTime


def _sql_list(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


class DecimalString(TypeDecorator[Decimal]):
    """An exact decimal stored as its canonical text on both databases (never a float)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("DecimalString takes Decimal values only")
        return format(value.normalize(), "f")

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class Drug(InstitutionScoped, Timestamped, Base):
    """药品 — one drug of the institution's catalogue (published state; changes go through proposals)."""

    __tablename__ = "drug"
    __table_args__ = (
        UniqueConstraint("institution_id", "code"),
        CheckConstraint(f"control_class IN ({_sql_list(CONTROL_CLASSES)})", name="control_class_known"),
        # DOMAIN §5 / BJ 5.6.3: never-online classes can never be in the online formulary.
        CheckConstraint(
            f"NOT online OR control_class NOT IN ({_sql_list(NEVER_ONLINE)})", name="never_online_offline"
        ),
        CheckConstraint("kind IN ('western', 'patent', 'herbal')", name="kind_known"),
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        CheckConstraint("price_fen >= 0 AND pack_size > 0", name="price_pack_valid"),
        Index("ix_drug_institution_pinyin", "institution_id", "pinyin"),
    )

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(32))
    generic_name: Mapped[str] = mapped_column(String(128))
    trade_name: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    form: Mapped[str] = mapped_column(String(32))
    strength: Mapped[str] = mapped_column(String(64))
    dose_unit: Mapped[str] = mapped_column(String(16))
    unit_amount: Mapped[Decimal] = mapped_column(DecimalString())
    dispense_unit: Mapped[str] = mapped_column(String(16))
    pack_size: Mapped[int] = mapped_column(Integer)
    package_unit: Mapped[str] = mapped_column(String(16))
    approval_number: Mapped[str | None] = mapped_column(String(32))
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    batch: Mapped[str | None] = mapped_column(String(32))
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    price_fen: Mapped[int] = mapped_column(Integer)
    insurance_code: Mapped[str | None] = mapped_column(String(23))
    control_class: Mapped[str] = mapped_column(String(24), default="none")
    high_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    monitoring: Mapped[list[str]] = mapped_column(JSON, default=list)
    ingredients: Mapped[list[str]] = mapped_column(JSON, default=list)
    classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    routes: Mapped[list[str]] = mapped_column(JSON, default=list)
    instructions: Mapped[str | None] = mapped_column(Text)
    # Upper-case pinyin initials of the generic and trade names, space separated ("AMXLJN ...").
    pinyin: Mapped[str] = mapped_column(String(160), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)


class DrugProposal(InstitutionScoped, Timestamped, Base):
    """目录变更申请 — a proposed add / change / disable / enable awaiting a senior pharmacist."""

    __tablename__ = "drug_proposal"
    __table_args__ = (
        CheckConstraint("kind IN ('add', 'change', 'disable', 'enable')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')", name="status_known"),
        Index("ix_drug_proposal_institution_status", "institution_id", "status"),
    )

    id: Mapped[IntPk]
    kind: Mapped[str] = mapped_column(String(16))
    drug_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("drug.id"))
    code: Mapped[str] = mapped_column(String(32))
    base_version: Mapped[int | None] = mapped_column(Integer)  # the drug version the change is based on
    # Canonical JSON (sorted keys) of the proposed field values: all fields for an add, the changed
    # ones for a change, {} for disable/enable.
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(500))
    batch_ref: Mapped[str | None] = mapped_column(String(40), index=True)  # one import's proposals
    status: Mapped[str] = mapped_column(String(16), default="pending")
    proposed_by: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id"))
    proposed_by_name: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    decided_by_name: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(500))


class DrugRevision(InstitutionScoped, Base):
    """One published version of a drug: the snapshot before and after, and who did it."""

    __tablename__ = "drug_revision"
    __table_args__ = (UniqueConstraint("drug_id", "version"),)

    id: Mapped[IntPk]
    drug_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    proposal_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("drug_proposal.id"))
    before: Mapped[str | None] = mapped_column(Text)  # canonical JSON snapshot, None for an add
    after: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    proposed_by_name: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("user_account.id"))
    approved_by_name: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Pharmacy(InstitutionScoped, Timestamped, Base):
    """药房 — the hospital pharmacy, or a partner supplier (stock and orders through an adapter)."""

    __tablename__ = "pharmacy"
    __table_args__ = (
        UniqueConstraint("institution_id", "code"),
        CheckConstraint("kind IN ('hospital', 'supplier')", name="kind_known"),
    )

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # For a supplier: the adapter ("sandbox" or "http") and the supplier's base URL and app id.
    supplier_adapter: Mapped[str | None] = mapped_column(String(32))
    supplier_url: Mapped[str | None] = mapped_column(String(255))
    supplier_app_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class DrugStock(InstitutionScoped, Base):
    """库存 — packages of one drug at one pharmacy; ``on_hand - reserved`` is available."""

    __tablename__ = "drug_stock"
    __table_args__ = (
        UniqueConstraint("pharmacy_id", "drug_id"),
        # Stock never goes negative, whatever a bug or a race might try (conditional UPDATEs first).
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[IntPk]
    pharmacy_id: Mapped[int] = mapped_column(BigId, ForeignKey("pharmacy.id"), index=True)
    drug_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class StockReservation(InstitutionScoped, Timestamped, Base):
    """One reserved line of an order (``ref`` names the order, e.g. ``rx:123``)."""

    __tablename__ = "stock_reservation"
    __table_args__ = (
        UniqueConstraint("ref", "drug_id", "institution_id"),
        CheckConstraint("status IN ('reserved', 'released', 'consumed')", name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[IntPk]
    ref: Mapped[str] = mapped_column(String(64), index=True)
    pharmacy_id: Mapped[int] = mapped_column(BigId, ForeignKey("pharmacy.id"))
    drug_id: Mapped[int] = mapped_column(BigId, ForeignKey("drug.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="reserved")
