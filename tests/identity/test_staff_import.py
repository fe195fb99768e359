"""Batch import of staff accounts (xlsx and csv): all rows or none, with a row-by-row report."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.identity.models import RoleAssignment, UserAccount
from ihis.identity.passwords import verify_password
from ihis.settings import Settings
from tests.factories import make_institution, make_staff
from tests.factories_auth import (
    API,
    fresh_ip_counts,  # noqa: F401
    make_admin,
    xlsx_bytes,
)

IMPORT = f"{API}/admin/staff/import"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [
    "用户名 username",
    "姓名 display_name",
    "工号 staff_no",
    "手机号 phone",
    "角色 roles",
    "初始密码 initial_password",
]


def _upload_xlsx(client: TestClient, rows: list[list[Any]]):  # type: ignore[no-untyped-def]
    return client.post(IMPORT, files={"file": ("staff.xlsx", xlsx_bytes([HEADER, *rows]), XLSX)})


def _staff_count(db: Session, inst_id: int) -> int:
    return int(
        db.scalar(select(func.count(UserAccount.id)).where(UserAccount.institution_id == inst_id)) or 0
    )


def test_template_has_the_columns_and_role_notes(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = client.get(f"{API}/admin/staff/import-template")
    assert response.status_code == 200 and response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content))
    assert [c.value for c in book["staff"][1]] == HEADER
    notes = [row[0] for row in book["说明"].iter_rows(values_only=True)]
    assert "doctor" in notes and "auditor" in notes


def test_template_round_trips_through_the_import(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    book = load_workbook(io.BytesIO(client.get(f"{API}/admin/staff/import-template").content))
    book["staff"].append(["tpl.user", "模板", "TPL1", "13500000001", "医生", None])
    buffer = io.BytesIO()
    book.save(buffer)
    response = client.post(IMPORT, files={"file": ("t.xlsx", buffer.getvalue(), XLSX)})
    assert response.status_code == 201, response.text
    assert response.json()["created"][0]["roles"] == ["doctor"]


def test_valid_xlsx_creates_every_account_with_one_time_passwords(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    response = _upload_xlsx(
        client,
        [
            ["Wang.Wu", "王五", "D100", 13800001001, "doctor", None],
            ["zhao.qi", "赵七", "N200", "13800001002", "护士, pharmacist", "Chosen-Passw0rd!"],
            [None, None, None, None, None, None],  # blank rows are skipped
            ["sun.ba", "孙八", 300, None, "", None],
        ],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 3
    rows = {c["username"]: c for c in body["created"]}
    assert rows["wang.wu"]["row"] == 2 and rows["sun.ba"]["row"] == 5
    assert rows["zhao.qi"]["roles"] == ["nurse", "pharmacist"]
    assert rows["zhao.qi"]["initial_password"] is None  # chosen by the admin: not echoed
    generated = rows["wang.wu"]["initial_password"]
    account = db.get(UserAccount, rows["wang.wu"]["id"])
    assert account is not None and account.phone == "13800001001" and account.must_change_password
    assert verify_password(account.password_hash, generated)
    assert rows["sun.ba"]["staff_no"] == "300"


def test_one_bad_row_imports_nothing_and_reports_every_row(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    make_staff(db, inst, username="existing", staff_no="E1")
    before = _staff_count(db, inst.id)
    response = _upload_xlsx(
        client,
        [
            ["good.one", "好人", "G1", "13800002001", "doctor", None],
            ["x", "", "G2", "123", "surgeon", None],  # row 3: username, name, phone, role
            ["existing", "重名", "E1", None, "nurse", None],  # row 4: taken in the database
            ["good.one", "重复", "G1", "13800002001", "nurse", "weak"],  # row 5: duplicates row 2, weak pw
            ["auditor.x", "审计", "A1", None, "auditor, it_admin", None],  # row 6: incompatible
        ],
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["error_rows"] == [3, 4, 5, 6] and problem["row_count"] == 5
    found = {(e["field"], e["code"]) for e in problem["errors"]}
    assert {
        ("rows.3.username", "string_pattern_mismatch"),
        ("rows.3.display_name", "string_too_short"),
        ("rows.3.phone", "string_pattern_mismatch"),
        ("rows.3.roles", "role_unknown"),
        ("rows.4.username", "username_taken"),
        ("rows.4.staff_no", "staff_no_taken"),
        ("rows.5.username", "duplicate_in_file"),
        ("rows.5.staff_no", "duplicate_in_file"),
        ("rows.5.phone", "duplicate_in_file"),
        ("rows.5.initial_password", "password_too_short"),
        ("rows.6.roles", "roles_incompatible"),
    } <= found
    assert _staff_count(db, inst.id) == before


def test_csv_import_in_utf8_and_gbk(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    text = "用户名,姓名,工号,手机号,角色\ncsv.one,陈一,C1,13800003001,医生\n"
    utf8 = client.post(IMPORT, files={"file": ("s.csv", ("\ufeff" + text).encode(), "text/csv")})
    assert utf8.status_code == 201, utf8.text
    gbk_text = text.replace("csv.one", "csv.two").replace("C1", "C2").replace("13800003001", "13800003002")
    gbk = client.post(IMPORT, files={"file": ("s.csv", gbk_text.encode("gbk"), "text/csv")})
    assert gbk.status_code == 201, gbk.text
    assert gbk.json()["created"][0]["display_name"] == "陈一"
    roles = db.scalars(
        select(RoleAssignment.role).where(RoleAssignment.user_id == gbk.json()["created"][0]["id"])
    )
    assert list(roles) == ["doctor"]


def test_csv_with_a_bad_row_imports_nothing(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    before = _staff_count(db, inst.id)
    text = "username,display_name,staff_no\nok.user,好,K1\nok.user,重复,K2\n"
    response = client.post(IMPORT, files={"file": ("s.csv", text.encode(), "text/csv")})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rows.3.username"
    assert _staff_count(db, inst.id) == before


def test_unreadable_or_incomplete_files_name_the_file(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    cases = {
        "file_empty": ("e.csv", b"", "text/csv"),
        "column_missing": ("m.csv", b"username,display_name\na,b\n", "text/csv"),
        "file_unreadable": ("broken.xlsx", b"not a zip", XLSX),
    }
    for code, upload in cases.items():
        response = client.post(IMPORT, files={"file": upload})
        assert response.status_code == 422, code
        assert response.json()["errors"][0] == {
            "field": "file",
            "code": code,
            "message": response.json()["errors"][0]["message"],
        }
    header_only = client.post(
        IMPORT, files={"file": ("h.csv", b"username,display_name,staff_no\n", "text/csv")}
    )
    assert header_only.json()["errors"][0]["code"] == "file_empty"
    missing = client.post(IMPORT)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.file"


def test_importing_admin_roles_needs_step_up(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    make_admin(client, db, inst, settings, step_up=False)
    response = _upload_xlsx(client, [["sec.admin", "安全", "SA1", None, "security_admin", None]])
    assert response.status_code == 403 and response.json()["next"] == "step_up"


def test_oversized_upload_is_refused(client: TestClient, db: Session, settings: Settings, app) -> None:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    make_admin(client, db, inst, settings)
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 10})
    response = client.post(
        IMPORT, files={"file": ("big.csv", b"username,display_name,staff_no\n" * 10, "text/csv")}
    )
    assert response.status_code == 413
