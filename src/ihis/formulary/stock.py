"""Stock per pharmacy: reservation when an order is paid, release when it is cancelled, consumption
when it is dispensed, restocking when an intact parcel comes back, manual adjustments, and the pull
of a partner supplier's stock.

Every movement is one conditional UPDATE (``on_hand - reserved >= :qty``), so concurrent orders can
never take stock below zero (a CHECK constraint backs it). Reservations are rows keyed by the
order's ``ref`` (``rx:123``): reserving the same ref again returns the same lines, releasing or
consuming twice does nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.formulary.guarded import moved
from ihis.formulary.models import Drug, DrugStock, Pharmacy, StockReservation
from ihis.identity.access import Actor
from ihis.integrations.supplier.protocol import SupplierGateway
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound

log = structlog.get_logger(__name__)


class OutOfStock(Conflict):
    """A line cannot be reserved: not enough available stock (TCM 8.2.6.4: out of stock blocks the line)."""

    code = "out_of_stock"
    title_zh = "库存不足"
    title_en = "Out of stock"


@dataclass(frozen=True)
class ReservedLine:
    drug_id: int
    quantity: int
    status: str


def get_pharmacy(db: Session, institution_id: int, pharmacy_id: int) -> Pharmacy:
    """A pharmacy of this institution, or 404."""
    pharmacy = db.scalar(
        select(Pharmacy).where(Pharmacy.id == pharmacy_id, Pharmacy.institution_id == institution_id)
    )
    if pharmacy is None:
        raise NotFound("药房不存在", "Pharmacy not found")
    return pharmacy


def _existing(db: Session, institution_id: int, ref: str) -> list[StockReservation]:
    return list(
        db.scalars(
            select(StockReservation)
            .where(StockReservation.institution_id == institution_id, StockReservation.ref == ref)
            .order_by(StockReservation.drug_id)
        )
    )


def _merged(lines: Sequence[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """drug_id -> (first line index, total quantity); quantities must be positive."""
    merged: dict[int, tuple[int, int]] = {}
    for index, (drug_id, quantity) in enumerate(lines):
        if quantity <= 0:
            raise InvalidInput.field(
                f"lines.{index}.quantity", "quantity_invalid", "数量须为正整数", "Quantity must be positive"
            )
        first, total = merged.get(drug_id, (index, 0))
        merged[drug_id] = (first, total + quantity)
    if not merged:
        raise InvalidInput.field("lines", "lines_empty", "没有药品明细", "No lines")
    return merged


def reserve(
    db: Session, institution_id: int, pharmacy_id: int, ref: str, lines: Sequence[tuple[int, int]]
) -> list[ReservedLine]:
    """Reserve every line (drug id, packages) at the pharmacy, all or nothing; idempotent per ref."""
    pharmacy = get_pharmacy(db, institution_id, pharmacy_id)
    merged = _merged(lines)
    wanted = {(drug_id, total) for drug_id, (_, total) in merged.items()}
    existing = _existing(db, institution_id, ref)
    if existing:
        held = {(r.drug_id, r.quantity) for r in existing}
        if held == wanted and all(r.status == "reserved" and r.pharmacy_id == pharmacy.id for r in existing):
            return [ReservedLine(r.drug_id, r.quantity, r.status) for r in existing]
        raise Conflict("该订单已有不同的库存预留", "This ref already holds a different reservation")
    try:
        with db.begin_nested():
            # Rows in drug-id order, so two multi-line orders never lock in opposite orders (PostgreSQL).
            for drug_id in sorted(merged):
                index, quantity = merged[drug_id]
                changed = moved(
                    db,
                    update(DrugStock)
                    .where(
                        DrugStock.institution_id == institution_id,
                        DrugStock.pharmacy_id == pharmacy.id,
                        DrugStock.drug_id == drug_id,
                        DrugStock.on_hand - DrugStock.reserved >= quantity,
                    )
                    .values(reserved=DrugStock.reserved + quantity, updated_at=utcnow()),
                )
                if changed != 1:
                    raise OutOfStock(
                        "库存不足",
                        "Not enough stock",
                        errors=[
                            FieldError(
                                f"lines.{index}.quantity",
                                "out_of_stock",
                                "该药品在所选药房库存不足",
                                "Not enough stock of this drug at the chosen pharmacy",
                            )
                        ],
                    )
                db.add(
                    StockReservation(
                        institution_id=institution_id,
                        ref=ref,
                        pharmacy_id=pharmacy.id,
                        drug_id=drug_id,
                        quantity=quantity,
                        status="reserved",
                    )
                )
            db.flush()
    except IntegrityError as exc:  # the same ref reserved concurrently: that one won
        raise Conflict("该订单正在预留库存", "This ref is being reserved concurrently") from exc
    return [ReservedLine(d, merged[d][1], "reserved") for d in sorted(merged)]


def _settle(db: Session, institution_id: int, ref: str, to: str) -> int:
    """Move every reserved line of ``ref`` to ``released`` or ``consumed``; returns lines moved."""
    settled = 0
    for row in _existing(db, institution_id, ref):
        claimed = moved(
            db,
            update(StockReservation)
            .where(StockReservation.id == row.id, StockReservation.status == "reserved")
            .values(status=to, updated_at=utcnow()),
        )
        if claimed != 1:
            continue  # already settled: idempotent
        values = {"reserved": DrugStock.reserved - row.quantity, "updated_at": utcnow()}
        guard = [DrugStock.reserved >= row.quantity]
        if to == "consumed":
            values["on_hand"] = DrugStock.on_hand - row.quantity
            guard.append(DrugStock.on_hand >= row.quantity)
        done = moved(
            db,
            update(DrugStock)
            .where(
                DrugStock.institution_id == institution_id,
                DrugStock.pharmacy_id == row.pharmacy_id,
                DrugStock.drug_id == row.drug_id,
                *guard,
            )
            .values(**values),
        )
        if done != 1:  # pragma: no cover - the CHECK constraint and the guards make this unreachable
            raise Conflict("库存记录不一致", "Stock record inconsistent")
        settled += 1
    return settled


def release(db: Session, institution_id: int, ref: str) -> int:
    """Give back the stock reserved for ``ref`` (order cancelled or refunded before dispensing)."""
    return _settle(db, institution_id, ref, "released")


def consume(db: Session, institution_id: int, ref: str) -> int:
    """The reserved drugs of ``ref`` were dispensed: on_hand and reserved both drop."""
    return _settle(db, institution_id, ref, "consumed")


def restock(db: Session, institution_id: int, ref: str, *, actor: AuditContext) -> int:
    """An intact returned parcel: the consumed drugs of ``ref`` go back on the shelf, held for ``ref``
    again (consumed -> reserved; on_hand and reserved both rise); a later release frees them, a later
    consume ships them again. Each line moves once (guarded), so a repeated call returns 0; audited."""
    restocked = 0
    for row in _existing(db, institution_id, ref):
        claimed = moved(
            db,
            update(StockReservation)
            .where(StockReservation.id == row.id, StockReservation.status == "consumed")
            .values(status="reserved", updated_at=utcnow()),
        )
        if claimed != 1:
            continue  # not consumed (never shipped, or already back): nothing to put back
        done = moved(
            db,
            update(DrugStock)
            .where(
                DrugStock.institution_id == institution_id,
                DrugStock.pharmacy_id == row.pharmacy_id,
                DrugStock.drug_id == row.drug_id,
            )
            .values(
                on_hand=DrugStock.on_hand + row.quantity,
                reserved=DrugStock.reserved + row.quantity,
                updated_at=utcnow(),
            ),
        )
        if done != 1:  # pragma: no cover - a consumed line always has its stock row
            raise Conflict("库存记录不一致", "Stock record inconsistent")
        audit.record(
            db,
            actor,
            "formulary.stock.restock",
            resource_type="stock_reservation",
            resource_id=row.id,
            detail={
                "ref": ref,
                "pharmacy_id": row.pharmacy_id,
                "drug_id": row.drug_id,
                "quantity": row.quantity,
            },
        )
        restocked += 1
    return restocked


def adjust(db: Session, actor: Actor, pharmacy_id: int, drug_id: int, delta: int, reason: str) -> DrugStock:
    """A manual stock correction (count, breakage, delivery) with a reason; audited."""
    pharmacy = get_pharmacy(db, actor.institution_id, pharmacy_id)
    drug = db.scalar(select(Drug).where(Drug.id == drug_id, Drug.institution_id == actor.institution_id))
    if drug is None:
        raise NotFound("药品不存在", "Drug not found")
    if delta == 0:
        raise InvalidInput.field("body.delta", "delta_zero", "调整数量不能为 0", "The change cannot be zero")
    stock = ensure_stock_row(db, actor.institution_id, pharmacy.id, drug.id)
    changed = moved(
        db,
        update(DrugStock)
        .where(DrugStock.id == stock.id, DrugStock.on_hand + delta >= DrugStock.reserved)
        .values(on_hand=DrugStock.on_hand + delta, updated_at=utcnow()),
    )
    if changed != 1:
        raise InvalidInput.field(
            "body.delta",
            "below_reserved",
            "调整后库存将低于已预留数量",
            "On-hand stock would fall below what is reserved",
        )
    db.refresh(stock)
    audit.record(
        db,
        actor.audit(),
        "formulary.stock.adjust",
        resource_type="drug_stock",
        resource_id=stock.id,
        detail={"pharmacy_id": pharmacy.id, "drug_id": drug.id, "delta": delta, "reason": reason},
    )
    return stock


def ensure_stock_row(db: Session, institution_id: int, pharmacy_id: int, drug_id: int) -> DrugStock:
    """The stock row of (pharmacy, drug), created empty if missing (race-safe by the unique key)."""
    query = select(DrugStock).where(DrugStock.pharmacy_id == pharmacy_id, DrugStock.drug_id == drug_id)
    stock = db.scalar(query)
    if stock is not None:
        return stock
    try:
        with db.begin_nested():
            stock = DrugStock(
                institution_id=institution_id,
                pharmacy_id=pharmacy_id,
                drug_id=drug_id,
                on_hand=0,
                reserved=0,
                updated_at=utcnow(),
            )
            db.add(stock)
            db.flush()
        return stock
    except IntegrityError:
        found = db.scalar(query)
        assert found is not None
        return found


def sync_supplier(
    database: Database,
    pharmacy_id: int,
    *,
    gateway: SupplierGateway | None = None,
    actor: AuditContext | None = None,
) -> int:
    """Pull a partner supplier's stock into ``drug_stock`` for its pharmacy; returns rows updated.

    The supplier's figure is what it can still deliver; our own unconsumed reservations stay
    covered (on_hand never drops below reserved), so the available stock shown is conservative.
    """
    with database.unit_of_work(write=False) as db:
        pharmacy = db.get(Pharmacy, pharmacy_id)
        if pharmacy is None or pharmacy.kind != "supplier":
            raise NotFound("合作药房不存在", "Supplier pharmacy not found")
        institution_id = pharmacy.institution_id
        active = select(Drug.code, Drug.id).where(
            Drug.institution_id == institution_id, Drug.status == "active"
        )
        codes: dict[str, int] = {row.code: row.id for row in db.execute(active)}
        client = gateway or supplier_gateway(pharmacy)
    # The outside call happens outside any transaction (no lock held while we wait on the network).
    levels = client.stock(sorted(codes)) if codes else {}
    # A code the supplier no longer answers for is one it cannot deliver: 0 (above our reservations).
    wanted = {drug_id: max(0, levels.get(code, 0)) for code, drug_id in codes.items()}
    updated = 0
    with database.unit_of_work() as db:
        held = set(db.scalars(select(DrugStock.drug_id).where(DrugStock.pharmacy_id == pharmacy_id)))
        for drug_id, quantity in sorted(wanted.items()):
            if quantity == 0 and drug_id not in held:
                continue  # no row and nothing to record
            stock = ensure_stock_row(db, institution_id, pharmacy_id, drug_id)
            updated += moved(
                db,
                update(DrugStock)
                .where(DrugStock.id == stock.id)
                .values(
                    on_hand=case((DrugStock.reserved > quantity, DrugStock.reserved), else_=quantity),
                    updated_at=utcnow(),
                ),
            )
        db.execute(update(Pharmacy).where(Pharmacy.id == pharmacy_id).values(last_synced_at=utcnow()))
        if actor is not None:
            audit.record(
                db,
                actor,
                "formulary.stock.sync",
                resource_type="pharmacy",
                resource_id=pharmacy_id,
                detail={"updated": updated},
            )
    log.info("supplier_stock_synced", pharmacy_id=pharmacy_id, updated=updated)
    return updated


def supplier_gateway(pharmacy: Pharmacy) -> SupplierGateway:
    """The adapter that talks to a supplier pharmacy (its URL and app id, else settings/sandbox)."""
    from ihis.integrations.supplier.client import SupplierClient, SupplierConfig
    from ihis.platform import jobs

    runtime = jobs.runtime()
    config = SupplierConfig.for_pharmacy(runtime.settings, pharmacy.supplier_url, pharmacy.supplier_app_id)
    return SupplierClient(runtime.http, config)
