"""Auditor API: search, export and verify the ledger; only auditors, only their institution."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

import ihis.platform.audit as audit_module
from ihis.platform.audit import AuditContext, AuditEvent, record
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_patient, make_staff

EVENTS = "/api/v1/audit/events"
EXPORT = "/api/v1/audit/events/export"
VERIFY = "/api/v1/audit/verify"
T0 = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 Beijing time


def _ctx(
    inst: Institution | None,
    *,
    actor_id: int = 1,
    role: str = "doctor",
    name: str = "王医生",
    ip: str = "10.0.0.1",
) -> AuditContext:
    return AuditContext(
        actor_id=actor_id,
        actor_role=role,
        actor_name=name,
        institution_id=inst.id if inst else None,
        ip=ip,
        user_agent="pytest",
    )


def _record_at(
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    at: dt.datetime,
    ctx: AuditContext,
    action: str,
    **kw: Any,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(audit_module, "utcnow", lambda: at)
        record(db, ctx, action, resource_type=kw.pop("resource_type", "visitor"), **kw)


@pytest.fixture
def ledger(db: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, Institution]:
    """Two institutions' entries plus one platform-level entry, an hour apart."""
    home, other = make_institution(db), make_institution(db)
    hour = dt.timedelta(hours=1)
    _record_at(db, monkeypatch, T0, _ctx(home), "visitor.read", resource_id=1, patient_id=11)
    _record_at(
        db,
        monkeypatch,
        T0 + hour,
        _ctx(home, actor_id=2, name="Li Lei", ip="10.0.0.2"),
        "auth.login_failed",
        resource_type="account",
        outcome="failure",
    )
    _record_at(
        db,
        monkeypatch,
        T0 + 2 * hour,
        _ctx(home, actor_id=3, role="patient", name="张三"),
        "visitor.update",
        resource_id=2,
        patient_id=12,
    )
    _record_at(
        db, monkeypatch, T0 + 3 * hour, _ctx(other, actor_id=9), "visitor.read", resource_id=5, patient_id=11
    )
    _record_at(
        db,
        monkeypatch,
        T0 + 4 * hour,
        _ctx(None, actor_id=0, role="system", name="system"),
        "keys.rotate",
        resource_type="field_key",
    )
    db.commit()
    return {"home": home, "other": other}


def _as(client: TestClient, db: Session, settings: Settings, inst: Institution, role: str) -> int:
    staff = make_staff(db, inst, roles=[role])
    login_as(client, db, staff, settings)
    return int(staff.id)


def test_the_auditor_sees_own_and_platform_entries_newest_first(
    client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    _as(client, db, settings, ledger["home"], "auditor")
    r = client.get(EVENTS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["action"] for e in body["items"]] == [
        "keys.rotate",
        "visitor.update",
        "auth.login_failed",
        "visitor.read",
    ]
    assert body["total"] == 4 and body["page"] == 1
    assert {e["institution_id"] for e in body["items"]} == {ledger["home"].id, None}
    assert body["items"][1]["actor_name"] == "张*"  # a patient's own name is masked
    assert body["items"][2]["actor_name"] == "Li Lei"


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ({"actor_id": 2}, ["auth.login_failed"]),
        ({"actor_name": "li"}, ["auth.login_failed"]),
        ({"actor_name": "张"}, []),  # patients are not searchable by name
        ({"action": "visitor.read"}, ["visitor.read"]),
        ({"action": "visitor.*"}, ["visitor.update", "visitor.read"]),
        ({"resource_type": "field_key"}, ["keys.rotate"]),
        ({"patient_id": 11}, ["visitor.read"]),
        ({"outcome": "failure"}, ["auth.login_failed"]),
        ({"ip": "10.0.0.2"}, ["auth.login_failed"]),
        (
            {"from": "2024-03-01T11:00:00", "to": "2024-03-01T13:00:00"},
            ["visitor.update", "auth.login_failed"],
        ),
        ({"from": "2024-03-01T04:00:00Z"}, ["keys.rotate", "visitor.update"]),
    ],
)
def test_each_filter_narrows_the_search(
    client: TestClient,
    db: Session,
    settings: Settings,
    ledger: dict[str, Institution],
    query: dict[str, object],
    actions: list[str],
) -> None:
    _as(client, db, settings, ledger["home"], "auditor")
    r = client.get(EVENTS, params=query)
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["items"]] == actions


def test_results_are_paged(
    client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    _as(client, db, settings, ledger["home"], "auditor")
    body = client.get(EVENTS, params={"page": 2, "page_size": 3}).json()
    assert [e["action"] for e in body["items"]] == ["visitor.read"]
    assert body["total"] == 4 and body["page_size"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"patient_id": "abc"}, "query.patient_id"),
        ({"actor_id": 0}, "query.actor_id"),
        ({"ip": "not-an-ip"}, "query.ip"),
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2024-03-02T00:00:00", "to": "2024-03-01T00:00:00"}, "query.to"),
        ({"action": "drop table;"}, "query.action"),
        ({"page_size": 500}, "query.page_size"),
    ],
)
def test_bad_filters_name_the_field(
    client: TestClient, db: Session, settings: Settings, query: dict[str, object], field: str
) -> None:
    _as(client, db, settings, make_institution(db), "auditor")
    for url in (EVENTS,) if "page_size" in query else (EVENTS, EXPORT):
        r = client.get(url, params=query)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize("url", [EVENTS, EXPORT, VERIFY])
def test_anonymous_callers_are_refused(anon: TestClient, url: str) -> None:
    r = anon.get(url)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("role", ["it_admin", "super_admin", "security_admin", "doctor"])
@pytest.mark.parametrize("url", [EVENTS, EXPORT, VERIFY])
def test_administrators_cannot_read_the_ledger(
    client: TestClient, db: Session, settings: Settings, role: str, url: str
) -> None:
    # Separation of duties (三权分立): those who run the system do not review its audit trail.
    _as(client, db, settings, make_institution(db), role)
    r = client.get(url)
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"


def test_patients_cannot_read_the_ledger(client: TestClient, db: Session, settings: Settings) -> None:
    login_as(client, db, make_patient(db, make_institution(db)), settings)
    assert client.get(EVENTS).status_code == 403


def test_searching_and_verifying_are_themselves_audited(
    client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    auditor_id = _as(client, db, settings, ledger["home"], "auditor")
    client.get(EVENTS, params={"patient_id": 11})
    client.get(VERIFY)
    rows = db.execute(
        select(AuditEvent.action, AuditEvent.detail, AuditEvent.institution_id)
        .where(AuditEvent.actor_id == auditor_id, AuditEvent.action.startswith("audit."))
        .order_by(AuditEvent.seq)
    ).all()
    assert [r.action for r in rows] == ["audit.search", "audit.verify"]
    assert '"patient_id":11' in (rows[0].detail or "")
    assert rows[0].institution_id == ledger["home"].id


def test_export_is_a_csv_excel_opens_in_chinese_and_is_audited(
    client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    auditor_id = _as(client, db, settings, ledger["home"], "auditor")
    r = client.get(EXPORT, params={"action": "visitor.*"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="audit-events-')
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "时间（北京时间）", "机构ID"]
    assert [row[6] for row in rows[1:]] == ["visitor.update", "visitor.read"]
    assert rows[2][1] == "2024-03-01 10:00:00"
    assert rows[1][5] == "张*"
    exported = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert exported.actor_id == auditor_id and '"rows":2' in (exported.detail or "")


def test_exported_cells_cannot_run_as_spreadsheet_formulas(
    client: TestClient, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = make_institution(db)
    _record_at(db, monkeypatch, T0, _ctx(inst, name='=HYPERLINK("http://x")'), "visitor.read")
    db.commit()
    _as(client, db, settings, inst, "auditor")
    rows = list(csv.reader(io.StringIO(client.get(EXPORT).content.decode("utf-8-sig"))))
    assert rows[1][5] == '\'=HYPERLINK("http://x")'


def test_verify_reports_an_intact_chain_and_then_the_first_break(
    client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    _as(client, db, settings, ledger["home"], "auditor")
    body = client.get(VERIFY).json()
    assert body["ok"] is True and body["count"] >= 5 and body["kind"] is None
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_event_no_update"))
    target = db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")).one()
    db.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(outcome="success"))
    db.commit()
    body = client.get(VERIFY).json()
    assert (body["ok"], body["kind"], body["seq"], body["event_id"]) == (
        False,
        "altered",
        target.seq,
        target.id,
    )


def test_no_endpoint_changes_or_deletes_audit_entries(
    app: FastAPI, client: TestClient, db: Session, settings: Settings, ledger: dict[str, Institution]
) -> None:
    paths = {p: ops for p, ops in app.openapi()["paths"].items() if p.startswith("/api/v1/audit")}
    assert set(paths) == {EVENTS, EXPORT, VERIFY}
    assert all(set(ops) == {"get"} for ops in paths.values())
    _as(client, db, settings, ledger["home"], "auditor")
    event_id = db.scalars(select(AuditEvent.id).limit(1)).one()
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert client.request(method, f"{EVENTS}/{event_id}").status_code in (404, 405)
        assert client.request(method, EVENTS).status_code == 405
