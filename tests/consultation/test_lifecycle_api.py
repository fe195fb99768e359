"""The doctor's workstation through HTTP: today's queue, preview, accept, reject (refunded), stop
(refunded, advice), complete only with a signed record; the patient's view; who may do what."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.consultation.models import Consultation
from ihis.messaging.models import ChatMessage, ChatParticipant
from ihis.notifications.models import Message
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_consultation import as_doctor, paid_registration
from tests.factories_his import his_patient, visit
from tests.factories_org import problem_fields
from tests.factories_registration import booking_world, registration
from tests.factories_scheduling import make_scheduling_doctor

WS = "/api/v1/workstation"


def _events(db: Session, account_id: int) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(Message.event).where(Message.recipient_account_id == account_id).order_by(Message.id)
        )
    )


def test_the_doctor_sees_today_and_the_waiting_patient_with_a_preview(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    his_patient(db, who.visitor.id_number, [visit("v1", 30, "心血管内科", "I10")])
    as_doctor(client, db, world, settings)

    today = client.get(f"{WS}/today").json()
    [session] = today["sessions"]
    assert (session["id"], session["waiting"], session["booked"]) == (world.session.id, 1, 1)
    [waiting] = today["waiting"]
    assert (waiting["registration_id"], waiting["queue_number"], waiting["visitor_name"]) == (
        held["id"],
        1,
        "王秀英",
    )
    assert waiting["evidence_source"] == "his" and waiting["waiting_minutes"] >= 0

    seen = client.get(f"{WS}/registrations/{held['id']}/preview")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["visitor_name"] == "王秀英" and body["evidence_codes"] == ["I10"]
    assert [d["icd10_code"] for d in body["his_diagnoses"]] == ["I10"] and body["his_error"] is None
    db.expire_all()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "consultation.preview")) is not None


def _move_session(db: Session, session_id: int, start: dt.datetime) -> None:
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == session_id)
        .values(
            start_at=start,
            end_at=start + dt.timedelta(hours=2),
            service_date=start.astimezone(HOSPITAL_TZ).date(),
        )
    )
    db.commit()


def test_a_later_session_is_on_the_workbench_once_it_is_open_for_early_start(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    # Tomorrow 00:30 (hospital time): another service date, at least half an hour away.
    start = dt.datetime.combine(local_today() + dt.timedelta(days=1), dt.time(0, 30), HOSPITAL_TZ)
    _move_session(db, world.session.id, start)
    minutes_away = int((start - utcnow()).total_seconds() // 60)

    monkeypatch.setattr(settings, "consultation_early_start_minutes", minutes_away + 10)
    today = client.get(f"{WS}/today").json()
    assert [s["id"] for s in today["sessions"]] == [world.session.id]
    assert [w["registration_id"] for w in today["waiting"]] == [held["id"]]

    monkeypatch.setattr(settings, "consultation_early_start_minutes", minutes_away - 10)
    assert client.get(f"{WS}/today").json()["sessions"] == []


def test_accept_opens_the_consultation_and_its_room_then_complete_needs_a_signed_record(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    r = client.post(f"{WS}/registrations/{held['id']}/accept")
    assert r.status_code == 200, r.text
    consultation = r.json()
    assert (
        consultation["status"] == "in_progress"
        and consultation["room_id"]
        and consultation["record_status"] == "none"
    )
    assert client.post(f"{WS}/registrations/{held['id']}/accept").status_code == 409  # once
    db.expire_all()
    members = db.scalars(
        select(ChatParticipant.account_id).where(ChatParticipant.room_id == consultation["room_id"])
    ).all()
    assert set(members) == {who.account.id, world.doctor.user_id}
    first = db.scalars(select(ChatMessage.body).where(ChatMessage.room_id == consultation["room_id"])).first()
    assert first and "接诊" in first
    assert registration(db, held["id"]).attended_at is not None
    assert client.get(f"{WS}/today").json()["waiting"] == []

    refused = client.post(f"{WS}/consultations/{consultation['id']}/complete")
    assert refused.status_code == 409
    listed = client.get(f"{WS}/consultations", params={"status": "in_progress"}).json()
    assert [c["id"] for c in listed] == [consultation["id"]]
    detail = client.get(f"{WS}/consultations/{consultation['id']}").json()
    assert [e["kind"] for e in detail["timeline"]] == ["accepted"]

    login_as(client, db, who.account, settings)
    mine = client.get("/api/v1/me/consultations").json()
    assert [c["id"] for c in mine] == [consultation["id"]]
    assert client.get(f"/api/v1/me/consultations/{consultation['id']}").json()["status"] == "in_progress"


def test_rejecting_as_not_a_follow_up_refunds_and_tells_the_patient(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    assert problem_fields(client.post(f"{WS}/registrations/{held['id']}/reject", json={"reason": " "})) == [
        "body.reason"
    ]
    r = client.post(f"{WS}/registrations/{held['id']}/reject", json={"reason": "首次就诊，需线下面诊"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "首次就诊，需线下面诊")
    reg = registration(db, held["id"])
    assert (reg.status, reg.cancel_kind) == ("cancelled", "doctor_rejected")
    db.expire_all()
    assert db.get(Bill, held["bill_id"]).status == "refunded"  # type: ignore[union-attr]
    assert "consultation_rejected" in _events(db, who.account.id)
    assert client.post(f"{WS}/registrations/{held['id']}/accept").status_code == 409  # no longer waiting


def test_stopping_mid_way_needs_reason_and_advice_refunds_and_closes_the_room(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    as_doctor(client, db, world, settings)
    consultation = client.post(f"{WS}/registrations/{held['id']}/accept").json()
    url = f"{WS}/consultations/{consultation['id']}/stop"
    assert problem_fields(client.post(url, json={"reason": "疑似急症", "advice": ""})) == ["body.advice"]
    r = client.post(url, json={"reason": "疑似急性冠脉综合征", "advice": "请立即到急诊就诊"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["advice"]) == ("stopped", "请立即到急诊就诊")
    db.expire_all()
    assert db.get(Bill, held["bill_id"]).status == "refunded"  # type: ignore[union-attr]
    assert "consultation_stopped" in _events(db, who.account.id)
    bodies = db.scalars(
        select(ChatMessage.body)
        .where(ChatMessage.room_id == consultation["room_id"])
        .order_by(ChatMessage.seq)
    ).all()
    assert "急诊" in (bodies[-1] or "")
    assert client.post(url, json={"reason": "再次中止", "advice": "请线下就诊"}).status_code == 409


def test_workstation_is_for_the_sessions_doctor_only(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world, who, held = paid_registration(client, anon, db, settings)
    colleague = make_scheduling_doctor(db, world.inst, world.dept)
    db.commit()
    login_as(client, db, db.get(type(who.account), colleague.user_id), settings)  # type: ignore[arg-type]
    assert client.get(f"{WS}/registrations/{held['id']}/preview").status_code == 404
    assert client.post(f"{WS}/registrations/{held['id']}/accept").status_code == 404
    assert (
        client.post(f"{WS}/registrations/{held['id']}/reject", json={"reason": "越权拒诊"}).status_code == 404
    )
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    assert client.get(f"{WS}/today").status_code == 403
    login_as(client, db, who.account, settings)
    assert client.get(f"{WS}/today").status_code == 403
    assert anon.get(f"{WS}/today").status_code == 401
    assert anon.get("/api/v1/me/consultations").status_code == 401
    # Another institution's doctor sees nothing of it.
    other = booking_world(db)
    login_as(client, db, db.get(type(who.account), other.doctor.user_id), settings)  # type: ignore[arg-type]
    assert client.get(f"{WS}/registrations/{held['id']}/preview").status_code == 404
    db.expire_all()
    assert db.scalar(select(Consultation.id)) is None
