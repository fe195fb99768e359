"""After booking: unpaid close, patient cancel with refund, 停诊 / 替诊 / time shift told to the
patients, the doctor's waiting list and reminders (jobs run with the clock passed in)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.maintenance import close_expired_bills
from ihis.billing.models import Bill
from ihis.notifications.jobs import send_due_reminders
from ihis.notifications.models import Message, ScheduledNotification
from ihis.platform.clock import utcnow
from ihis.platform.jobs import runtime
from ihis.scheduling.jobs import run_session_reminders
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_billing import mount_billing
from tests.factories_org import PDF_BYTES
from tests.factories_registration import (
    book,
    booked,
    booking_world,
    confirm_at_cashier,
    make_booker,
    pay,
    registration,
    start_payment,
)
from tests.factories_scheduling import make_scheduling_doctor

URL = "/api/v1/me/registrations"
ADMIN = "/api/v1/admin/scheduling/sessions"


def _events(db: Session, account_id: int) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(Message.event).where(Message.recipient_account_id == account_id).order_by(Message.id)
        )
    )


def _bill(db: Session, bill_id: int) -> Bill:
    db.expire_all()
    bill = db.get(Bill, bill_id)
    assert bill is not None
    return bill


def test_an_unpaid_bill_closes_after_the_hold_time_and_releases_the_slot(
    client: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db, capacity=1)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    assert booked(db, world.session) == 1
    deadline = _bill(db, held["bill_id"]).expires_at
    assert deadline - utcnow() <= dt.timedelta(minutes=settings.bill_hold_minutes)

    assert close_expired_bills(runtime(), deadline - dt.timedelta(seconds=1)) == 0
    assert close_expired_bills(runtime(), deadline + dt.timedelta(seconds=1)) == 1
    assert registration(db, held["id"]).status == "closed"
    assert _bill(db, held["bill_id"]).status == "closed"
    assert booked(db, world.session) == 0
    assert _events(db, who.account.id) == ["bill_closed"]
    # The slot is free again for someone else.
    book(client, db, settings, make_booker(db, world), world.session)


def test_a_patient_cancels_a_paid_registration_and_is_refunded_by_the_original_channel(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"], channel="alipay")

    r = client.post(f"{URL}/{held['id']}/cancel", json={"reason": "时间冲突"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["cancel_kind"], out["cancel_reason"]) == ("cancelled", "patient", "时间冲突")
    assert booked(db, world.session) == 0
    detail = client.get(f"{URL}/{held['id']}").json()
    [refund] = detail["refunds"]
    assert refund["amount_fen"] == held["amount_fen"] and refund["channel"] == "alipay"
    assert refund["status"] == "succeeded" and refund["expected_arrival"]
    assert detail["bill_status"] == "refunded"
    assert _events(db, who.account.id)[-2:] == ["refund_progress", "refund_progress"]
    # The reminder is gone; cancelling again is a conflict.
    db.expire_all()
    statuses = db.scalars(
        select(ScheduledNotification.status).where(ScheduledNotification.link_id == held["id"])
    ).all()
    assert statuses and set(statuses) == {"cancelled"}
    assert client.post(f"{URL}/{held['id']}/cancel", json={}).status_code == 409


def test_cancelling_an_unpaid_registration_releases_the_slot_and_closes_the_bill(
    client: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    held = book(client, db, settings, make_booker(db, world), world.session)
    r = client.post(f"{URL}/{held['id']}/cancel", json={})
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["refunds"] == []
    assert booked(db, world.session) == 0
    assert _bill(db, held["bill_id"]).expires_at <= utcnow()
    close_expired_bills(runtime(), utcnow() + dt.timedelta(seconds=1))
    assert _bill(db, held["bill_id"]).status == "closed"
    assert registration(db, held["id"]).status == "cancelled"  # the close changes nothing more


def test_a_payment_arriving_after_cancellation_is_refunded(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    cashier_url = start_payment(client, held["bill_id"])
    assert client.post(f"{URL}/{held['id']}/cancel", json={}).status_code == 200
    # The patient still confirms at the open cashier (the channel takes the money): it goes back.
    confirm_at_cashier(anon, cashier_url)
    assert registration(db, held["id"]).status == "cancelled"
    assert _bill(db, held["bill_id"]).status == "refunded"
    assert booked(db, world.session) == 0


def test_cancelling_after_the_start_is_refused(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    held = book(client, db, settings, make_booker(db, world), world.session)
    pay(client, anon, held["bill_id"])
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == world.session.id)
        .values(start_at=utcnow() - dt.timedelta(minutes=1))
    )
    db.commit()
    r = client.post(f"{URL}/{held['id']}/cancel", json={})
    assert (r.status_code, r.json()["code"]) == (409, "cancel_too_late")
    assert client.post(f"{URL}/{held['id']}/cancel", json={"reason": "x" * 201}).status_code == 422


def test_stopping_a_session_cancels_refunds_and_tells_every_booked_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    paid_one, unpaid_one = make_booker(db, world), make_booker(db, world, name="李四")
    a = book(client, db, settings, paid_one, world.session)
    pay(client, anon, a["bill_id"])
    b = book(client, db, settings, unpaid_one, world.session)
    assert booked(db, world.session) == 2

    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    r = client.post(f"{ADMIN}/{world.session.id}/stop", json={"reason": "医生临时出差"})
    assert r.status_code == 200, r.text

    ra, rb = registration(db, a["id"]), registration(db, b["id"])
    assert (ra.status, ra.cancel_kind, ra.cancel_reason) == ("cancelled", "session_stopped", "医生临时出差")
    assert (rb.status, rb.cancel_kind) == ("cancelled", "session_stopped")
    assert _bill(db, a["bill_id"]).status == "refunded"
    assert _bill(db, b["bill_id"]).status == "unpaid" and _bill(db, b["bill_id"]).expires_at <= utcnow()
    assert booked(db, world.session) == 0
    assert "session_stopped" in _events(db, paid_one.account.id)
    assert "refund_progress" in _events(db, paid_one.account.id)
    assert "session_stopped" in _events(db, unpaid_one.account.id)


def test_a_substitute_doctor_is_announced_and_the_patient_may_cancel_free(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"])
    other = make_scheduling_doctor(db, world.inst, world.dept, display_name="刘医生")
    db.commit()
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    r = client.post(
        f"{ADMIN}/{world.session.id}/substitute", json={"doctor_id": other.user_id, "reason": "替诊"}
    )
    assert r.status_code == 200, r.text

    assert _events(db, who.account.id)[-1] == "session_substituted"
    db.expire_all()
    text = db.scalars(
        select(Message.body).where(Message.recipient_account_id == who.account.id).order_by(Message.id.desc())
    ).first()
    assert text is not None and "刘医生" in text and "张医生" in text
    login_as(client, db, who.account, settings)
    mine = client.get(f"{URL}/{held['id']}").json()
    assert mine["session"]["doctor_name"] == "刘医生" and mine["session"]["original_doctor_name"] == "张医生"
    cancelled = client.post(f"{URL}/{held['id']}/cancel", json={}).json()
    assert cancelled["refunds"][0]["amount_fen"] == held["amount_fen"]  # in full


def test_a_time_shift_is_announced_and_the_reminder_moves(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"])
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    r = client.post(
        f"{ADMIN}/{world.session.id}/shift",
        json={"start_time": "14:00", "end_time": "16:00", "reason": "上午会议"},
    )
    assert r.status_code == 200, r.text
    assert _events(db, who.account.id)[-1] == "session_shifted"
    db.expire_all()
    session = db.get(ClinicSession, world.session.id)
    assert session is not None
    live = db.scalars(
        select(ScheduledNotification).where(
            ScheduledNotification.link_id == held["id"], ScheduledNotification.status == "scheduled"
        )
    ).all()
    assert [s.due_at for s in live] == [session.start_at - dt.timedelta(minutes=30)]


def test_reminders_reach_the_patient_and_the_doctor_at_the_right_time(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"])
    start = world.session.start_at
    ctx = runtime()
    assert send_due_reminders(ctx, now=start - dt.timedelta(minutes=31)) == 0
    assert send_due_reminders(ctx, now=start - dt.timedelta(minutes=30)) == 1
    assert _events(db, who.account.id)[-1] == "visit_reminder"
    assert send_due_reminders(ctx, now=start - dt.timedelta(minutes=29)) == 0  # once only

    assert run_session_reminders(start - dt.timedelta(minutes=31)) == 0
    assert run_session_reminders(start - dt.timedelta(minutes=29)) == 1
    doctor_events = _events(db, world.doctor.user_id)
    assert doctor_events[-1] == "doctor_shift_reminder"
    db.expire_all()
    body = db.scalars(
        select(Message.body)
        .where(Message.recipient_account_id == world.doctor.user_id)
        .order_by(Message.id.desc())
    ).first()
    assert body is not None and "已预约1人" in body


def test_the_doctor_sees_the_waiting_list_of_own_sessions_only(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    first, second = make_booker(db, world, name="王秀英"), make_booker(db, world, name="李四")
    a = book(client, db, settings, first, world.session)
    pay(client, anon, a["bill_id"])
    book(client, db, settings, second, world.session)  # unpaid: not on the list
    doctor_account = db.get(type(first.account), world.doctor.user_id)
    assert doctor_account is not None
    login_as(client, db, doctor_account, settings)
    url = f"/api/v1/me/sessions/{world.session.id}/waiting-list"
    entries = client.get(url).json()
    assert [(e["queue_number"], e["visitor_name"], e["status"]) for e in entries] == [
        (1, "王秀英", "confirmed")
    ]
    other = make_scheduling_doctor(db, world.inst, world.dept)
    other_account = db.get(type(first.account), other.user_id)
    assert other_account is not None
    login_as(client, db, other_account, settings)
    assert client.get(url).status_code == 404
    login_as(client, db, first.account, settings)
    assert client.get(url).status_code == 403
    assert anon.get(url).status_code == 401


def test_an_uploaded_record_admits_a_new_booking_after_its_registration_was_cancelled(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    who = make_booker(db, world)
    login_as(client, db, who.account, settings)

    def upload() -> dict[str, object]:
        r = client.post(
            "/api/v1/me/evidence",
            data={"visitor_id": str(who.visitor.id), "department_id": str(world.dept.id)},
            files={"file": ("门诊病历.pdf", PDF_BYTES, "application/pdf")},
        )
        assert r.status_code in (200, 201), r.text
        return r.json()  # type: ignore[no-any-return]

    first = upload()
    held = book(client, db, settings, who, world.session, evidence_id=first["evidence_id"])
    assert held["evidence"]["source"] == "upload"
    assert held["evidence"]["upload_status"] == "pending_doctor_confirmation"
    listed = client.get("/api/v1/me/evidence").json()
    assert [u["evidence_id"] for u in listed] == [None]  # used: not offered again
    assert client.post(f"{URL}/{held['id']}/cancel", json={}).status_code == 200

    again = upload()  # the same file: the same upload, a fresh evidence row for the next booking
    assert again["id"] == first["id"] and again["evidence_id"] not in (None, first["evidence_id"])
    second = book(client, db, settings, who, world.session, evidence_id=again["evidence_id"])
    assert second["status"] == "pending_payment"
