"""医保 on drug orders: the bound visitor's order is pre-settled (2206) at confirmation and the bill is
the self-pay part; paying it settles the insurance part (2207, outside any transaction, idempotent by
our bill ref, retried while the platform is down); every refund reverses the settlement (2208)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill, Refund
from ihis.drug_orders import payment, settlement
from ihis.drug_orders.models import DrugOrder, DrugOrderEvent
from ihis.integrations.insurance.models import SandboxInsuranceSettlement
from ihis.integrations.insurance.rules import round_half_up
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import login_as
from tests.factories_drug_orders import (
    API,
    OrderWorld,
    as_patient,
    confirm,
    current,
    emit_paid,
    order_world,
    pharmacy_staff,
)
from tests.factories_insurance import bind, make_known
from tests.factories_org import problem_fields
from tests.factories_registration import pay

ME = f"{API}/me/drug-orders"
PH = f"{API}/pharmacy/orders"


def insured_world(client: TestClient, db: Session, settings: Settings) -> OrderWorld:
    """An order world whose visitor has bound 医保 through the patient API (the patient is signed in)."""
    ow = order_world(db)
    make_known(db, ow.who.visitor)
    as_patient(client, db, ow, settings)
    bind(client, ow.who.visitor.id)
    return ow


def kinds(db: Session, order_id: int) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(DrugOrderEvent.kind).where(DrugOrderEvent.order_id == order_id).order_by(DrugOrderEvent.id)
        )
    )


def platform_rows(db: Session, order: DrugOrder) -> list[SandboxInsuranceSettlement]:
    db.expire_all()
    return list(
        db.scalars(
            select(SandboxInsuranceSettlement).where(
                SandboxInsuranceSettlement.bill_ref == settlement.bill_ref(order)
            )
        )
    )


def test_confirmation_pre_settles_and_the_bill_is_the_self_pay_part(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    # D001 amlodipine (ATC C08CA01) is 甲: nothing self-paid first, the fund pays 70 %.
    total = 2 * 3350
    insurance = round_half_up(total * 7000, 10_000)
    assert (body["total_fen"], body["insurance_fen"], body["self_pay_fen"]) == (
        total,
        insurance,
        total - insurance,
    )
    assert body["insurance_state"] == "pending"
    bill = db.get(Bill, body["bill_id"])
    assert bill is not None and bill.amount_fen == total - insurance


def test_an_unbound_visitor_and_a_self_pay_choice_pay_everything(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    as_patient(client, db, ow, settings)
    plain = confirm(client, ow, pickup="window")
    assert plain["insurance_fen"] == 0 and plain["insurance_state"] is None
    ow2 = insured_world(client, db, settings)
    chosen = confirm(client, ow2, pickup="window", self_pay=True)
    assert chosen["insurance_fen"] == 0 and chosen["self_pay_fen"] == chosen["total_fen"]


def test_a_lapsed_insurance_at_confirmation_names_the_self_pay_choice(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    # The sandbox's failure injection: a person number ending in 0000 is not insured (any more).
    db.execute(
        update(type(ow.who.visitor))
        .where(type(ow.who.visitor).id == ow.who.visitor.id)
        .values(insurance_psn_no="11010512345678900000")
    )
    db.commit()
    refused = client.post(f"{ME}/{ow.order.id}/confirm", json={"pickup": "window"})
    assert refused.status_code == 422 and problem_fields(refused) == ["body.self_pay"]
    assert current(db, ow.order.id).status == "awaiting_confirmation"
    assert confirm(client, ow, pickup="window", self_pay=True)["insurance_fen"] == 0


def test_paying_the_self_pay_part_settles_the_insurance_part_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    pay(client, anon, body["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "paid" and order.insurance_state == "settled"
    [row] = platform_rows(db, order)
    assert row.status == "settled" and order.insurance_settlement_id == row.setl_id
    # Delivered again (at least once): the paid reaction and the settlement job change nothing.
    bill = db.get(Bill, order.bill_id)
    assert bill is not None
    assert payment.mark_paid(db, bill.reference_id, bill.id) is None
    db.commit()
    emit_paid(db, order)
    settlement.settle(_database(db), settings, order.id)
    assert kinds(db, order.id).count("insurance_settled") == 1
    assert len(platform_rows(db, order)) == 1
    assert client.get(f"{ME}/{order.id}").json()["insurance_state"] == "settled"
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == str(order.id))))
    assert actions.count("drug_order.insurance_settle") == 1


class _Down:
    """The platform unavailable for settlement (a 503 after the client's own retries)."""

    def __init__(self) -> None:
        from ihis.integrations.insurance.protocol import InsuranceError

        self.error = InsuranceError("http_503", retryable=True, status=503)
        self.calls = 0

    def settle(self, *args: object) -> object:
        self.calls += 1
        raise self.error

    def cancel_settlement(self, *args: object) -> object:
        self.calls += 1
        raise self.error


def _database(db: Session):  # type: ignore[no-untyped-def]
    from ihis.platform import jobs

    return jobs.runtime().database


def _retry_due(db: Session) -> int:
    from ihis.platform import jobs, outbox
    from ihis.platform.clock import utcnow
    from ihis.platform.outbox import OutboxMessage

    db.execute(
        update(OutboxMessage).where(OutboxMessage.status == "pending").values(next_attempt_at=utcnow())
    )
    db.commit()
    return outbox.dispatch_due(jobs.runtime())


def test_a_platform_outage_leaves_the_settlement_pending_and_the_outbox_retry_settles_it(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from ihis.platform.outbox import OutboxMessage

    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    down = _Down()
    real = settlement._gateway
    monkeypatch.setattr(settlement, "_gateway", lambda s: down)
    pay(client, anon, body["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "paid" and order.insurance_state == "pending" and down.calls == 1
    message = db.scalar(select(OutboxMessage).where(OutboxMessage.topic == settlement.SETTLE_TOPIC))
    assert (
        message is not None and message.status == "pending" and "http_503" not in (message.last_error or "x")
    )
    monkeypatch.setattr(settlement, "_gateway", real)
    assert _retry_due(db) >= 1
    order = current(db, ow.order.id)
    assert order.insurance_state == "settled" and order.insurance_settlement_id
    db.expire_all()
    assert db.get(OutboxMessage, message.id).status == "done"  # type: ignore[union-attr]


def _refund_before_handover(client: TestClient, db: Session, settings: Settings, ow: OrderWorld) -> None:
    asked = client.post(f"{ME}/{ow.order.id}/refund-request", json={"reason": "病情变化，医生建议停药"})
    assert asked.status_code == 200, asked.text
    login_as(client, db, pharmacy_staff(db, ow), settings)
    decided = client.post(f"{PH}/{ow.order.id}/refund-decision", json={"approve": True})
    assert decided.status_code == 200 and decided.json()["status"] == "refunded"


def test_a_refund_before_handover_reverses_the_settlement_and_refunds_the_self_pay_part(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    pay(client, anon, body["bill_id"])
    _refund_before_handover(client, db, settings, ow)
    order = current(db, ow.order.id)
    assert order.insurance_state == "cancelled"
    [row] = platform_rows(db, order)
    assert row.status == "cancelled"
    refunds = list(db.scalars(select(Refund.amount_fen).where(Refund.bill_id == order.bill_id)))
    assert refunds == [order.self_pay_fen]
    # The reversal delivered again, and a second refund attempt: nothing happens twice.
    settlement.cancel(_database(db), settings, order.id)
    assert not payment.refund_order(db, order, ("refund_requested",), "again", kind="x", actor=None)
    assert kinds(db, order.id).count("insurance_cancelled") == 1
    assert kinds(db, order.id).index("insurance_settled") < kinds(db, order.id).index("insurance_cancelled")


def test_the_special_refund_after_handover_reverses_the_settlement(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    pay(client, anon, body["bill_id"])
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(status="ready_for_pickup"))
    db.commit()
    login_as(client, db, pharmacy_staff(db, ow), settings)
    special = {"reason": "批号质量问题召回", "parties": ["药剂科", "医务处", "患者"]}
    done = client.post(f"{PH}/{ow.order.id}/special-refund", json=special)
    assert done.status_code == 200, done.text
    order = current(db, ow.order.id)
    assert order.insurance_state == "cancelled"
    assert [r.status for r in platform_rows(db, order)] == ["cancelled"]


def test_a_reversal_while_the_platform_is_down_is_retried(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    pay(client, anon, body["bill_id"])
    real = settlement._gateway
    monkeypatch.setattr(settlement, "_gateway", lambda s: _Down())
    _refund_before_handover(client, db, settings, ow)
    assert current(db, ow.order.id).insurance_state == "settled"
    monkeypatch.setattr(settlement, "_gateway", real)
    assert _retry_due(db) >= 1
    order = current(db, ow.order.id)
    assert order.insurance_state == "cancelled"
    assert [r.status for r in platform_rows(db, order)] == ["cancelled"]


def test_short_stock_refunds_and_closes_the_insurance_without_a_settlement(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    from ihis.formulary.models import DrugStock

    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    db.execute(update(DrugStock).where(DrugStock.pharmacy_id == ow.hospital.id).values(on_hand=0))
    db.commit()
    pay(client, anon, body["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "refunded" and order.insurance_state == "cancelled"
    assert platform_rows(db, order) == []
    assert "insurance_settled" not in kinds(db, order.id)


def test_an_order_all_covered_by_insurance_is_paid_without_a_bill_and_settled(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from ihis.drug_orders.models import DrugOrderLine

    ow = insured_world(client, db, settings)
    # One package at 1 fen of a 甲 drug: the fund's 70 % rounds up to the whole fen.
    db.execute(
        update(DrugOrderLine)
        .where(DrugOrderLine.order_id == ow.order.id)
        .values(quantity=1, unit_price_fen=1, amount_fen=1)
    )
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(total_fen=1, self_pay_fen=1))
    db.commit()
    body = confirm(client, ow, pickup="window")
    assert (body["self_pay_fen"], body["insurance_fen"], body["bill_id"]) == (0, 1, None)
    order = current(db, ow.order.id)
    assert order.status == "paid" and order.insurance_state == "settled" and order.bill_id is None
    # Refunded: nothing goes back through a channel, the settlement is reversed.
    login_as(client, db, pharmacy_staff(db, ow), settings)
    db.execute(update(DrugOrder).where(DrugOrder.id == ow.order.id).values(status="ready_for_pickup"))
    db.commit()
    special = {"reason": "批号质量问题召回", "parties": ["药剂科", "患者"]}
    assert client.post(f"{PH}/{ow.order.id}/special-refund", json=special).status_code == 200
    assert current(db, ow.order.id).insurance_state == "cancelled"


def test_unbinding_before_the_settlement_refunds_the_order_in_full(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    assert client.delete(f"{API}/me/visitors/{ow.who.visitor.id}/insurance").status_code == 204
    pay(client, anon, body["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "refunded" and order.insurance_state == "cancelled"
    assert "insurance_settle_refused" in kinds(db, order.id)
    assert db.scalar(select(Refund.amount_fen).where(Refund.bill_id == order.bill_id)) == order.self_pay_fen


def test_a_refund_racing_the_settlement_call_leaves_nothing_settled_at_the_platform(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from ihis.drug_orders.lifecycle import system_context
    from ihis.integrations.insurance.service import insurance_gateway

    ow = insured_world(client, db, settings)
    body = confirm(client, ow, pickup="window")
    real = insurance_gateway(settings)
    database = _database(db)

    class Racing:
        """While our settlement is on the wire, the pharmacy refunds the order (its reversal finds
        nothing settled yet), then the platform settles."""

        def settle(self, ref, psn_no, items):  # type: ignore[no-untyped-def]
            with database.unit_of_work() as work:
                order = work.get(DrugOrder, ow.order.id)
                assert order is not None
                ctx = system_context(order.institution_id, "test")
                assert payment.refund_order(work, order, ("paid",), "并发退款", kind="x", actor=None, ctx=ctx)
            return real.settle(ref, psn_no, items)

        def cancel_settlement(self, ref):  # type: ignore[no-untyped-def]
            return real.cancel_settlement(ref)

    monkeypatch.setattr(settlement, "_gateway", lambda s: Racing())
    pay(client, anon, body["bill_id"])
    order = current(db, ow.order.id)
    assert order.status == "refunded" and order.insurance_state == "cancelled"
    assert order.insurance_settlement_id is None
    assert [r.status for r in platform_rows(db, order)] == ["cancelled"]  # the late one was reversed
    assert "insurance_settled" not in kinds(db, order.id)
