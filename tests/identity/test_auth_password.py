"""Password change: forced at first login, policy with named fields, other sessions signed out."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.identity.passwords import verify_password
from ihis.settings import Settings
from tests.factories import (
    PATIENT_PASSWORD,
    STAFF_PASSWORD,
    login_as,
    make_institution,
    make_patient,
    make_staff,
)
from tests.factories_auth import (
    API,
    enrol_totp,
    fresh_ip_counts,  # noqa: F401
    session_row,
    staff_login,
)

PASSWORD = f"{API}/auth/password"
NEW_PASSWORD = "Brand-New-Passw0rd"


def test_first_login_forces_a_password_change_before_anything_else(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, roles=["it_admin"], must_change_password=True)
    secret = enrol_totp(db, staff)
    body = staff_login(client, inst, staff.username or "", STAFF_PASSWORD, secret)
    assert body["next"] == "change_password"
    blocked = client.get(f"{API}/admin/staff")
    assert blocked.status_code == 403 and blocked.json()["next"] == "change_password"
    changed = client.post(PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200
    assert changed.json()["next"] == "done"
    assert client.get(f"{API}/admin/staff").status_code == 200
    db.expire_all()
    account = db.get(UserAccount, staff.id)
    assert account is not None and not account.must_change_password
    assert verify_password(account.password_hash, NEW_PASSWORD)


def test_new_account_changes_password_then_enrols(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, must_change_password=True)
    assert staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)["next"] == "change_password"
    changed = client.post(PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json()["next"] == "enrol_mfa"


def test_enrolled_account_proves_the_second_factor_before_changing_its_password(
    client: TestClient, db: Session
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, must_change_password=True)
    enrol_totp(db, staff)
    assert staff_login(client, inst, staff.username or "", STAFF_PASSWORD, None)["next"] == "mfa"
    response = client.post(PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401 and response.json()["next"] == "mfa"


def test_policy_violations_name_the_new_password_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, username="li.ming", phone="13900001111")
    login_as(client, db, staff, settings)
    cases = {
        "Sh0rt!": "password_too_short",
        "alllowercaseletters": "password_too_simple",
        "Li.Ming": "password_too_short",
    }
    for new, code in cases.items():
        response = client.post(PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": new})
        assert response.status_code == 422, new
        errors = response.json()["errors"]
        assert all(e["field"] == "body.new_password" for e in errors)
        assert code in {e["code"] for e in errors}, new


def test_password_equal_to_username_is_refused(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst, username="dr.zhang-2024")
    login_as(client, db, staff, settings)
    response = client.post(
        PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": "Dr.Zhang-2024"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "password_equals_identity"


def test_reusing_the_current_password_is_refused(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings)
    response = client.post(
        PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": STAFF_PASSWORD}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "password_reused"


def test_wrong_current_password_names_the_field_and_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    login_as(client, db, staff, settings)
    response = client.post(
        PASSWORD, json={"current_password": "Not-The-Passw0rd", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.current_password"
    db.expire_all()
    assert verify_password(db.get(UserAccount, staff.id).password_hash, STAFF_PASSWORD)  # type: ignore[union-attr]


def test_password_change_signs_out_the_other_sessions_only(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    staff = make_staff(db, inst)
    other = login_as(anon, db, staff, settings)
    mine = login_as(client, db, staff, settings)
    response = client.post(PASSWORD, json={"current_password": STAFF_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.json()["other_sessions_revoked"] == 1
    assert session_row(db, other.session_id).revoked_reason == "password_changed"
    assert session_row(db, mine.session_id).revoked_at is None
    assert anon.get(f"{API}/auth/me").status_code == 401
    assert client.get(f"{API}/auth/me").status_code == 200


def test_patients_change_passwords_under_the_patient_policy(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    patient = make_patient(db, inst)
    login_as(client, db, patient, settings)
    response = client.post(PASSWORD, json={"current_password": PATIENT_PASSWORD, "new_password": "simple12"})
    assert response.status_code == 200, response.text


def test_password_change_needs_a_session(anon: TestClient) -> None:
    response = anon.post(PASSWORD, json={"current_password": "x", "new_password": "y"})
    assert response.status_code == 401


def test_password_change_missing_fields_are_named(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst), settings)
    response = client.post(PASSWORD, json={"new_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.current_password"
