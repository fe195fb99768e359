"""Stock never goes negative under concurrent paid orders (issue 5 §6): 8 orders for the last 3 packages
are paid at once on separate connections with real commits — exactly 3 get their drugs reserved, the
others are refunded in full; on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from ihis.billing import service as billing
from ihis.billing.models import Bill, Refund
from ihis.drug_orders import payment
from ihis.drug_orders.models import DrugOrder
from ihis.drug_orders.ordering import create_for_prescription
from ihis.formulary.demo import seed_demo_formulary
from ihis.formulary.models import DrugStock, Pharmacy
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from tests.factories_drug_orders import approved_prescription
from tests.factories_registration import booking_world, make_booker

pytestmark = pytest.mark.commits

ORDERS = 8
STOCK = 3


def test_concurrent_paid_orders_never_take_more_than_the_stock(
    committed: tuple[Database, dict[str, int]],
) -> None:
    database, made = committed
    bills: list[tuple[str, int]] = []
    with database.unit_of_work() as db:
        world = booking_world(db, capacity=ORDERS + 1)
        made["institution_id"] = world.inst.id
        drugs = seed_demo_formulary(db, world.inst.id)
        hospital = db.scalar(
            select(Pharmacy).where(Pharmacy.institution_id == world.inst.id, Pharmacy.kind == "hospital")
        )
        assert hospital is not None
        db.execute(
            update(DrugStock)
            .where(DrugStock.pharmacy_id == hospital.id, DrugStock.drug_id == drugs["D001"])
            .values(on_hand=STOCK, reserved=0)
        )
        for _ in range(ORDERS):
            who = make_booker(db, world)
            rx = approved_prescription(db, world, who, drugs, [("D001", 1)])
            order = create_for_prescription(db, rx.id)
            assert order is not None
            bill = billing.create_bill(
                db,
                institution_id=world.inst.id,
                payer_account_id=who.account.id,
                kind="drug",
                subject="药品费",
                reference_type="drug_order",
                reference_id=f"{order.id}-1",
                amount_fen=order.total_fen,
                expires_at=utcnow().replace(year=utcnow().year + 1),
            )
            db.execute(update(Bill).where(Bill.id == bill.id).values(status="paid", channel="wechat"))
            db.execute(
                update(DrugOrder)
                .where(DrugOrder.id == order.id)
                .values(
                    status="awaiting_payment",
                    pickup="window",
                    pharmacy_id=hospital.id,
                    bill_id=bill.id,
                    bill_attempt=1,
                )
            )
            bills.append((bill.reference_id, bill.id))
        ids = (hospital.id, drugs["D001"])

    barrier = threading.Barrier(ORDERS)

    def one(index: int) -> None:
        barrier.wait()
        reference_id, bill_id = bills[index]
        with database.unit_of_work() as db:
            payment.mark_paid(db, reference_id, bill_id)

    with ThreadPoolExecutor(max_workers=ORDERS) as pool:
        list(pool.map(one, range(ORDERS)))

    with database.unit_of_work(write=False) as db:
        statuses = Counter(
            db.scalars(select(DrugOrder.status).where(DrugOrder.institution_id == made["institution_id"]))
        )
        assert statuses == Counter({"paid": STOCK, "refunded": ORDERS - STOCK})
        row = db.scalar(select(DrugStock).where(DrugStock.pharmacy_id == ids[0], DrugStock.drug_id == ids[1]))
        assert row is not None and (row.on_hand, row.reserved) == (STOCK, STOCK)
        refunds = db.scalars(select(Refund.bill_id).where(Refund.institution_id == made["institution_id"]))
        assert len(set(refunds)) == ORDERS - STOCK
