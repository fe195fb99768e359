"""No-shows after the session, the blacklist with appeal, review, lift and expiry (BJ 5.6.9), and
the operations registration list and export — all through HTTP with the clock passed to the jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.platform.clock import utcnow
from ihis.registration.jobs import sweep_no_shows
from ihis.registration.models import BookingBlock, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_billing import mount_billing
from tests.factories_org import problem_fields
from tests.factories_registration import (
    Booker,
    World,
    book,
    booking_world,
    make_booker,
    make_evidence,
    pay,
    registration,
)
from tests.factories_scheduling import make_session

BLOCKS = "/api/v1/admin/booking-blocks"
ADMIN = "/api/v1/admin/registrations"


def _confirmed_visit(
    client: TestClient,
    anon: TestClient,
    db: Session,
    settings: Settings,
    world: World,
    who: Booker,
    days: int,
) -> int:
    session = make_session(db, world.doctor, status="published", days=days)
    db.commit()
    evidence = make_evidence(db, who.account, who.visitor, world.dept.id)
    held = book(client, db, settings, who, session, evidence_id=evidence.id)
    pay(client, anon, held["bill_id"])
    return int(held["id"])


def _end_all_sessions(db: Session, world: World) -> dt.datetime:
    """Move the world's sessions into the past (they ended an hour ago)."""
    now = utcnow()
    ids = db.scalars(select(ClinicSession.id).where(ClinicSession.institution_id == world.inst.id)).all()
    for i, session_id in enumerate(ids):  # distinct times: (doctor, start, mode) is unique
        start = now - dt.timedelta(hours=3 + 3 * i)
        db.execute(
            update(ClinicSession)
            .where(ClinicSession.id == session_id)
            .values(start_at=start, end_at=start + dt.timedelta(hours=2))
        )
    db.commit()
    return now


def test_three_no_shows_block_booking_for_ninety_days_and_the_block_expires(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    ids = [_confirmed_visit(client, anon, db, settings, world, who, days) for days in (2, 3, 4)]
    attended = _confirmed_visit(client, anon, db, settings, world, who, 5)
    db.execute(update(Registration).where(Registration.id == attended).values(attended_at=utcnow()))
    db.commit()
    now = _end_all_sessions(db, world)

    marked, _ = sweep_no_shows(now)
    assert marked >= 3
    assert [registration(db, i).status for i in ids] == ["no_show"] * 3
    assert registration(db, attended).status == "confirmed"  # seen by the doctor: not a no-show
    db.expire_all()
    block = db.scalar(select(BookingBlock).where(BookingBlock.account_id == who.account.id))
    assert block is not None and block.status == "active" and block.no_show_count == 3
    assert block.ends_at - block.started_at == dt.timedelta(days=settings.booking_block_days)

    login_as(client, db, who.account, settings)
    mine = client.get("/api/v1/me/booking-block").json()
    assert mine["blocked"] and mine["block"]["id"] == block.id
    later = make_session(db, world.doctor, status="published", days=6)
    db.commit()
    refused = book(
        client,
        db,
        settings,
        who,
        later,
        expect=403,
        evidence_id=make_evidence(db, who.account, who.visitor, world.dept.id).id,
    )
    assert refused["code"] == "booking_blocked" and "until" in refused

    assert sweep_no_shows(now) == (0, 0)  # nothing twice
    assert sweep_no_shows(block.ends_at + dt.timedelta(seconds=1))[1] == 1
    db.expire_all()
    assert db.get(BookingBlock, block.id).status == "expired"  # type: ignore[union-attr]
    assert client.get("/api/v1/me/booking-block").json()["blocked"] is False


def test_two_no_shows_do_not_block(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    for days in (2, 3):
        _confirmed_visit(client, anon, db, settings, world, who, days)
    sweep_no_shows(_end_all_sessions(db, world))
    db.expire_all()
    assert db.scalar(select(BookingBlock).where(BookingBlock.account_id == who.account.id)) is None


def _blocked(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> tuple[World, Booker, int]:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    for days in (2, 3, 4):
        _confirmed_visit(client, anon, db, settings, world, who, days)
    sweep_no_shows(_end_all_sessions(db, world))
    db.expire_all()
    block = db.scalar(select(BookingBlock).where(BookingBlock.account_id == who.account.id))
    assert block is not None
    return world, who, block.id


def test_an_appeal_approved_by_operations_lifts_the_block_and_is_audited(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, block_id = _blocked(client, anon, db, settings)
    login_as(client, db, who.account, settings)
    assert problem_fields(client.post("/api/v1/me/booking-block/appeal", json={"reason": "短"})) == [
        "body.reason"
    ]
    r = client.post("/api/v1/me/booking-block/appeal", json={"reason": "那几天住院了，无法就诊"})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    appeal_id = r.json()["id"]
    again = client.post("/api/v1/me/booking-block/appeal", json={"reason": "再次申诉，请尽快处理"})
    assert again.status_code == 409

    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    page = client.get(BLOCKS, params={"status": "active"}).json()
    [row] = [b for b in page["items"] if b["id"] == block_id]
    assert row["pending_appeal"]["id"] == appeal_id and row["phone_masked"] and "*" in row["phone_masked"]
    assert problem_fields(
        client.post(f"/api/v1/admin/booking-appeals/{appeal_id}/decide", json={"approve": True, "note": ""})
    ) == ["body.note"]
    decided = client.post(
        f"/api/v1/admin/booking-appeals/{appeal_id}/decide", json={"approve": True, "note": "住院证明属实"}
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert (
        client.post(
            f"/api/v1/admin/booking-appeals/{appeal_id}/decide", json={"approve": False, "note": "重复处理"}
        ).status_code
        == 409
    )
    db.expire_all()
    assert db.get(BookingBlock, block_id).status == "lifted"  # type: ignore[union-attr]
    actions = set(
        db.scalars(
            select(AuditEvent.action).where(
                AuditEvent.resource_type == "booking_block", AuditEvent.resource_id == str(block_id)
            )
        )
    )
    assert {"booking_block.create", "booking_block.appeal", "booking_block.appeal_decide"} <= actions
    login_as(client, db, who.account, settings)
    assert client.get("/api/v1/me/booking-block").json()["blocked"] is False


def test_operations_lift_a_block_by_hand_with_a_reason(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, block_id = _blocked(client, anon, db, settings)
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    assert problem_fields(client.post(f"{BLOCKS}/{block_id}/lift", json={"reason": ""})) == ["body.reason"]
    r = client.post(f"{BLOCKS}/{block_id}/lift", json={"reason": "核实为系统通知未送达"})
    assert (
        r.status_code == 200
        and r.json()["status"] == "lifted"
        and r.json()["lift_reason"] == "核实为系统通知未送达"
    )
    assert client.post(f"{BLOCKS}/{block_id}/lift", json={"reason": "再次解除"}).status_code == 409
    # Another institution's operations do not see it; patients and anonymous callers are refused.
    other = booking_world(db)
    login_as(client, db, make_staff(db, other.inst, roles=["operations"]), settings)
    assert client.post(f"{BLOCKS}/{block_id}/lift", json={"reason": "越权解除"}).status_code == 404
    assert all(b["id"] != block_id for b in client.get(BLOCKS).json()["items"])
    login_as(client, db, who.account, settings)
    assert client.get(BLOCKS).status_code == 403
    assert anon.get(BLOCKS).status_code == 401
    assert anon.post("/api/v1/me/booking-block/appeal", json={"reason": "xxxxxx"}).status_code == 401


def test_operations_list_filter_read_and_export_registrations(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    paid, unpaid = make_booker(db, world), make_booker(db, world, name="李四")
    a = book(client, db, settings, paid, world.session)
    pay(client, anon, a["bill_id"])
    b = book(client, db, settings, unpaid, world.session)
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)

    page = client.get(ADMIN).json()
    assert page["total"] == 2 and {i["id"] for i in page["items"]} == {a["id"], b["id"]}
    assert all("*" in (i["patient_phone_masked"] or "*") for i in page["items"])
    confirmed = client.get(ADMIN, params={"status": "confirmed", "doctor_id": world.doctor.user_id}).json()
    assert [i["id"] for i in confirmed["items"]] == [a["id"]]
    day = world.session.service_date
    assert client.get(ADMIN, params={"date_from": str(day + dt.timedelta(days=1))}).json()["total"] == 0
    assert (
        client.get(ADMIN, params={"department_id": world.dept.id, "date_to": str(day)}).json()["total"] == 2
    )
    assert problem_fields(client.get(ADMIN, params={"date_from": "yesterday"})) == ["query.date_from"]
    assert client.get(f"{ADMIN}/{a['id']}").json()["queue_number"] == 1

    x = client.get(f"{ADMIN}/export", params={"format": "xlsx", "status": "confirmed"})
    assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "预约号" and len(rows) == 2 and rows[1][0] == a["number"] and rows[1][1] == "已预约"
    c = client.get(f"{ADMIN}/export", params={"format": "csv"})
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert len(table) == 3 and "王秀英" not in c.content.decode("utf-8-sig")  # names masked
    assert problem_fields(client.get(f"{ADMIN}/export", params={"format": "pdf"})) == ["query.format"]
    db.expire_all()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "registration.export")) is not None

    other = booking_world(db)
    login_as(client, db, make_staff(db, other.inst, roles=["operations"]), settings)
    assert client.get(f"{ADMIN}/{a['id']}").status_code == 404
    assert client.get(ADMIN).json()["total"] == 0
    login_as(client, db, make_staff(db, world.inst, roles=["finance"]), settings)
    assert client.get(ADMIN).status_code == 403
    login_as(client, db, paid.account, settings)
    assert client.get(ADMIN).status_code == 403
    assert anon.get(ADMIN).status_code == 401
    assert anon.get(f"{ADMIN}/export").status_code == 401


def test_block_endpoints_refuse_bad_input_and_an_unblocked_appeal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    who = make_booker(db, world)
    login_as(client, db, who.account, settings)
    assert client.get("/api/v1/me/booking-block").json() == {"blocked": False, "block": None, "appeals": []}
    r = client.post("/api/v1/me/booking-block/appeal", json={"reason": "我没有被限制但想申诉"})
    assert r.status_code == 409
    assert problem_fields(client.post("/api/v1/me/booking-block/appeal", json={})) == ["body.reason"]
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    assert problem_fields(client.get(BLOCKS, params={"status": "forever"})) == ["query.status"]
    assert problem_fields(client.get(BLOCKS, params={"limit": 0})) == ["query.limit"]
    assert client.post(f"{BLOCKS}/999999/lift", json={"reason": "不存在的记录"}).status_code == 404
    missing = client.post(
        "/api/v1/admin/booking-appeals/999999/decide", json={"approve": True, "note": "不存在"}
    )
    assert missing.status_code == 404
    assert problem_fields(
        client.post("/api/v1/admin/booking-appeals/1/decide", json={"approve": "maybe", "note": "x"})
    ) == ["body.approve"]
