"""Staff administration: search with masking, create, status, MFA reset, sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.models import RecoveryCode, RoleAssignment, UserAccount
from ihis.identity.passwords import verify_password
from ihis.platform.crypto.fields import blind_index
from ihis.settings import Settings
from tests.factories import STAFF_PASSWORD, login_as, make_institution, make_staff
from tests.factories_auth import (
    API,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    make_admin,
    session_row,
    staff_login,
)

STAFF = f"{API}/admin/staff"


def _with_phone(db: Session, inst, phone: str, **kw):  # type: ignore[no-untyped-def]
    return make_staff(db, inst, phone=phone, phone_bidx=blind_index(phone, "phone"), **kw)


# --- search -----------------------------------------------------------------------------------


def test_search_masks_phones_and_filters(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    wang = _with_phone(db, inst, "13911112222", display_name="王小明", roles=["doctor"], staff_no="W001")
    _with_phone(db, inst, "13933334444", display_name="李护士", roles=["nurse"])
    body = client.get(STAFF, params={"q": "小明"}).json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["id"] == wang.id and item["phone"] == "139******22" and item["roles"] == ["doctor"]
    assert client.get(STAFF, params={"q": "w001"}).json()["total"] == 1
    assert {i["display_name"] for i in client.get(STAFF, params={"role": "nurse"}).json()["items"]} == {
        "李护士"
    }
    assert client.get(STAFF, params={"phone": "13933334444"}).json()["total"] == 1
    assert client.get(STAFF, params={"status": "disabled"}).json()["total"] == 0
    assert client.get(STAFF, params={"q": "%"}).json()["total"] == 0  # wildcards are literal


def test_full_phone_needs_pii_read_full(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)  # it_admin: staff.read but not pii.read_full
    _with_phone(db, inst, "13911112222")
    refused = client.get(STAFF, params={"reveal_phone": "true"})
    assert refused.status_code == 403
    make_admin(anon, db, inst, settings, roles=("security_admin",))
    revealed = anon.get(STAFF, params={"reveal_phone": "true"}).json()["items"]
    assert "13911112222" in {i["phone"] for i in revealed}


def test_search_bad_query_is_named(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = client.get(STAFF, params={"limit": 0, "phone": "123"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"query.limit", "query.phone"}


def test_search_shows_only_the_actors_institution(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, other = make_institution(db), make_institution(db)
    make_admin(client, db, inst, settings)
    stranger = make_staff(db, other, display_name="外院医生")
    ids = {i["id"] for i in client.get(STAFF, params={"limit": 200}).json()["items"]}
    assert stranger.id not in ids
    assert client.get(f"{STAFF}/{stranger.id}").status_code == 404


def test_staff_endpoints_need_a_session_and_the_permission(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    target = make_staff(db, inst)
    calls = [
        ("get", STAFF, None),
        ("post", STAFF, {"username": "abc", "display_name": "x", "staff_no": "1"}),
        ("get", f"{STAFF}/import-template", None),
        ("get", f"{STAFF}/{target.id}", None),
        ("put", f"{STAFF}/{target.id}/roles", {"roles": []}),
        ("post", f"{STAFF}/{target.id}/disable", None),
        ("post", f"{STAFF}/{target.id}/enable", None),
        ("post", f"{STAFF}/{target.id}/reset-mfa", None),
        ("get", f"{STAFF}/{target.id}/sessions", None),
        ("post", f"{API}/admin/sessions/1/revoke", None),
    ]
    login_as(client, db, make_staff(db, inst, roles=["doctor"]), settings)
    for method, path, json in calls:
        assert anon.request(method, path, json=json).status_code == 401, path
        assert client.request(method, path, json=json).status_code == 403, path
    upload = {"file": ("staff.csv", b"username\n", "text/csv")}
    assert anon.post(f"{STAFF}/import", files=upload).status_code == 401
    assert client.post(f"{STAFF}/import", files=upload).status_code == 403


def test_auditor_cannot_administer_staff(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, roles=("auditor",))
    assert client.get(STAFF).status_code == 403
    assert (
        client.post(STAFF, json={"username": "abc", "display_name": "x", "staff_no": "1"}).status_code == 403
    )


# --- create -----------------------------------------------------------------------------------


def test_create_generates_a_one_time_password_and_forces_a_change(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = client.post(
        STAFF,
        json={
            "username": "Zhao.Liu",
            "display_name": "赵六",
            "staff_no": "Z100",
            "phone": "13700001111",
            "roles": ["doctor"],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == "zhao.liu" and body["roles"] == ["doctor"] and body["phone"] == "137******11"
    password = body["initial_password"]
    assert password and len(password) >= 12
    account = db.get(UserAccount, body["id"])
    assert account is not None and account.must_change_password and account.institution_id == inst.id
    assert verify_password(account.password_hash, password)
    assert staff_login(anon, inst, "zhao.liu", password, None)["next"] == "change_password"


def test_create_with_an_initial_password_does_not_echo_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = client.post(
        STAFF,
        json={
            "username": "qian",
            "display_name": "钱",
            "staff_no": "Q1",
            "initial_password": "Given-Passw0rd!",
        },
    )
    assert response.status_code == 201 and response.json()["initial_password"] is None


def test_create_bad_input_names_each_field(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = client.post(
        STAFF, json={"username": "a", "display_name": "", "staff_no": "?", "phone": "1", "roles": ["surgeon"]}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"body.username", "body.display_name", "body.staff_no", "body.phone", "body.roles.0"} <= fields
    weak = client.post(
        STAFF, json={"username": "sun", "display_name": "孙", "staff_no": "S1", "initial_password": "weak"}
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "body.initial_password"
    patient_role = client.post(
        STAFF, json={"username": "zhou", "display_name": "周", "staff_no": "Z2", "roles": ["patient"]}
    )
    assert patient_role.status_code == 422 and patient_role.json()["errors"][0]["code"] == "role_not_staff"


def test_create_refuses_taken_username_staff_no_and_phone(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    _with_phone(db, inst, "13600001111", username="taken", staff_no="T1")
    response = client.post(
        STAFF, json={"username": "Taken", "display_name": "x", "staff_no": "T1", "phone": "13600001111"}
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.username", "body.staff_no", "body.phone"}


def test_create_with_an_admin_role_needs_step_up(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, step_up=False)
    body = {"username": "zheng", "display_name": "郑", "staff_no": "Z3", "roles": ["security_admin"]}
    refused = client.post(STAFF, json=body)
    assert refused.status_code == 403 and refused.json()["next"] == "step_up"
    assert client.post(STAFF, json={**body, "roles": ["doctor"]}).status_code == 201


# --- status, MFA reset ------------------------------------------------------------------------


def test_disable_revokes_sessions_and_enable_restores_login(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst)
    issued = login_as(anon, db, target, settings)
    disabled = client.post(f"{STAFF}/{target.id}/disable")
    assert disabled.status_code == 200
    assert disabled.json() == {"user_id": target.id, "status": "disabled", "sessions_revoked": 1}
    assert session_row(db, issued.session_id).revoked_reason == "account_disabled"
    assert anon.get(f"{API}/auth/me").status_code == 401
    assert client.post(f"{STAFF}/{target.id}/disable").status_code == 409
    assert client.post(f"{STAFF}/{target.id}/enable").json()["status"] == "active"
    anon.cookies.clear()
    assert staff_login(anon, inst, target.username or "", STAFF_PASSWORD, None)["next"] == "enrol_mfa"


def test_admin_cannot_disable_self_or_reach_other_institutions(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst, other = make_institution(db), make_institution(db)
    admin = make_admin(client, db, inst, settings)
    assert client.post(f"{STAFF}/{admin.id}/disable").status_code == 403
    stranger = make_staff(db, other)
    for action in ("disable", "enable", "reset-mfa"):
        assert client.post(f"{STAFF}/{stranger.id}/{action}").status_code == 404, action
    assert client.post(f"{STAFF}/999999/disable").status_code == 404


def test_it_admin_cannot_manage_a_super_admin(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    boss = make_staff(db, inst, roles=["super_admin"])
    assert client.post(f"{STAFF}/{boss.id}/disable").status_code == 403


def test_reset_mfa_needs_step_up_and_clears_the_second_factor(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    admin = make_admin(client, db, inst, settings, step_up=False)
    target = make_staff(db, inst)
    enrol_totp(db, target)
    db.add(RecoveryCode(user_id=target.id, code_hash="x"))
    db.commit()
    target_session = login_as(anon, db, target, settings)
    refused = client.post(f"{STAFF}/{target.id}/reset-mfa")
    assert refused.status_code == 403 and refused.json()["next"] == "step_up"
    from tests.factories_auth import current_session_id, grant_step_up

    grant_step_up(db, current_session_id(db, admin.id))
    response = client.post(f"{STAFF}/{target.id}/reset-mfa")
    assert response.status_code == 200 and response.json()["sessions_revoked"] == 1
    db.expire_all()
    account = db.get(UserAccount, target.id)
    assert account is not None and account.totp_enabled_at is None and account.totp_secret is None
    assert not list(db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == target.id)))
    assert session_row(db, target_session.session_id).revoked_reason == "mfa_reset"


# --- sessions ---------------------------------------------------------------------------------


def test_admin_lists_and_revokes_a_users_sessions(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst)
    issued = login_as(anon, db, target, settings)
    listed = client.get(f"{STAFF}/{target.id}/sessions")
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == [issued.session_id]
    assert listed.json()[0]["live"] is True and listed.json()[0]["current"] is False
    revoked = client.post(f"{API}/admin/sessions/{issued.session_id}/revoke")
    assert revoked.json() == {"session_id": issued.session_id, "revoked": True}
    assert anon.get(f"{API}/auth/me").status_code == 401
    assert client.post(f"{API}/admin/sessions/{issued.session_id}/revoke").json()["revoked"] is False
    assert client.get(f"{STAFF}/{target.id}/sessions").json() == []
    ended = client.get(f"{STAFF}/{target.id}/sessions", params={"include_ended": "true"}).json()
    assert ended[0]["revoked_reason"] == "admin_revoked" and ended[0]["live"] is False


def test_session_revocation_needs_step_up(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, roles=("security_admin",), step_up=False)
    issued = login_as(anon, db, make_staff(db, inst), settings)
    response = client.post(f"{API}/admin/sessions/{issued.session_id}/revoke")
    assert response.status_code == 403 and response.json()["next"] == "step_up"
    assert session_row(db, issued.session_id).revoked_at is None


def test_sessions_of_another_institution_are_invisible(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst, other = make_institution(db), make_institution(db)
    make_admin(client, db, inst, settings)
    stranger = make_staff(db, other)
    issued = login_as(anon, db, stranger, settings)
    assert client.get(f"{STAFF}/{stranger.id}/sessions").status_code == 404
    assert client.post(f"{API}/admin/sessions/{issued.session_id}/revoke").status_code == 404
    assert session_row(db, issued.session_id).revoked_at is None


def test_get_one_staff_member(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    target = make_staff(db, inst, roles=["pharmacist"])
    body = client.get(f"{STAFF}/{target.id}").json()
    assert body["id"] == target.id and body["roles"] == ["pharmacist"]
    assert client.get(f"{STAFF}/abc").status_code == 422
    roles = list(db.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == target.id)))
    assert roles == ["pharmacist"]
