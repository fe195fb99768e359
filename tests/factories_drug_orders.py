"""Factories for drug orders: an approved prescription built as rows (the review's HTTP path is tested
in tests/prescribing), its order, the patient's address, a paid order, pharmacy staff.

ow = order_world(db)                      # patient (consented) + approved prescription + its order
confirm(client, ow, pickup="window")      # the patient is logged in; returns the order json
paid(db, ow)                              # the bill marked paid the way billing's notify does
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.consultation.models import Consultation
from ihis.drug_orders import payment
from ihis.drug_orders.models import DrugOrder
from ihis.drug_orders.ordering import create_for_prescription
from ihis.formulary.demo import seed_demo_formulary
from ihis.formulary.models import Drug, DrugStock, Pharmacy
from ihis.identity.models import UserAccount
from ihis.platform import outbox
from ihis.platform.clock import local_today, utcnow
from ihis.prescribing.models import Prescription, PrescriptionLine
from ihis.registration.models import Registration
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_staff
from tests.factories_billing import mount_billing
from tests.factories_formulary import mount_formulary
from tests.factories_logistics import mount_logistics
from tests.factories_registration import Booker, World, booking_world, make_booker

API = "/api/v1"
_seq = itertools.count(1)


def mount_drug_orders(application: FastAPI) -> FastAPI:
    """Include the drug-order routers (/api/v1), billing and the courier sandbox unless already there."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/me/drug-orders" not in paths:
        from ihis.drug_orders.api import router
        from ihis.drug_orders.pharmacy_api import router as pharmacy_router

        application.include_router(router, prefix="/api/v1")
        application.include_router(pharmacy_router, prefix="/api/v1")
    return mount_formulary(mount_logistics(mount_billing(application)))


@dataclass
class OrderWorld:
    world: World
    who: Booker
    rx: Prescription
    order: DrugOrder
    drugs: dict[str, int]
    hospital: Pharmacy
    supplier: Pharmacy


def approved_prescription(
    db: Session, world: World, who: Booker, drugs: dict[str, int], lines: list[tuple[str, int]], **kw: Any
) -> Prescription:
    """An approved prescription of ``who`` with ``lines`` of (demo drug code, packages), as rows."""
    n = next(_seq)
    now = utcnow()
    consultation = db.scalar(
        select(Consultation).where(
            Consultation.visitor_id == who.visitor.id, Consultation.session_id == world.session.id
        )
    )
    if consultation is None:
        reg = Registration(
            institution_id=world.inst.id,
            number=f"GHT{n:08d}",
            account_id=who.account.id,
            visitor_id=who.visitor.id,
            session_id=world.session.id,
            department_id=world.dept.id,
            booked_doctor_id=world.doctor.user_id,
            evidence_id=who.evidence.id,
            amount_fen=2000,
            status="confirmed",
            queue_number=n,
            pay_deadline=now,
            confirmed_at=now,
        )
        db.add(reg)
        db.flush()
        consultation = Consultation(
            institution_id=world.inst.id,
            registration_id=reg.id,
            session_id=world.session.id,
            department_id=world.dept.id,
            doctor_id=world.doctor.user_id,
            account_id=who.account.id,
            visitor_id=who.visitor.id,
            status="in_progress",
            started_at=now,
        )
        db.add(consultation)
        db.flush()
    rx = Prescription(
        institution_id=world.inst.id,
        number=f"CFT{n:08d}",
        consultation_id=consultation.id,
        department_id=world.dept.id,
        doctor_id=world.doctor.user_id,
        account_id=who.account.id,
        visitor_id=who.visitor.id,
        kind="western_patent",
        status="approved",
        signed_document_id=1,
        review_document_id=1,
        submitted_at=now,
        reviewed_at=now,
        valid_until=kw.pop("valid_until", local_today() + dt.timedelta(days=2)),
        validity_days=3,
        version=1,
        **kw,
    )
    db.add(rx)
    db.flush()
    total = 0
    for position, (code, quantity) in enumerate(lines):
        drug = db.get(Drug, drugs[code])
        assert drug is not None
        amount = drug.price_fen * quantity
        total += amount
        db.add(
            PrescriptionLine(
                institution_id=world.inst.id,
                prescription_id=rx.id,
                position=position,
                drug_id=drug.id,
                drug_code=drug.code,
                drug_name=drug.generic_name,
                strength=drug.strength,
                form=drug.form,
                package=f"{drug.pack_size}{drug.dispense_unit}/{drug.package_unit}",
                dose="5",
                dose_unit="mg",
                frequency="qd",
                route="po",
                days=7 * quantity,
                quantity=quantity,
                unit_price_fen=drug.price_fen,
                amount_fen=amount,
            )
        )
    rx.total_fen = total
    db.flush()
    return rx


def order_world(
    db: Session, *, lines: list[tuple[str, int]] | None = None, world: World | None = None
) -> OrderWorld:
    """A consented patient with an approved prescription and its drug order (awaiting confirmation)."""
    world = world or booking_world(db)
    drugs = seed_demo_formulary(db, world.inst.id)
    db.execute(
        update(Institution)
        .where(Institution.id == world.inst.id)
        .values(phone="01065280000", address="北京市东城区帅府园1号")
    )
    who = make_booker(db, world)
    rx = approved_prescription(db, world, who, drugs, lines or [("D001", 2)])
    order = create_for_prescription(db, rx.id)
    assert order is not None
    db.commit()
    hospital = db.scalar(
        select(Pharmacy).where(Pharmacy.institution_id == world.inst.id, Pharmacy.kind == "hospital")
    )
    supplier = db.scalar(
        select(Pharmacy).where(Pharmacy.institution_id == world.inst.id, Pharmacy.kind == "supplier")
    )
    assert hospital is not None and supplier is not None
    return OrderWorld(world, who, rx, order, drugs, hospital, supplier)


def address_body(**kw: Any) -> dict[str, Any]:
    body = {
        "recipient": "王秀英",
        "phone": "13800138000",
        "region": "北京市东城区",
        "detail": "东华门街道1号院2单元301",
    }
    body.update(kw)
    return body


def as_patient(client: TestClient, db: Session, ow: OrderWorld, settings: Settings) -> None:
    login_as(client, db, ow.who.account, settings)


def confirm(client: TestClient, ow: OrderWorld, *, pickup: str = "window", **kw: Any) -> dict[str, Any]:
    """The (logged-in) patient confirms; delivery adds an address first."""
    body: dict[str, Any] = {"pickup": pickup, **kw}
    if pickup == "delivery" and "address_id" not in kw:
        made = client.post(f"{API}/me/addresses", json=address_body())
        assert made.status_code == 201, made.text
        body["address_id"] = made.json()["id"]
    answer = client.post(f"{API}/me/drug-orders/{ow.order.id}/confirm", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def paid(db: Session, ow: OrderWorld) -> DrugOrder:
    """Mark the order's bill paid and run the paid reaction (as billing's outbox event would)."""
    order = current(db, ow.order.id)
    assert order.bill_id is not None
    db.execute(update(Bill).where(Bill.id == order.bill_id).values(status="paid", channel="wechat"))
    bill = db.get(Bill, order.bill_id, populate_existing=True)
    assert bill is not None
    payment.mark_paid(db, bill.reference_id, bill.id)
    db.commit()
    return current(db, ow.order.id)


def emit_paid(db: Session, order: DrugOrder) -> None:
    """The billing event itself, through the outbox (the handler runs after commit)."""
    bill = db.get(Bill, order.bill_id)
    assert bill is not None
    db.execute(update(Bill).where(Bill.id == bill.id).values(status="paid", channel="wechat"))
    outbox.emit(
        db,
        "billing.bill_paid.drug_order",
        {
            "bill_id": bill.id,
            "institution_id": bill.institution_id,
            "reference_type": "drug_order",
            "reference_id": bill.reference_id,
            "amount_fen": bill.amount_fen,
            "channel": "wechat",
        },
        key=f"bill-{bill.id}",
    )
    db.commit()


def current(db: Session, order_id: int) -> DrugOrder:
    db.expire_all()
    order = db.get(DrugOrder, order_id)
    assert order is not None
    return order


def stock_of(db: Session, pharmacy: Pharmacy, drug_id: int) -> DrugStock:
    db.expire_all()
    row = db.scalar(
        select(DrugStock).where(DrugStock.pharmacy_id == pharmacy.id, DrugStock.drug_id == drug_id)
    )
    assert row is not None
    return row


def pharmacy_staff(
    db: Session, ow: OrderWorld, *, roles: tuple[str, ...] = ("pharmacist",), name: str | None = None
) -> UserAccount:
    account = make_staff(db, ow.world.inst, roles=roles, display_name=name)
    db.commit()
    return account
