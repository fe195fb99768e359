"""Delivery through SMS and WeChat after commit, with the outbox's retries, and the delivery log."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.integrations.sms.models import SandboxSmsMessage
from ihis.notifications import channels, service
from ihis.notifications.models import Delivery, Message
from ihis.notifications.template_service import TemplateDraft, default_draft, save_template
from ihis.notifications.templates import SPECS, Event
from ihis.platform import jobs, outbox
from ihis.platform.clock import utcnow
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_patient, make_staff
from tests.factories_notifications import make_notification, make_operations, variables_for
from tests.factories_org import problem_fields

DELIVERIES = "/api/v1/admin/notifications/deliveries"


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    # Three attempts keep the retry test short; the schedule itself is the outbox's.
    return base_settings.model_copy(update={"outbox_max_attempts": 3})


@pytest.fixture(autouse=True)
def _no_sms_client_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "SMS_CLIENT_BACKOFF_SECONDS", 0.0)


def _delivery(db: Session, delivery_id: int) -> Delivery:
    db.expire_all()
    row = db.get(Delivery, delivery_id)
    assert row is not None
    return row


def _sandbox_texts(db: Session, phone: str) -> list[str]:
    return list(
        db.scalars(
            select(SandboxSmsMessage.text)
            .where(SandboxSmsMessage.phone == phone, SandboxSmsMessage.code == "OK")
            .order_by(SandboxSmsMessage.id)
        )
    )


def test_an_sms_notification_reaches_the_sandbox_provider_with_the_rendered_text(
    app: FastAPI, db: Session
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13812345678")
    notified = make_notification(
        db, patient, channels=["in_app", "sms"], doctor_name="孙医生", queue_number="7"
    )
    assert len(notified.delivery_ids) == 1
    assert _delivery(db, notified.delivery_ids[0]).status == "pending"  # nothing leaves before commit
    assert _sandbox_texts(db, "13812345678") == []
    db.commit()

    delivery = _delivery(db, notified.delivery_ids[0])
    assert (delivery.status, delivery.attempts, delivery.channel) == ("sent", 1, "sms")
    assert delivery.address_masked == "138******78"
    texts = _sandbox_texts(db, "13812345678")
    assert len(texts) == 1
    assert "孙医生" in texts[0] and "排队号7" in texts[0] and "{" not in texts[0]


def test_the_event_default_channels_follow_the_template(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    with_sms = service.notify(
        db,
        institution_id=inst.id,
        recipient_account_id=patient.id,
        event="visit_reminder",
        variables=dict.fromkeys(SPECS[Event.VISIT_REMINDER].allowed, "x"),
        link=None,
    )
    without_sms = service.notify(
        db,
        institution_id=inst.id,
        recipient_account_id=patient.id,
        event="payment_succeeded",
        variables=dict.fromkeys(SPECS[Event.PAYMENT_SUCCEEDED].allowed, "1"),
        link=None,
    )
    assert with_sms.message_id and len(with_sms.delivery_ids) == 1
    assert without_sms.message_id and without_sms.delivery_ids == []


def test_a_failing_sms_provider_is_retried_then_failed_in_the_log(
    app: FastAPI, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="19900020001")  # sandbox: always 503
    notified = make_notification(db, patient, channels=["sms"])
    delivery_id = notified.delivery_ids[0]
    db.commit()
    first = _delivery(db, delivery_id)
    assert (first.status, first.attempts) == ("retrying", 1)
    assert first.last_error == "unavailable:ServiceUnavailable"

    for attempt in (2, 3):
        # The outbox's backoff is minutes: make the retry due instead of sleeping.
        db.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        db.commit()
        assert outbox.dispatch_due(jobs.runtime()) == 1
        assert _delivery(db, delivery_id).attempts == attempt

    final = _delivery(db, delivery_id)
    assert (final.status, final.attempts) == ("failed", 3)
    message = db.scalars(select(OutboxMessage).where(OutboxMessage.key == f"delivery-{delivery_id}")).one()
    assert message.status == "failed"
    assert outbox.dispatch_due(jobs.runtime()) == 0


def test_a_permanent_provider_refusal_fails_at_once(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="19900000001")  # sandbox: frequency control
    notified = make_notification(db, patient, channels=["sms"])
    db.commit()
    delivery = _delivery(db, notified.delivery_ids[0])
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "rejected:isv.BUSINESS_LIMIT_CONTROL"


def test_a_recipient_without_a_phone_is_skipped_not_sent(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    doctor = make_staff(db, inst, roles=["doctor"])
    notified = make_notification(db, doctor, event="doctor_shift_reminder", channels=["sms"])
    db.commit()
    delivery = _delivery(db, notified.delivery_ids[0])
    assert (delivery.status, delivery.last_error) == ("skipped", "no_phone")


def test_wechat_is_skipped_and_logged_when_not_configured(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    ops = make_operations(db, inst)
    patient = make_patient(db, inst)
    spec = SPECS[Event.BOOKING_CONFIRMED]
    draft = default_draft(spec)
    from ihis.identity.access import Actor, permissions_of

    actor = Actor(ops.id, inst.id, "staff", ops.display_name, frozenset({"operations"}), 0)
    actor = Actor(**{**actor.__dict__, "permissions": permissions_of(actor.roles)})
    save_template(
        db,
        actor,
        Event.BOOKING_CONFIRMED,
        TemplateDraft(draft.title, draft.body, None, "TMPL_booking_01", draft.wechat_fields),
        expected_version=0,
    )
    # Default channels: in-app, plus WeChat now that the template has a WeChat template id.
    notified = service.notify(
        db,
        institution_id=inst.id,
        recipient_account_id=patient.id,
        event="booking_confirmed",
        variables=variables_for("booking_confirmed"),
        link=None,
    )
    assert len(notified.delivery_ids) == 1
    db.commit()
    delivery = _delivery(db, notified.delivery_ids[0])
    assert (delivery.channel, delivery.status, delivery.last_error) == (
        "wechat",
        "skipped",
        "wechat_not_configured",
    )
    assert delivery.sent_at is None


def test_a_replayed_delivery_message_sends_nothing_twice(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13812340000")
    notified = make_notification(db, patient, channels=["sms"])
    db.commit()
    from ihis.notifications.jobs import deliver_notification

    deliver_notification(jobs.runtime(), {"delivery_id": notified.delivery_ids[0]})
    assert len(_sandbox_texts(db, "13812340000")) == 1
    assert _delivery(db, notified.delivery_ids[0]).attempts == 1


def test_operations_read_the_delivery_log_with_masked_phones_and_filters(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13912345678", display_name="周八")
    other = make_patient(db, inst, phone="19900000002")
    make_notification(db, patient, channels=["sms"])
    make_notification(db, other, event="visit_reminder", channels=["sms"])
    make_notification(db, make_patient(db, make_institution(db)), channels=["sms"])  # elsewhere
    db.commit()
    login_as(client, db, make_operations(db, inst), settings)

    response = client.get(DELIVERIES)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2
    assert "13912345678" not in response.text
    sent = next(d for d in page["items"] if d["recipient_account_id"] == patient.id)
    assert (sent["status"], sent["address"], sent["recipient_name"]) == ("sent", "139******78", "周*")

    def ids(**params: str | int) -> list[int]:
        return [d["recipient_account_id"] for d in client.get(DELIVERIES, params=params).json()["items"]]

    assert ids(status="failed") == [other.id]
    assert ids(event="visit_reminder") == [other.id]
    assert ids(recipient=patient.id) == [patient.id]
    assert ids(channel="wechat") == []
    today = utcnow().astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    assert len(ids(date_from=today.isoformat(), date_to=today.isoformat())) == 2
    assert ids(date_from=(today + dt.timedelta(days=1)).isoformat()) == []


def test_delivery_log_bad_input_names_the_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_operations(db, inst), settings)
    assert problem_fields(client.get(DELIVERIES, params={"channel": "fax"})) == ["query.channel"]
    assert problem_fields(client.get(DELIVERIES, params={"status": "lost"})) == ["query.status"]
    assert problem_fields(client.get(DELIVERIES, params={"event": "x"})) == ["query.event"]
    assert problem_fields(client.get(DELIVERIES, params={"date_from": "yesterday"})) == ["query.date_from"]
    assert problem_fields(
        client.get(DELIVERIES, params={"date_from": "2026-05-02", "date_to": "2026-05-01"})
    ) == ["query.date_to"]


def test_the_delivery_log_is_for_operations_only(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    assert anon.get(DELIVERIES).status_code == 401
    inst = make_institution(db)
    login_as(client, db, make_patient(db, inst), settings)
    assert client.get(DELIVERIES).status_code == 403
    client.cookies.clear()
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    assert client.get(DELIVERIES).status_code == 403


def test_no_message_and_no_delivery_survive_a_rolled_back_transaction(app: FastAPI, db: Session) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst, phone="13812349999")
    db.commit()
    with db.begin_nested():
        make_notification(db, patient, channels=["in_app", "sms"])
        db.rollback()
    assert db.scalars(select(Message).where(Message.recipient_account_id == patient.id)).all() == []
    assert db.scalars(select(Delivery).where(Delivery.recipient_account_id == patient.id)).all() == []
    assert _sandbox_texts(db, "13812349999") == []
