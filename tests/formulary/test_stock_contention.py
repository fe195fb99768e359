"""Stock never goes negative under concurrent orders (issue 5 §6): 20 reservations race for 5 packages
on separate connections with real commits — exactly 5 win, on SQLite and PostgreSQL alike; and
multi-line orders naming the same drugs in opposite orders neither deadlock nor oversell."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, select

from ihis.formulary.models import Drug, DrugRevision, DrugStock, Pharmacy, StockReservation
from ihis.formulary.service import OutOfStock, reserve
from ihis.platform.db import Database
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_formulary import make_drug, make_pharmacy, set_stock

pytestmark = pytest.mark.commits

ORDERS = 20
STOCK = 5


@pytest.fixture
def committed(base_settings: Settings, engine: Engine) -> Iterator[tuple[Database, dict[str, int]]]:
    """A Database that really commits; the formulary rows made are removed afterwards."""
    database = Database(base_settings)
    made: dict[str, int] = {}
    try:
        yield database, made
    finally:
        with database.unit_of_work() as db:
            inst = made.get("institution_id", -1)
            for model in (StockReservation, DrugStock, DrugRevision, Drug, Pharmacy):
                db.execute(delete(model).where(model.institution_id == inst))
        database.dispose()


def _race(
    database: Database, institution_id: int, pharmacy_id: int, orders: list[list[tuple[int, int]]]
) -> Counter[str]:
    barrier = threading.Barrier(len(orders))

    def one(index: int) -> str:
        barrier.wait()
        try:
            with database.unit_of_work() as db:
                reserve(db, institution_id, pharmacy_id, f"rx:{index}", orders[index])
            return "reserved"
        except OutOfStock:
            return "out_of_stock"

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        return Counter(pool.map(one, range(len(orders))))


def _stock(database: Database, pharmacy_id: int) -> list[tuple[int, int]]:
    with database.unit_of_work(write=False) as db:
        rows = db.scalars(
            select(DrugStock).where(DrugStock.pharmacy_id == pharmacy_id).order_by(DrugStock.drug_id)
        )
        return [(r.on_hand, r.reserved) for r in rows]


def test_twenty_concurrent_reservations_on_five_packages_get_exactly_five(
    committed: tuple[Database, dict[str, int]],
) -> None:
    database, made = committed
    with database.unit_of_work() as db:
        inst = make_institution(db)
        made["institution_id"] = inst.id
        pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
        set_stock(db, pharmacy, drug, on_hand=STOCK)
        ids = (inst.id, pharmacy.id, drug.id)

    outcome = _race(database, ids[0], ids[1], [[(ids[2], 1)] for _ in range(ORDERS)])

    assert outcome == Counter({"reserved": STOCK, "out_of_stock": ORDERS - STOCK})
    assert _stock(database, ids[1]) == [(STOCK, STOCK)]
    with database.unit_of_work(write=False) as db:
        held = db.scalars(select(StockReservation.quantity).where(StockReservation.institution_id == ids[0]))
        assert sum(held) == STOCK


def test_multi_line_orders_in_opposite_orders_neither_deadlock_nor_oversell(
    committed: tuple[Database, dict[str, int]],
) -> None:
    database, made = committed
    with database.unit_of_work() as db:
        inst = make_institution(db)
        made["institution_id"] = inst.id
        pharmacy = make_pharmacy(db, inst)
        first, second = make_drug(db, inst), make_drug(db, inst)
        set_stock(db, pharmacy, first, on_hand=STOCK)
        set_stock(db, pharmacy, second, on_hand=STOCK)
        inst_id, pharmacy_id, a, b = inst.id, pharmacy.id, first.id, second.id

    orders = [[(a, 1), (b, 1)] if i % 2 else [(b, 1), (a, 1)] for i in range(ORDERS)]
    outcome = _race(database, inst_id, pharmacy_id, orders)

    assert outcome == Counter({"reserved": STOCK, "out_of_stock": ORDERS - STOCK})
    assert _stock(database, pharmacy_id) == [(STOCK, STOCK), (STOCK, STOCK)]
