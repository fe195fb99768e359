"""Stock: reservation all or nothing and idempotent per ref, release, consumption, adjustments."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.formulary.models import DrugStock, StockReservation
from ihis.formulary.service import OutOfStock, consume, release, reserve, stock_levels
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from tests.factories import make_institution
from tests.factories_formulary import make_drug, make_pharmacy, set_stock


def _stock(db: Session, pharmacy_id: int, drug_id: int) -> tuple[int, int]:
    row = db.scalar(
        select(DrugStock).where(DrugStock.pharmacy_id == pharmacy_id, DrugStock.drug_id == drug_id)
    )
    assert row is not None
    db.refresh(row)
    return row.on_hand, row.reserved


def test_reserve_holds_stock_and_is_idempotent_per_ref(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=5)
    lines = reserve(db, inst.id, pharmacy.id, "rx:1", [(drug.id, 2)])
    assert [(line.drug_id, line.quantity, line.status) for line in lines] == [(drug.id, 2, "reserved")]
    again = reserve(db, inst.id, pharmacy.id, "rx:1", [(drug.id, 2)])
    assert again == lines
    assert _stock(db, pharmacy.id, drug.id) == (5, 2)
    with pytest.raises(Conflict):
        reserve(db, inst.id, pharmacy.id, "rx:1", [(drug.id, 3)])


def test_reserving_more_than_available_names_the_line_and_reserves_nothing(db: Session) -> None:
    inst = make_institution(db)
    pharmacy = make_pharmacy(db, inst)
    plenty, scarce = make_drug(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, plenty, on_hand=100)
    set_stock(db, pharmacy, scarce, on_hand=3, reserved=2)
    with pytest.raises(OutOfStock) as caught:
        reserve(db, inst.id, pharmacy.id, "rx:2", [(plenty.id, 10), (scarce.id, 2)])
    assert caught.value.status == 409 and caught.value.code == "out_of_stock"
    assert [(e.field, e.code) for e in caught.value.errors] == [("lines.1.quantity", "out_of_stock")]
    assert _stock(db, pharmacy.id, plenty.id) == (100, 0)  # all or nothing
    assert db.scalar(select(StockReservation.id).where(StockReservation.ref == "rx:2")) is None


def test_a_drug_without_a_stock_row_is_out_of_stock(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    with pytest.raises(OutOfStock) as caught:
        reserve(db, inst.id, pharmacy.id, "rx:3", [(drug.id, 1)])
    assert caught.value.errors[0].field == "lines.0.quantity"


def test_exactly_the_available_quantity_can_be_reserved(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=5, reserved=1)
    reserve(db, inst.id, pharmacy.id, "rx:4", [(drug.id, 4)])
    with pytest.raises(OutOfStock):
        reserve(db, inst.id, pharmacy.id, "rx:5", [(drug.id, 1)])


def test_lines_of_one_drug_are_added_up(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=3)
    with pytest.raises(OutOfStock) as caught:
        reserve(db, inst.id, pharmacy.id, "rx:6", [(drug.id, 2), (drug.id, 2)])
    assert caught.value.errors[0].field == "lines.0.quantity"
    reserve(db, inst.id, pharmacy.id, "rx:6", [(drug.id, 1), (drug.id, 2)])
    assert _stock(db, pharmacy.id, drug.id) == (3, 3)


@pytest.mark.parametrize("quantity", [0, -1])
def test_quantity_must_be_positive(db: Session, quantity: int) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    with pytest.raises(InvalidInput) as caught:
        reserve(db, inst.id, pharmacy.id, "rx:7", [(drug.id, quantity)])
    assert caught.value.errors[0].field == "lines.0.quantity"


def test_release_gives_stock_back_once(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=5)
    reserve(db, inst.id, pharmacy.id, "rx:8", [(drug.id, 2)])
    assert release(db, inst.id, "rx:8") == 1
    assert release(db, inst.id, "rx:8") == 0
    assert _stock(db, pharmacy.id, drug.id) == (5, 0)
    assert consume(db, inst.id, "rx:8") == 0  # a released reservation is never dispensed


def test_consume_takes_on_hand_and_reserved_down_once(db: Session) -> None:
    inst = make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=5)
    reserve(db, inst.id, pharmacy.id, "rx:9", [(drug.id, 2)])
    assert consume(db, inst.id, "rx:9") == 1
    assert consume(db, inst.id, "rx:9") == 0
    assert release(db, inst.id, "rx:9") == 0
    assert _stock(db, pharmacy.id, drug.id) == (3, 0)
    assert stock_levels(db, inst.id, [drug.id])[drug.id][0].available == 3


def test_another_institutions_pharmacy_or_ref_is_out_of_reach(db: Session) -> None:
    inst, other = make_institution(db), make_institution(db)
    pharmacy, drug = make_pharmacy(db, inst), make_drug(db, inst)
    set_stock(db, pharmacy, drug, on_hand=5)
    with pytest.raises(NotFound):
        reserve(db, other.id, pharmacy.id, "rx:10", [(drug.id, 1)])
    reserve(db, inst.id, pharmacy.id, "rx:10", [(drug.id, 1)])
    assert release(db, other.id, "rx:10") == 0
    assert _stock(db, pharmacy.id, drug.id) == (5, 1)
