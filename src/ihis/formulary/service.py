"""The formulary's stable service API for the prescribing and order domains (docs/formulary.md).

Other domains use only these functions and plain values (``DrugFacts``, ``StockLevel``); no ORM
row crosses the boundary:

- ``drug_facts(db, institution_id, drug_ids) -> dict[int, DrugFacts]``
- ``search_facts(db, institution_id, q, kind=None, limit=20) -> list[DrugFacts]`` — active drugs,
  online ones and never-online ones alike (``DrugFacts.never_online`` flags the latter, so the
  prescriber sees why they are blocked);
- ``stock_levels(db, institution_id, drug_ids) -> dict[int, list[StockLevel]]``;
- ``reserve(db, institution_id, pharmacy_id, ref, lines)`` all or nothing, ``OutOfStock`` (409)
  naming ``lines.<i>.quantity``; ``release(db, institution_id, ref)``; ``consume(db, institution_id,
  ref)`` — idempotent per ``ref``.

All of them flush only; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import to_facts
from ihis.formulary.facts import DrugFacts
from ihis.formulary.models import Drug, DrugStock, Pharmacy
from ihis.formulary.stock import OutOfStock, consume, release, reserve

__all__ = [
    "OutOfStock",
    "StockLevel",
    "consume",
    "drug_facts",
    "drug_query",
    "release",
    "reserve",
    "search_facts",
    "stock_levels",
]


@dataclass(frozen=True)
class StockLevel:
    """Available packages of one drug at one pharmacy, as the prescriber sees it."""

    pharmacy_id: int
    pharmacy_name: str
    kind: str  # hospital | supplier
    available: int


def drug_facts(db: Session, institution_id: int, drug_ids: Iterable[int]) -> dict[int, DrugFacts]:
    """Facts of these drugs of the institution (unknown ids and other institutions' are left out)."""
    ids = set(drug_ids)
    if not ids:
        return {}
    rows = db.scalars(select(Drug).where(Drug.institution_id == institution_id, Drug.id.in_(ids)))
    return {drug.id: to_facts(drug) for drug in rows}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matches(q: str) -> ColumnElement[bool]:
    """Name (generic or trade), code prefix, or pinyin initials (``AMXL`` finds 阿莫西林)."""
    text = _escape_like(q.strip())
    upper = text.upper()
    return or_(
        Drug.generic_name.like(f"%{text}%", escape="\\"),
        Drug.trade_name.like(f"%{text}%", escape="\\"),
        func.upper(Drug.code).like(f"{upper}%", escape="\\"),
        Drug.pinyin.like(f"{upper}%", escape="\\"),
        Drug.pinyin.like(f"% {upper}%", escape="\\"),
    )


def drug_query(
    institution_id: int,
    q: str | None = None,
    *,
    kind: str | None = None,
    online: bool | None = None,
    status: str | None = None,
) -> Select[Any]:
    """The catalogue query with the usual filters (ordered by code)."""
    query = select(Drug).where(Drug.institution_id == institution_id)
    if q and q.strip():
        query = query.where(_matches(q))
    if kind:
        query = query.where(Drug.kind == kind)
    if online is not None:
        query = query.where(Drug.online.is_(online))
    if status:
        query = query.where(Drug.status == status)
    return query.order_by(Drug.code)


def search_facts(
    db: Session, institution_id: int, q: str, kind: str | None = None, limit: int = 20
) -> list[DrugFacts]:
    """Active drugs matching ``q`` — online and never-online alike (the latter flagged)."""
    query = drug_query(institution_id, q, kind=kind, status="active").limit(max(1, min(limit, 100)))
    return [to_facts(drug) for drug in db.scalars(query)]


def stock_levels(db: Session, institution_id: int, drug_ids: Iterable[int]) -> dict[int, list[StockLevel]]:
    """Available stock of each drug at each active pharmacy of the institution (hospital first)."""
    ids = set(drug_ids)
    levels: dict[int, list[StockLevel]] = {i: [] for i in ids}
    if not ids:
        return levels
    rows = db.execute(
        select(
            DrugStock.drug_id,
            Pharmacy.id,
            Pharmacy.name,
            Pharmacy.kind,
            DrugStock.on_hand,
            DrugStock.reserved,
        )
        .join(Pharmacy, Pharmacy.id == DrugStock.pharmacy_id)
        .where(
            DrugStock.institution_id == institution_id,
            Pharmacy.institution_id == institution_id,
            Pharmacy.active.is_(True),
            DrugStock.drug_id.in_(ids),
        )
        .order_by(Pharmacy.kind, Pharmacy.id)
    )
    for drug_id, pharmacy_id, name, kind, on_hand, reserved in rows:
        levels[drug_id].append(StockLevel(pharmacy_id, name, kind, max(0, on_hand - reserved)))
    return levels
