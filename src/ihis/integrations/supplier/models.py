"""Tables of the sandbox supplier (demo and tests only): the supplier's own stock, the orders it
accepted, and the nonces it has seen (replay protection). The supplier's side of the wire."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, IntPk, UtcDateTime


class SandboxSupplierStock(Base):
    """Packages of one drug code the simulated supplier holds (per app id = per customer)."""

    __tablename__ = "sandbox_supplier_stock"
    __table_args__ = (UniqueConstraint("app_id", "drug_code"),)

    id: Mapped[IntPk]
    app_id: Mapped[str] = mapped_column(String(64))
    drug_code: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)


class SandboxSupplierOrder(Base):
    """One order the simulated supplier accepted (unique per customer order ref: idempotent push)."""

    __tablename__ = "sandbox_supplier_order"
    __table_args__ = (UniqueConstraint("app_id", "order_ref"),)

    id: Mapped[IntPk]
    app_id: Mapped[str] = mapped_column(String(64))
    order_ref: Mapped[str] = mapped_column(String(64))
    supplier_order_no: Mapped[str] = mapped_column(String(40))
    lines: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxSupplierNonce(Base):
    """A request nonce the simulated supplier has seen."""

    __tablename__ = "sandbox_supplier_nonce"

    id: Mapped[IntPk]
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
