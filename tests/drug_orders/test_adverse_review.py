"""Quality staff handle an adverse-reaction report: reviewed with a note (new -> reviewed), then reported
to the national ADR monitoring system under its number (reviewed -> reported); guarded moves (a second
call is 409), bad input named, audited with the patient, the note stored encrypted; only quality staff,
only their institution; the list filters by handling status."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ihis.drug_orders.models import AdverseReaction
from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.drug_orders.test_aftercare import _reaction, _signed_off
from tests.factories import login_as, make_staff
from tests.factories_drug_orders import API, pharmacy_staff
from tests.factories_org import problem_fields

ME = f"{API}/me/drug-orders"
QUALITY = f"{API}/quality/adverse-reactions"
NOTE = "考虑氨氯地平相关踝部水肿，关联性：很可能"


def _one_report(client: TestClient, db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    """A signed-off order with one report; the client is signed in as the institution's quality staff."""
    ow = _signed_off(client, db, settings)
    made = client.post(f"{ME}/{ow.order.id}/adverse-reactions", json=_reaction())
    assert made.status_code == 201, made.text
    quality = make_staff(db, ow.world.inst, roles=("quality",), display_name="质控王")
    db.commit()
    login_as(client, db, quality, settings)
    return ow, int(made.json()["id"])


def _audited_with(db: Session, action: str, report_id: int) -> list[int | None]:
    return list(
        db.scalars(
            select(AuditEvent.patient_id).where(
                AuditEvent.action == action,
                AuditEvent.resource_type == "adverse_reaction_report",
                AuditEvent.resource_id == str(report_id),
            )
        )
    )


def test_a_report_is_reviewed_then_reported_nationally(
    client: TestClient, db: Session, settings: Settings
) -> None:
    ow, report = _one_report(client, db, settings)
    assert client.get(f"{QUALITY}/{report}").json()["status"] == "new"

    reviewed = client.post(f"{QUALITY}/{report}/review", json={"note": f"  {NOTE}  "})
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert body["status"] == "reviewed" and body["review_note"] == NOTE
    assert body["reviewed_by_name"] == "质控王" and body["reviewed_at"]
    assert body["national_report_no"] is None
    assert _audited_with(db, "adverse_reaction.review", report) == [ow.order.visitor_id]

    filed = client.post(
        f"{QUALITY}/{report}/national-report", json={"report_no": "ADR-2026-110105-0042", "note": "已网报"}
    )
    assert filed.status_code == 200, filed.text
    body = filed.json()
    assert body["status"] == "reported" and body["national_report_no"] == "ADR-2026-110105-0042"
    assert body["national_reported_by_name"] == "质控王" and body["national_reported_at"]
    assert body["review_note"] == f"{NOTE}\n\n已网报"
    assert _audited_with(db, "adverse_reaction.national_report", report) == [ow.order.visitor_id]

    detail = client.get(f"{QUALITY}/{report}").json()
    assert detail["status"] == "reported" and detail["reviewed_by_name"] == "质控王"
    # The clinical note is stored encrypted, never as plain text.
    stored = db.execute(
        text("SELECT review_note FROM adverse_reaction_report WHERE id = :id"), {"id": report}
    ).scalar_one()
    assert NOTE not in str(stored)


def test_the_list_filters_by_handling_status_and_names_a_bad_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, report = _one_report(client, db, settings)
    assert [r["id"] for r in client.get(QUALITY, params={"status": "new"}).json()] == [report]
    assert client.get(QUALITY, params={"status": "reviewed"}).json() == []
    client.post(f"{QUALITY}/{report}/review", json={"note": NOTE})
    assert client.get(QUALITY, params={"status": "new"}).json() == []
    [row] = client.get(QUALITY, params={"status": "reviewed"}).json()
    assert row["id"] == report and row["review_note"] == NOTE and row["reviewed_by_name"] == "质控王"
    assert problem_fields(client.get(QUALITY, params={"status": "closed"})) == ["query.status"]


def test_bad_input_names_the_field_and_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, report = _one_report(client, db, settings)
    for note in ("好", " ", "x" * 2001):
        assert problem_fields(client.post(f"{QUALITY}/{report}/review", json={"note": note})) == ["body.note"]
    assert problem_fields(client.post(f"{QUALITY}/{report}/review", json={})) == ["body.note"]
    assert client.post(f"{QUALITY}/{report}/review", json={"note": NOTE}).status_code == 200
    url = f"{QUALITY}/{report}/national-report"
    for number in ("", "ADR 2026", "报告-1", "A" * 65):
        assert problem_fields(client.post(url, json={"report_no": number})) == ["body.report_no"], number
    assert problem_fields(client.post(url, json={})) == ["body.report_no"]
    assert problem_fields(client.post(url, json={"report_no": "ADR-1", "note": "x"})) == ["body.note"]
    row = db.get(AdverseReaction, report, populate_existing=True)
    assert row is not None and row.status == "reviewed" and row.national_report_no is None


def test_each_step_happens_once_and_in_order(client: TestClient, db: Session, settings: Settings) -> None:
    _, report = _one_report(client, db, settings)
    national = f"{QUALITY}/{report}/national-report"
    early = client.post(national, json={"report_no": "ADR-1"})  # not reviewed yet
    assert early.status_code == 409 and early.json()["report_status"] == "new"
    assert client.post(f"{QUALITY}/{report}/review", json={"note": NOTE}).status_code == 200
    again = client.post(f"{QUALITY}/{report}/review", json={"note": "另一位质控人员的意见"})
    assert again.status_code == 409 and again.json()["report_status"] == "reviewed"
    assert client.post(national, json={"report_no": "ADR-1"}).status_code == 200
    assert client.post(national, json={"report_no": "ADR-2"}).status_code == 409
    row = db.get(AdverseReaction, report, populate_existing=True)
    assert row is not None and row.review_note == NOTE and row.national_report_no == "ADR-1"


def test_only_quality_staff_of_the_institution_handle_a_report(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    ow, report = _one_report(client, db, settings)
    review, national = f"{QUALITY}/{report}/review", f"{QUALITY}/{report}/national-report"
    assert anon.post(review, json={"note": NOTE}).status_code == 401
    assert anon.post(national, json={"report_no": "ADR-1"}).status_code == 401
    doctor = make_staff(db, ow.world.inst, roles=("doctor",))
    db.commit()
    for who in (doctor, pharmacy_staff(db, ow), ow.who.account):  # doctor, pharmacist, the patient
        login_as(client, db, who, settings)
        assert client.post(review, json={"note": NOTE}).status_code == 403
        assert client.post(national, json={"report_no": "ADR-1"}).status_code == 403
    other = _signed_off(client, db, settings)  # a second hospital's quality staff
    elsewhere = make_staff(db, other.world.inst, roles=("quality",))
    db.commit()
    login_as(client, db, elsewhere, settings)
    assert client.post(review, json={"note": NOTE}).status_code == 404
    assert client.post(national, json={"report_no": "ADR-1"}).status_code == 404
    assert client.post(f"{QUALITY}/0/review", json={"note": NOTE}).status_code == 404
    row = db.get(AdverseReaction, report, populate_existing=True)
    assert row is not None and row.status == "new" and row.reviewed_by is None
