"""Booking through HTTP: hold, bill, pay, confirmed with a queue number and a message; every
precondition refused with a clear problem naming what to fix; nothing half-written."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ihis.billing.models import Bill
from ihis.notifications.models import Message, ScheduledNotification
from ihis.platform.audit import AuditEvent
from ihis.platform.clock import utcnow
from ihis.registration.models import DepartmentEligibilityPolicy, Registration
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_billing import mount_billing
from tests.factories_org import problem_fields
from tests.factories_patient import make_patient, make_visitor, years_ago
from tests.factories_registration import (
    book,
    booked,
    booking_world,
    make_booker,
    make_evidence,
    pay,
    registration,
)
from tests.factories_scheduling import make_session

URL = "/api/v1/me/registrations"


def _messages(db: Session, account_id: int) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(Message.event).where(Message.recipient_account_id == account_id).order_by(Message.id)
        )
    )


def test_an_eligible_patient_books_pays_and_is_confirmed_with_a_queue_number(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db, price_fen=2500)
    first, second = make_booker(db, world), make_booker(db, world, name="李四")

    held = book(client, db, settings, first, world.session)
    assert held["status"] == "pending_payment" and held["queue_number"] is None
    assert held["amount_fen"] == 2500 and held["bill_status"] == "unpaid" and held["can_pay"]
    assert held["number"].startswith("GH") and held["session"]["doctor_name"] == "张医生"
    assert booked(db, world.session) == 1
    pay(client, anon, held["bill_id"])

    mine = client.get(f"{URL}/{held['id']}").json()
    assert (mine["status"], mine["queue_number"], mine["bill_status"]) == ("confirmed", 1, "paid")
    assert mine["can_cancel"] and not mine["can_pay"] and mine["refunds"] == []
    assert _messages(db, first.account.id) == ["booking_confirmed", "payment_succeeded"]
    message = client.get("/api/v1/me/messages").json()["items"][-1]
    assert message["link"] == {
        "type": "registration",
        "id": held["id"],
        "route": f"/registrations/{held['id']}",
    }

    other = book(client, db, settings, second, world.session)
    pay(client, anon, other["bill_id"], channel="alipay")
    assert client.get(f"{URL}/{other['id']}").json()["queue_number"] == 2
    assert booked(db, world.session) == 2
    # The evidence is tied to the registration it admitted.
    db.expire_all()
    assert first.evidence.registration_id == held["id"]


def test_a_visit_reminder_is_scheduled_for_thirty_minutes_before_the_start(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    mount_billing(client.app)  # type: ignore[arg-type]
    world = booking_world(db)
    who = make_booker(db, world)
    held = book(client, db, settings, who, world.session)
    pay(client, anon, held["bill_id"])
    db.expire_all()
    reminder = db.scalar(
        select(ScheduledNotification).where(
            ScheduledNotification.link_type == "registration", ScheduledNotification.link_id == held["id"]
        )
    )
    assert reminder is not None and reminder.event == "visit_reminder" and reminder.status == "scheduled"
    assert reminder.due_at == world.session.start_at - dt.timedelta(minutes=30)


def test_the_list_shows_only_own_registrations_newest_first(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    who, stranger = make_booker(db, world), make_booker(db, world)
    later = make_session(db, world.doctor, status="published", days=2)
    db.commit()
    a = book(client, db, settings, who, world.session)
    b = book(
        client,
        db,
        settings,
        who,
        later,
        evidence_id=make_evidence(db, who.account, who.visitor, world.dept.id).id,
    )
    book(client, db, settings, stranger, world.session)
    login_as(client, db, who.account, settings)
    page = client.get(URL).json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [b["id"], a["id"]]
    assert client.get(URL, params={"status": "confirmed"}).json()["total"] == 0
    assert client.get(URL, params={"status": "nonsense"}).status_code == 422


def test_preconditions_are_refused_naming_what_to_fix(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    who = make_booker(db, world)
    login_as(client, db, who.account, settings)

    def post(**body: object) -> tuple[int, str, list[str]]:
        payload = {
            "session_id": world.session.id,
            "visitor_id": who.visitor.id,
            "evidence_id": who.evidence.id,
        }
        r = client.post(URL, json=payload | body)
        return r.status_code, r.json().get("code", ""), problem_fields(r)

    assert post(session_id=0)[0] == 422
    assert post(visitor_id=999999)[:3] == (422, "invalid_input", ["body.visitor_id"])
    unverified = make_visitor(db, who.account, name="未认证")
    db.execute(update(type(unverified)).where(type(unverified).id == unverified.id).values(verified_at=None))
    db.commit()
    assert post(visitor_id=unverified.id)[2] == ["body.visitor_id"]
    assert post(evidence_id=999999)[2] == ["body.evidence_id"]
    assert post(session_id=999999)[:2] == (404, "not_found")
    draft = make_session(db, world.doctor, status="draft", days=3)
    far = make_session(db, world.doctor, status="published", days=settings.booking_window_days + 1)
    db.commit()
    assert post(session_id=draft.id)[:2] == (409, "session_not_bookable")
    assert post(session_id=far.id)[:2] == (409, "session_not_bookable")
    tagged = make_session(db, world.doctor, status="published", days=2, disease_tags="E11")
    db.commit()
    assert post(session_id=tagged.id)[2] == ["body.evidence_id"]  # evidence was not checked for E11
    db.execute(
        update(type(who.evidence))
        .where(type(who.evidence).id == who.evidence.id)
        .values(checked_at=utcnow() - dt.timedelta(hours=settings.eligibility_evidence_valid_hours + 1))
    )
    db.commit()
    assert post()[2] == ["body.evidence_id"]  # expired check
    # Nothing was written by any refusal.
    db.expire_all()
    assert (
        db.scalar(
            select(func.count()).select_from(Registration).where(Registration.account_id == who.account.id)
        )
        == 0
    )
    assert (
        db.scalar(select(func.count()).select_from(Bill).where(Bill.payer_account_id == who.account.id)) == 0
    )
    assert booked(db, world.session) == 0


def test_a_visitor_books_a_session_once_and_a_full_session_says_so(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db, capacity=1)
    who, late = make_booker(db, world), make_booker(db, world)
    book(client, db, settings, who, world.session)
    again = make_evidence(db, who.account, who.visitor, world.dept.id)
    assert (
        book(client, db, settings, who, world.session, expect=409, evidence_id=again.id)["code"]
        == "already_booked"
    )
    assert book(client, db, settings, late, world.session, expect=409)["code"] == "session_full"
    assert booked(db, world.session) == 1


def test_age_rules_apply(client: TestClient, db: Session, settings: Settings) -> None:
    world = booking_world(db)
    child = make_booker(db, world, birth=years_ago(5, days=-30))
    r = book(client, db, settings, child, world.session, expect=422)
    assert problem_fields_of(r) == ["body.guardian_accompanied"]
    ok = book(client, db, settings, child, world.session, guardian_accompanied=True)
    assert ok["guardian_accompanied"] and ok["visitor"]["under_six"]

    db.add(
        DepartmentEligibilityPolicy(
            institution_id=world.inst.id, department_id=world.dept.id, lookback_days=180, min_age_years=18
        )
    )
    db.commit()
    teen = make_booker(db, world, birth=years_ago(16))
    r = book(client, db, settings, teen, world.session, expect=422)
    assert (
        problem_fields_of(r) == ["body.visitor_id"]
        and r["errors"][0]["code"] == "age_below_department_minimum"
    )


def problem_fields_of(body: dict[str, object]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]  # type: ignore[index,union-attr]


def test_consent_is_required_and_staff_cannot_book(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    assert anon.post(URL, json={"session_id": 1, "visitor_id": 1, "evidence_id": 1}).status_code == 401
    assert anon.get(URL).status_code == 401
    no_consent = make_patient(db, world.inst)
    db.commit()
    login_as(client, db, no_consent, settings)
    r = client.post(URL, json={"session_id": world.session.id, "visitor_id": 1, "evidence_id": 1})
    assert (r.status_code, r.json()["code"]) == (403, "consent_required")
    login_as(client, db, make_staff(db, world.inst, roles=["operations"]), settings)
    assert client.get(URL).status_code == 403


def test_nobody_sees_or_cancels_another_accounts_registration(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    owner, other = make_booker(db, world), make_booker(db, world)
    mine = book(client, db, settings, owner, world.session)
    login_as(client, db, other.account, settings)
    assert client.get(f"{URL}/{mine['id']}").status_code == 404
    assert client.post(f"{URL}/{mine['id']}/cancel", json={}).status_code == 404
    elsewhere = make_booker(db, booking_world(db))
    login_as(client, db, elsewhere.account, settings)
    assert client.get(f"{URL}/{mine['id']}").status_code == 404
    assert registration(db, mine["id"]).status == "pending_payment"


def test_booking_is_audited(client: TestClient, db: Session, settings: Settings) -> None:
    world = booking_world(db)
    held = book(client, db, settings, make_booker(db, world), world.session)
    db.expire_all()
    actions = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.resource_type == "registration", AuditEvent.resource_id == str(held["id"])
        )
    ).all()
    assert "registration.create" in actions


def test_a_stopped_session_between_check_and_booking_is_not_booked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = booking_world(db)
    who = make_booker(db, world)
    db.execute(update(ClinicSession).where(ClinicSession.id == world.session.id).values(status="stopped"))
    db.commit()
    assert book(client, db, settings, who, world.session, expect=409)["code"] == "session_not_bookable"
    assert make_institution  # keeps the import honest for readers of this module
