"""Security events of identity and access land in the audit ledger, failures included."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditEvent
from ihis.settings import Settings
from tests.factories import STAFF_PASSWORD, make_institution, make_staff
from tests.factories_auth import (
    API,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    make_admin,
    staff_login,
    totp,
)


def _events(db: Session, institution_id: int) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.institution_id == institution_id).order_by(AuditEvent.seq)
        )
    )


def test_login_failures_and_the_lockout_are_audited_although_the_request_failed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    for _ in range(settings.lockout_threshold):
        client.post(
            f"{API}/auth/staff/login",
            json={"username": staff.username, "password": "Wrong-Passw0rd!"},
            headers={"X-IHIS-Institution": inst.code},
        )
    events = _events(db, inst.id)
    failures = [e for e in events if e.action == "auth.login"]
    assert len(failures) == settings.lockout_threshold
    assert {e.outcome for e in failures} == {"failure"} and failures[0].actor_id == staff.id
    assert json.loads(failures[0].detail or "{}") == {"reason": "bad_credentials"}
    assert [e.action for e in events].count("auth.lockout") == 1


def test_unknown_username_failure_is_audited_without_the_typed_name(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    client.post(
        f"{API}/auth/staff/login",
        json={"username": "Secret-Passw0rd-typed-here", "password": "x"},
        headers={"X-IHIS-Institution": inst.code},
    )
    (event,) = _events(db, inst.id)
    assert event.actor_id is None and event.actor_role == "anonymous"
    assert "Secret-Passw0rd" not in (event.detail or "")


def test_successful_login_mfa_and_logout_are_audited(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    secret = enrol_totp(db, staff)
    staff_login(client, inst, staff.username or "", STAFF_PASSWORD, secret)
    client.post(f"{API}/auth/step-up", json={"password": STAFF_PASSWORD, "code": totp(secret)})
    client.post(f"{API}/auth/logout")
    actions = [(e.action, e.outcome) for e in _events(db, inst.id)]
    assert actions == [
        ("auth.login", "success"),
        ("auth.mfa_verify", "success"),
        ("auth.step_up", "success"),
        ("auth.logout", "success"),
    ]


def test_role_change_is_audited_with_before_and_after(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings)
    target = make_staff(db, inst, roles=["doctor"])
    client.put(f"{API}/admin/staff/{target.id}/roles", json={"roles": ["nurse"]})
    (event,) = [e for e in _events(db, inst.id) if e.action == "staff.role_change"]
    assert event.actor_id == admin.id and event.resource_id == str(target.id)
    assert json.loads(event.detail or "{}") == {"before": ["doctor"], "after": ["nurse"]}


def test_full_phone_read_is_audited(anon: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    reader = make_admin(anon, db, inst, settings, roles=("security_admin",))
    anon.get(f"{API}/admin/staff", params={"reveal_phone": "true"})
    (event,) = [e for e in _events(db, inst.id) if e.action == "staff.read_pii"]
    assert event.actor_id == reader.id
