"""After sign-off: guidance, reminders scheduled, adverse-reaction reports reaching quality staff."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.notifications.models import ScheduledNotification
from ihis.platform.clock import local_today
from ihis.settings import Settings
from tests.factories import login_as, make_staff
from tests.factories_drug_orders import API, as_patient, confirm, current, order_world, paid, pharmacy_staff
from tests.factories_org import audit_actions, problem_fields
from tests.factories_patient import make_consented_patient

ME = f"{API}/me/drug-orders"
PH = f"{API}/pharmacy/orders"
QUALITY = f"{API}/quality/adverse-reactions"


def _signed_off(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    ow = order_world(db, lines=[("D001", 2), ("D003", 1)])
    as_patient(client, db, ow, settings)
    confirm(client, ow, pickup="window")
    paid(db, ow)
    staff, checker = pharmacy_staff(db, ow, roles=("pharmacy_staff",)), pharmacy_staff(db, ow)
    login_as(client, db, staff, settings)
    client.post(f"{PH}/{ow.order.id}/dispense")
    login_as(client, db, checker, settings)
    client.post(f"{PH}/{ow.order.id}/recheck", json={})
    client.post(f"{PH}/{ow.order.id}/pack")
    client.post(f"{PH}/{ow.order.id}/ready")
    code = current(db, ow.order.id).pickup_code
    assert client.post(f"{PH}/{ow.order.id}/sign-off", json={"code": code}).status_code == 200
    as_patient(client, db, ow, settings)
    return ow


def _reaction(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "description": "服药后第二天出现下肢水肿",
        "onset_date": str(local_today()),
        "severity": "moderate",
    }
    body.update(kw)
    return body


def test_sign_off_schedules_adherence_and_renewal_reminders_and_shows_guidance(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _signed_off(client, db, settings)
    events = sorted(
        db.scalars(
            select(ScheduledNotification.event).where(
                ScheduledNotification.recipient_account_id == ow.who.account.id
            )
        )
    )
    assert events == ["medication_reminder", "renewal_reminder"]
    guidance = client.get(f"{ME}/{ow.order.id}").json()["guidance"]
    assert [g["drug_name"] for g in guidance] == ["苯磺酸氨氯地平片", "厄贝沙坦片"]
    assert all(g["usage"] for g in guidance)


def test_an_adverse_reaction_reaches_quality_staff_and_is_audited(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _signed_off(client, db, settings)
    made = client.post(f"{ME}/{ow.order.id}/adverse-reactions", json=_reaction())
    assert made.status_code == 201, made.text
    quality = make_staff(db, ow.world.inst, roles=("quality",))
    db.commit()
    login_as(client, db, quality, settings)
    listed = client.get(QUALITY)
    assert listed.status_code == 200
    [report] = listed.json()
    assert report["order_id"] == ow.order.id and report["severity"] == "moderate"
    assert report["patient_name"].endswith("*")
    assert "adverse_reaction.list" in audit_actions(db, "adverse_reaction_report")
    assert "drug_order.adverse_reaction" in audit_actions(db, "adverse_reaction_report", made.json()["id"])


def test_adverse_reaction_input_is_named_and_needs_a_signed_off_order(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow = _signed_off(client, db, settings)
    url = f"{ME}/{ow.order.id}/adverse-reactions"
    tomorrow = str(local_today() + dt.timedelta(days=1))
    assert problem_fields(client.post(url, json=_reaction(onset_date=tomorrow))) == ["body.onset_date"]
    assert problem_fields(client.post(url, json=_reaction(severity="fatal"))) == ["body.severity"]
    assert problem_fields(client.post(url, json=_reaction(description="痒"))) == ["body.description"]
    other = order_world(db, world=ow.world)
    as_patient(client, db, other, settings)
    assert client.post(f"{ME}/{other.order.id}/adverse-reactions", json=_reaction()).status_code == 409
    assert client.post(url, json=_reaction()).status_code == 404  # not theirs


def test_only_quality_staff_read_the_reports(
    anon: TestClient, client: TestClient, db: Session, settings: Settings
) -> None:
    ow = order_world(db)
    assert anon.get(QUALITY).status_code == 401
    login_as(client, db, pharmacy_staff(db, ow), settings)
    assert client.get(QUALITY).status_code == 403
    patient = make_consented_patient(db, ow.world.inst)
    db.commit()
    login_as(client, db, patient, settings)
    assert client.get(QUALITY).status_code == 403
