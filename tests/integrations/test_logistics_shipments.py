"""Shipments through the sandbox courier: idempotent booking, tracking events stored exactly once,
status only forward, one outbox event per status change, push retries, cancellation, polling."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from ihis.integrations.logistics import tracking
from ihis.integrations.logistics.client import HttpCourierClient
from ihis.integrations.logistics.config import NOTIFY_PATH, CourierConfig
from ihis.integrations.logistics.models import (
    SandboxCourierEvent,
    SandboxCourierWaybill,
    Shipment,
    ShipmentEvent,
)
from ihis.integrations.logistics.protocol import CourierError, Party, TrackingEvent, Waybill, WaybillRequest
from ihis.integrations.logistics.sandbox_push import deliver_due_pushes
from ihis.integrations.logistics.service import cancel_shipment, shipment_for_ref, timeline
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, UpstreamFailed
from ihis.platform.jobs import runtime
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_logistics import RECEIVER, book, logistics_app, new_ref, outbox_count, signed_push  # noqa: F401


@pytest.fixture
def inst_id(app, db: Session) -> int:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    db.commit()
    return inst.id


def _advance(client: TestClient, waybill_no: str, **params: str) -> dict[str, str]:
    answer = client.post(f"/sandbox/courier/waybills/{waybill_no}/advance", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, str] = answer.json()["data"]
    return data


def _status(db: Session, ref: str, inst_id: int) -> str:
    db.expire_all()
    view = shipment_for_ref(db, inst_id, ref)
    assert view is not None
    return view.status


def _events(db: Session, waybill_no: str) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(ShipmentEvent.status)
            .where(ShipmentEvent.waybill_no == waybill_no)
            .order_by(ShipmentEvent.id)
        )
    )


def test_booking_creates_one_waybill_per_order_ref(database, db: Session, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    first = book(database, inst_id, ref, cold_chain=True)
    again = book(database, inst_id, ref)
    assert first.waybill_no and first.waybill_no == again.waybill_no
    assert first.status == "created" and first.cold_chain
    assert db.scalar(select(func.count()).select_from(SandboxCourierWaybill)) == 1
    assert outbox_count(db, "logistics.shipment.created") == 1


def test_the_courier_itself_deduplicates_a_repeated_booking(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = HttpCourierClient(runtime().http, CourierConfig.from_settings(settings))
    req = WaybillRequest("I1-DUP1", Party("药房", "01065001234", "北京市东城区1号"), RECEIVER, "药品 1 件")
    assert client.create_waybill(req) == client.create_waybill(req)


def test_receiver_data_is_encrypted_at_rest_and_masked_on_output(database, db: Session, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    view = book(database, inst_id, ref)
    assert view.receiver_phone == "138******00" and view.receiver_name == "王**"
    assert view.receiver_address is not None and "88" not in view.receiver_address
    raw = db.execute(
        text("SELECT receiver_phone, receiver_address FROM shipment WHERE ref = :r"), {"r": ref}
    ).one()
    assert RECEIVER.phone not in raw[0] and "建国路" not in raw[1]
    full = shipment_for_ref(db, inst_id, ref, full=True)
    assert full is not None and full.receiver_phone == RECEIVER.phone


def test_a_shipment_of_another_institution_is_invisible(database, db: Session, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    book(database, inst_id, ref)
    other = make_institution(db)
    db.commit()
    assert shipment_for_ref(db, other.id, ref) is None
    assert timeline(db, other.id, ref) == []


def test_bad_booking_input_names_the_field(database, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as bad:
        book(database, inst_id, receiver=Party("王小明", "12345", "北京市朝阳区建国路88号"))
    assert [e.field for e in bad.value.errors] == ["receiver.phone"]
    with pytest.raises(InvalidInput) as bad_ref:
        book(database, inst_id, "no spaces allowed")
    assert [e.field for e in bad_ref.value.errors] == ["ref"]


def test_the_sandbox_delivers_and_the_timeline_follows_with_one_event_per_status(  # type: ignore[no-untyped-def]
    client: TestClient, database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    for expected in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        assert _advance(client, shipment.waybill_no)["status"] == expected
        assert _status(db, ref, inst_id) == expected
    assert client.post(f"/sandbox/courier/waybills/{shipment.waybill_no}/advance").status_code == 409
    assert [e.status for e in timeline(db, inst_id, ref)] == [
        "created", "picked_up", "in_transit", "out_for_delivery", "delivered"
    ]  # fmt: skip
    for status in ("created", "picked_up", "in_transit", "out_for_delivery", "delivered"):
        assert outbox_count(db, f"logistics.shipment.{status}") == 1


def test_a_duplicate_push_is_stored_once_and_emits_nothing_more(  # type: ignore[no-untyped-def]
    client: TestClient, settings: Settings, database, db: Session, inst_id: int
) -> None:
    shipment = book(database, inst_id)
    assert shipment.waybill_no
    event_id = _advance(client, shipment.waybill_no)["event_id"]
    row = db.scalar(select(SandboxCourierEvent).where(SandboxCourierEvent.event_id == event_id))
    assert row is not None
    duplicate = {
        "event_id": event_id,
        "waybill_no": shipment.waybill_no,
        "status": "picked_up",
        "occurred_at": row.occurred_at.isoformat(),
    }
    body, headers = signed_push(settings, [duplicate, duplicate])
    assert client.post(NOTIFY_PATH, content=body, headers=headers).status_code == 200
    assert _events(db, shipment.waybill_no) == ["created", "picked_up"]
    assert outbox_count(db, "logistics.shipment.picked_up") == 1


def test_late_and_out_of_order_events_are_stored_but_never_move_the_status_back(  # type: ignore[no-untyped-def]
    client: TestClient, settings: Settings, database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    waybill = shipment.waybill_no
    t0 = utcnow()

    def event(event_id: str, status: str, minutes: int) -> dict[str, str]:
        at = (t0 + dt.timedelta(minutes=minutes)).isoformat()
        return {"event_id": event_id, "waybill_no": waybill, "status": status, "occurred_at": at}

    for batch in (
        [event("c", "out_for_delivery", 30)],
        [event("a", "picked_up", 10)],
        [event("b", "in_transit", 20)],
    ):
        body, headers = signed_push(settings, batch)
        assert client.post(NOTIFY_PATH, content=body, headers=headers).status_code == 200
    assert _status(db, ref, inst_id) == "out_for_delivery"
    assert sorted(_events(db, waybill)) == sorted(["created", "out_for_delivery", "picked_up", "in_transit"])
    # The timeline shows when things happened, not when we heard of them.
    assert [e.status for e in timeline(db, inst_id, ref)] == [
        "created", "picked_up", "in_transit", "out_for_delivery"
    ]  # fmt: skip
    assert outbox_count(db, "logistics.shipment.picked_up") == 0
    assert outbox_count(db, "logistics.shipment.in_transit") == 0
    assert outbox_count(db, "logistics.shipment.out_for_delivery") == 1
    body, headers = signed_push(settings, [event("d", "delivered", 40), event("e", "failed", 35)])
    assert client.post(NOTIFY_PATH, content=body, headers=headers).status_code == 200
    assert _status(db, ref, inst_id) == "delivered"
    assert outbox_count(db, "logistics.shipment.failed") == 0


def test_the_status_update_is_guarded_against_moving_back() -> None:
    from ihis.integrations.logistics.protocol import ranks_below

    assert ranks_below("picked_up") == ["created"]
    assert "delivered" not in ranks_below("returned") and "returned" not in ranks_below("delivered")
    assert "failed" in ranks_below("delivered")


def test_the_courier_retries_a_push_we_failed_to_process_until_we_take_it(  # type: ignore[no-untyped-def]
    client: TestClient, database, db: Session, inst_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    real = tracking.apply_events
    failures = []

    def failing_once(db_: Session, events: list[TrackingEvent], *, source: str) -> int:
        if not failures:
            failures.append(1)
            raise tracking.UnknownWaybill("simulated processing failure")
        return real(db_, events, source=source)

    monkeypatch.setattr(tracking, "apply_events", failing_once)
    event_id = _advance(client, shipment.waybill_no)["event_id"]
    db.expire_all()
    row = db.scalar(select(SandboxCourierEvent).where(SandboxCourierEvent.event_id == event_id))
    assert (
        row is not None and row.push_status == "pending" and row.attempts == 1 and row.last_status_code == 502
    )
    assert _status(db, ref, inst_id) == "created"
    # Not due yet: nothing is resent before the first backoff step.
    assert deliver_due_pushes(runtime(), now=utcnow()) == 0
    assert deliver_due_pushes(runtime(), now=utcnow() + dt.timedelta(seconds=16)) == 1
    db.expire_all()
    row = db.scalar(select(SandboxCourierEvent).where(SandboxCourierEvent.event_id == event_id))
    assert row is not None and row.push_status == "delivered" and row.attempts == 2
    assert _status(db, ref, inst_id) == "picked_up"
    assert _events(db, shipment.waybill_no) == ["created", "picked_up"]


def test_the_courier_gives_up_after_its_bounded_retries(  # type: ignore[no-untyped-def]
    client: TestClient, database, db: Session, inst_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipment = book(database, inst_id)
    assert shipment.waybill_no

    def always_failing(db_: Session, events: list[TrackingEvent], *, source: str) -> int:
        raise tracking.UnknownWaybill("down")

    monkeypatch.setattr(tracking, "apply_events", always_failing)
    event_id = _advance(client, shipment.waybill_no)["event_id"]
    later = utcnow()
    for _ in range(12):
        later += dt.timedelta(hours=2)
        deliver_due_pushes(runtime(), now=later)
    db.expire_all()
    row = db.scalar(select(SandboxCourierEvent).where(SandboxCourierEvent.event_id == event_id))
    assert row is not None and row.push_status == "abandoned" and row.attempts == 9


def test_a_push_for_an_unknown_waybill_asks_the_courier_to_retry(
    client: TestClient, settings: Settings
) -> None:
    body, headers = signed_push(
        settings,
        [
            {
                "event_id": "x",
                "waybill_no": "SX999",
                "status": "picked_up",
                "occurred_at": "2026-11-21T10:00:00+08:00",
            }
        ],
    )
    answer = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert answer.status_code == 502 and answer.headers["content-type"].startswith("application/problem+json")


def test_cancel_before_pickup_is_accepted_and_idempotent(database, db: Session, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert cancel_shipment(database, inst_id, ref, "患者改为到院自取").status == "cancelled"
    assert cancel_shipment(database, inst_id, ref, "again").status == "cancelled"
    waybill = db.scalar(
        select(SandboxCourierWaybill).where(SandboxCourierWaybill.waybill_no == shipment.waybill_no)
    )
    assert waybill is not None and waybill.status == "cancelled"
    with pytest.raises(Conflict):
        book(database, inst_id, ref)


def test_cancel_after_pickup_is_refused_by_us_and_by_the_courier(  # type: ignore[no-untyped-def]
    client: TestClient, settings: Settings, database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    _advance(client, shipment.waybill_no)
    with pytest.raises(Conflict):
        cancel_shipment(database, inst_id, ref, "too late")
    courier = HttpCourierClient(runtime().http, CourierConfig.from_settings(settings))
    with pytest.raises(CourierError) as refused:
        courier.cancel_waybill(shipment.waybill_no, "too late")
    assert refused.value.code == "already_picked_up" and not refused.value.retryable
    assert _status(db, ref, inst_id) == "picked_up"


def test_cancel_when_the_pickup_push_was_lost_is_refused_by_the_courier(  # type: ignore[no-untyped-def]
    client: TestClient, database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    _advance(client, shipment.waybill_no, push="false")
    with pytest.raises(Conflict):
        cancel_shipment(database, inst_id, ref, "too late")
    assert _status(db, ref, inst_id) == "created"


def test_polling_fills_a_lost_push(client: TestClient, database, db: Session, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    _advance(client, shipment.waybill_no, push="false")
    _advance(client, shipment.waybill_no, push="false")
    assert _status(db, ref, inst_id) == "created"
    assert tracking.poll_stale_shipments(runtime()) == 0  # heard of it just now: not stale yet
    db.execute(
        update(Shipment).where(Shipment.ref == ref).values(last_event_at=utcnow() - dt.timedelta(hours=1))
    )
    db.commit()
    assert tracking.poll_stale_shipments(runtime()) == 2
    assert _status(db, ref, inst_id) == "in_transit"
    assert _events(db, shipment.waybill_no) == ["created", "picked_up", "in_transit"]
    assert outbox_count(db, "logistics.shipment.picked_up") == 1  # applied in the courier's order
    assert outbox_count(db, "logistics.shipment.in_transit") == 1
    db.execute(
        update(Shipment).where(Shipment.ref == ref).values(last_event_at=utcnow() - dt.timedelta(hours=1))
    )
    db.commit()
    assert tracking.poll_stale_shipments(runtime()) == 0  # re-read events are stored once


class _DownCourier:
    def __init__(self) -> None:
        self.calls = 0

    def create_waybill(self, req: WaybillRequest) -> Waybill:
        self.calls += 1
        raise CourierError("system_busy", retryable=True, status=503)

    def cancel_waybill(self, waybill_no: str, reason: str) -> None:
        raise AssertionError("not called")

    def query_tracking(self, waybill_no: str) -> list[TrackingEvent]:
        raise AssertionError("not called")


def test_a_courier_outage_leaves_a_pending_shipment_that_booking_again_completes(  # type: ignore[no-untyped-def]
    database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    down = _DownCourier()
    with pytest.raises(UpstreamFailed):
        book(database, inst_id, ref, gateway=down)
    db.expire_all()
    row = db.scalar(select(Shipment).where(Shipment.ref == ref))
    assert row is not None and row.status == "pending" and row.last_error == "system_busy" and down.calls == 1
    assert book(database, inst_id, ref).status == "created"


def test_a_pending_shipment_can_be_cancelled_without_calling_the_courier(database, inst_id: int) -> None:  # type: ignore[no-untyped-def]
    ref = new_ref()
    with pytest.raises(UpstreamFailed):
        book(database, inst_id, ref, gateway=_DownCourier())
    assert cancel_shipment(database, inst_id, ref, "患者取消", gateway=_DownCourier()).status == "cancelled"


class _CancelledWhileBooking:
    """The order is cancelled while the courier is still answering the booking."""

    def __init__(self, database, inst_id: int, ref: str, settings: Settings) -> None:  # type: ignore[no-untyped-def]
        self.database, self.inst_id, self.ref = database, inst_id, ref
        self.real = HttpCourierClient(runtime().http, CourierConfig.from_settings(settings))

    def create_waybill(self, req: WaybillRequest) -> Waybill:
        cancel_shipment(self.database, self.inst_id, self.ref, "患者取消")
        return self.real.create_waybill(req)

    def cancel_waybill(self, waybill_no: str, reason: str) -> None:
        self.real.cancel_waybill(waybill_no, reason)

    def query_tracking(self, waybill_no: str) -> list[TrackingEvent]:
        return self.real.query_tracking(waybill_no)


def test_a_waybill_booked_for_an_order_cancelled_meanwhile_is_taken_back(  # type: ignore[no-untyped-def]
    database, db: Session, settings: Settings, inst_id: int
) -> None:
    ref = new_ref()
    with pytest.raises(Conflict):
        book(database, inst_id, ref, gateway=_CancelledWhileBooking(database, inst_id, ref, settings))
    assert _status(db, ref, inst_id) == "cancelled"
    waybill = db.scalar(
        select(SandboxCourierWaybill).where(SandboxCourierWaybill.order_ref == f"I{inst_id}-{ref}")
    )
    assert waybill is not None and waybill.status == "cancelled"
    assert outbox_count(db, "logistics.shipment.created") == 0


def test_the_sandbox_auto_advance_is_off_by_default_and_moves_rested_parcels_when_on(  # type: ignore[no-untyped-def]
    database, db: Session, settings: Settings, inst_id: int
) -> None:
    from ihis.integrations.logistics.sandbox_push import auto_advance
    from ihis.platform.outbox import HandlerContext

    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert auto_advance(runtime()) == 0
    demo = HandlerContext(
        database=database,
        settings=settings.model_copy(update={"courier_sandbox_auto_advance_seconds": 5}),
        http=runtime().http,
    )
    assert auto_advance(demo) == 0  # advanced just now: resting
    db.execute(
        update(SandboxCourierWaybill)
        .where(SandboxCourierWaybill.waybill_no == shipment.waybill_no)
        .values(advanced_at=utcnow() - dt.timedelta(seconds=6))
    )
    db.commit()
    assert auto_advance(demo) == 1
    assert _status(db, ref, inst_id) == "picked_up"


def test_old_nonces_are_forgotten_after_the_window(
    client: TestClient, settings: Settings, db: Session
) -> None:
    from ihis.integrations.logistics.models import LogisticsNonce

    body, headers = signed_push(settings, [{"event_id": "x", "waybill_no": "SX1", "status": "created",
                                            "occurred_at": "2026-11-21T10:00:00+08:00"}])  # fmt: skip
    client.post(NOTIFY_PATH, content=body, headers=headers)
    assert tracking.purge_nonces(db) == 0
    assert tracking.purge_nonces(db, now=utcnow() + dt.timedelta(minutes=11)) >= 1
    assert db.scalar(select(func.count()).select_from(LogisticsNonce)) == 0


def test_the_sandbox_control_jumps_forward_and_refuses_unknown_input(  # type: ignore[no-untyped-def]
    client: TestClient, database, db: Session, inst_id: int
) -> None:
    ref = new_ref()
    shipment = book(database, inst_id, ref)
    assert shipment.waybill_no
    assert _advance(client, shipment.waybill_no, status="failed")["status"] == "failed"
    assert _status(db, ref, inst_id) == "failed"
    back = client.post(
        f"/sandbox/courier/waybills/{shipment.waybill_no}/advance", params={"status": "in_transit"}
    )
    assert back.status_code == 409
    assert _advance(client, shipment.waybill_no, status="returned")["status"] == "returned"
    assert _status(db, ref, inst_id) == "returned"
    bad = client.post(f"/sandbox/courier/waybills/{shipment.waybill_no}/advance", params={"status": "lost"})
    assert bad.status_code == 400
    assert client.post("/sandbox/courier/waybills/SX404/advance").status_code == 404
