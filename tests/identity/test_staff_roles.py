"""Role assignment: step-up, separation of duties, no self-service, institution scope, audit shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity import staff_service
from ihis.identity.access import Actor, Permission, permissions_of
from ihis.identity.models import RoleAssignment
from ihis.platform.errors import Forbidden
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_auth import (
    API,
    current_session_id,
    fresh_ip_counts,  # noqa: F401
    grant_step_up,
    make_admin,
)


def _roles_url(user_id: int) -> str:
    return f"{API}/admin/staff/{user_id}/roles"


def _roles(db: Session, user_id: int) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == user_id)))


def test_roles_are_replaced_with_before_and_after(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings)
    target = make_staff(db, inst, roles=["doctor"])
    response = client.put(_roles_url(target.id), json={"roles": ["nurse", "doctor", "quality"]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": target.id,
        "before": ["doctor"],
        "after": ["doctor", "nurse", "quality"],
    }
    assert _roles(db, target.id) == ["doctor", "nurse", "quality"]
    granted = db.scalar(
        select(RoleAssignment).where(RoleAssignment.user_id == target.id, RoleAssignment.role == "nurse")
    )
    assert granted is not None and granted.granted_by == admin.id
    assert client.put(_roles_url(target.id), json={"roles": []}).json()["after"] == []


def test_new_roles_apply_to_live_sessions_at_once(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst, roles=["doctor"])
    login_as(anon, db, target, settings)
    assert anon.get(f"{API}/admin/staff").status_code == 403
    client.put(_roles_url(target.id), json={"roles": ["doctor", "operations"]})
    assert anon.get(f"{API}/admin/staff").status_code == 200


def test_role_change_needs_a_recent_step_up(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings, step_up=False)
    target = make_staff(db, inst, roles=["doctor"])
    refused = client.put(_roles_url(target.id), json={"roles": ["nurse"]})
    assert refused.status_code == 403 and refused.json()["next"] == "step_up"
    assert _roles(db, target.id) == ["doctor"]
    grant_step_up(db, current_session_id(db, admin.id))
    assert client.put(_roles_url(target.id), json={"roles": ["nurse"]}).status_code == 200


def test_step_up_expires(client: TestClient, db: Session, settings: Settings) -> None:
    import datetime as dt

    from tests.factories_auth import session_row

    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings)
    row = session_row(db, current_session_id(db, admin.id))
    assert row.step_up_at is not None
    row.step_up_at = row.step_up_at - dt.timedelta(minutes=settings.step_up_minutes + 1)
    db.commit()
    target = make_staff(db, inst)
    assert client.put(_roles_url(target.id), json={"roles": ["nurse"]}).status_code == 403


def test_incompatible_roles_are_refused(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, roles=("super_admin",))
    target = make_staff(db, inst, roles=["auditor"])
    for combo in (["auditor", "it_admin"], ["auditor", "security_admin"], ["auditor", "super_admin"]):
        response = client.put(_roles_url(target.id), json={"roles": combo})
        assert response.status_code == 422, combo
        assert response.json()["errors"][0] == {
            "field": "body.roles",
            "code": "roles_incompatible",
            "message": response.json()["errors"][0]["message"],
        }
    assert _roles(db, target.id) == ["auditor"]


def test_nobody_changes_their_own_roles(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings)
    response = client.put(_roles_url(admin.id), json={"roles": ["it_admin", "security_admin"]})
    assert response.status_code == 403 and response.json()["reason"] == "own_account"
    assert _roles(db, admin.id) == ["it_admin"]


def test_only_a_super_admin_grants_super_admin(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst, roles=["doctor"])
    assert client.put(_roles_url(target.id), json={"roles": ["super_admin"]}).status_code == 403
    make_admin(anon, db, inst, settings, roles=("super_admin",))
    assert anon.put(_roles_url(target.id), json={"roles": ["super_admin"]}).status_code == 200


def test_role_change_of_another_institution_is_404(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, other = make_institution(db), make_institution(db)
    make_admin(client, db, inst, settings)
    stranger = make_staff(db, other, roles=["doctor"])
    assert client.put(_roles_url(stranger.id), json={"roles": ["nurse"]}).status_code == 404
    assert _roles(db, stranger.id) == ["doctor"]


def test_unknown_role_is_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst)
    response = client.put(_roles_url(target.id), json={"roles": ["chief"]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.roles.0"
    assert client.put(_roles_url(target.id), json={}).json()["errors"][0]["field"] == "body.roles"


def test_role_change_needs_role_assign(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, roles=("security_admin",))  # sessions and PII, not roles
    target = make_staff(db, inst)
    assert client.put(_roles_url(target.id), json={"roles": ["nurse"]}).status_code == 403


def test_creating_an_account_with_roles_needs_role_assign(db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    manager = make_staff(db, inst, roles=[])
    # No built-in role has staff.manage without role.assign; the rule still holds in the service.
    actor = Actor(
        manager.id,
        inst.id,
        "staff",
        "x",
        frozenset(),
        0,
        mfa_verified=True,
        permissions=frozenset({Permission.STAFF_MANAGE}),
    )
    candidate = staff_service.NewStaff("feng", "冯", "F1", None, ("doctor",), "Pass-w0rd-long", True)
    with pytest.raises(Forbidden):
        staff_service.create_staff(db, settings, actor, candidate, "hash")
    roleless = staff_service.NewStaff("feng", "冯", "F1", None, (), "Pass-w0rd-long", True)
    assert staff_service.create_staff(db, settings, actor, roleless, "hash").id
    assert permissions_of(frozenset({"it_admin"})) >= {Permission.STAFF_MANAGE, Permission.ROLE_ASSIGN}
