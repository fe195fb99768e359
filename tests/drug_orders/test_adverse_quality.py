"""Quality staff's adverse-reaction screen: the list with the order's drugs and prescription, filtered
by reporting date and severity (bad filters named), one report in detail (audited with the patient);
only quality staff, only their institution."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.drug_orders.models import AdverseReaction
from ihis.platform.clock import local_today, utcnow
from ihis.settings import Settings
from tests.drug_orders.test_aftercare import _reaction, _signed_off
from tests.factories import login_as, make_staff
from tests.factories_drug_orders import API, pharmacy_staff
from tests.factories_org import audit_actions, problem_fields

ME = f"{API}/me/drug-orders"
QUALITY = f"{API}/quality/adverse-reactions"


def _reported(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    ow = _signed_off(client, db, settings)
    first = client.post(f"{ME}/{ow.order.id}/adverse-reactions", json=_reaction(severity="mild"))
    second = client.post(f"{ME}/{ow.order.id}/adverse-reactions", json=_reaction(severity="severe"))
    assert first.status_code == 201 and second.status_code == 201
    # The first was reported three days ago (hospital time): the date filter must tell them apart.
    db.execute(
        update(AdverseReaction)
        .where(AdverseReaction.id == first.json()["id"])
        .values(reported_at=utcnow() - dt.timedelta(days=3))
    )
    db.commit()
    quality = make_staff(db, ow.world.inst, roles=("quality",))
    db.commit()
    login_as(client, db, quality, settings)
    return ow, first.json()["id"], second.json()["id"]


def test_quality_staff_list_reports_with_drugs_and_filter_them(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, older, newer = _reported(client, db, settings)
    rows = client.get(QUALITY).json()
    assert [r["id"] for r in rows] == [newer, older]
    assert rows[0]["drug_names"] == ["苯磺酸氨氯地平片", "厄贝沙坦片"]
    assert rows[0]["number"] == ow.order.number and rows[0]["prescription_id"] == ow.rx.id
    assert rows[0]["patient_name"].endswith("*")
    today = local_today()
    assert [r["id"] for r in client.get(QUALITY, params={"date_from": str(today)}).json()] == [newer]
    until = str(today - dt.timedelta(days=1))
    assert [r["id"] for r in client.get(QUALITY, params={"date_to": until}).json()] == [older]
    assert [r["id"] for r in client.get(QUALITY, params={"severity": "severe"}).json()] == [newer]
    assert problem_fields(client.get(QUALITY, params={"severity": "fatal"})) == ["query.severity"]
    backwards = {"date_from": str(today), "date_to": until}
    assert problem_fields(client.get(QUALITY, params=backwards)) == ["query.date_to"]
    assert problem_fields(client.get(QUALITY, params={"date_from": "yesterday"})) == ["query.date_from"]


def test_one_report_in_detail_is_audited_with_the_patient(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, _, newer = _reported(client, db, settings)
    detail = client.get(f"{QUALITY}/{newer}")
    assert detail.status_code == 200
    assert (
        detail.json()["description"] == "服药后第二天出现下肢水肿" and detail.json()["severity"] == "severe"
    )
    assert "adverse_reaction.read" in audit_actions(db, "adverse_reaction_report", newer)
    assert client.get(f"{QUALITY}/0").status_code == 404


def test_only_quality_staff_of_the_institution_see_a_report(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow, _, newer = _reported(client, db, settings)
    assert anon.get(f"{QUALITY}/{newer}").status_code == 401
    doctor = make_staff(db, ow.world.inst, roles=("doctor",))
    db.commit()
    for who in (doctor, pharmacy_staff(db, ow)):
        login_as(client, db, who, settings)
        assert client.get(f"{QUALITY}/{newer}").status_code == 403
    login_as(client, db, ow.who.account, settings)  # the patient who reported it
    assert client.get(f"{QUALITY}/{newer}").status_code == 403
    other = _signed_off(client, db, settings)  # a second hospital's quality staff
    elsewhere = make_staff(db, other.world.inst, roles=("quality",))
    db.commit()
    login_as(client, db, elsewhere, settings)
    assert client.get(f"{QUALITY}/{newer}").status_code == 404
    assert client.get(QUALITY).json() == []
