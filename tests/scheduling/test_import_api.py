"""Batch import of sessions: all rows or none, with a row-by-row error report."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.clock import local_today
from ihis.scheduling.models import ClinicSession
from ihis.settings import Settings
from tests.factories import login_as, make_institution
from tests.factories_org import audit_actions, make_campus, make_department
from tests.factories_scheduling import make_scheduler, make_scheduling_doctor, make_session

URL = "/api/v1/admin/scheduling/import"
HEADER = "医师工号,科室,院区,日期,开始时间,结束时间,服务方式,号源数,价格(元),病种标签"


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> dict[str, Any]:
    inst = make_institution(db)
    campus = make_campus(db, inst, name="东院")
    dept = make_department(db, inst, name="内分泌科", campus_id=campus.id)
    doctor = make_scheduling_doctor(db, inst, dept)
    login_as(client, db, make_scheduler(db, inst), settings)
    staff_no = db.get_one(UserAccount, doctor.user_id).staff_no
    return {"inst": inst, "dept": dept, "doctor": doctor, "staff_no": staff_no, "campus": campus}


def _day(n: int) -> str:
    return (local_today() + dt.timedelta(days=n)).isoformat()


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8-sig")


def _count(db: Session, doctor_id: int) -> int:
    return (
        db.scalar(select(func.count()).select_from(ClinicSession).where(ClinicSession.doctor_id == doctor_id))
        or 0
    )


def test_a_clean_csv_creates_every_session_as_a_draft(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    no = world["staff_no"]
    data = _csv(
        f"{no},内分泌科,东院,{_day(1)},08:00,11:00,图文,10,25.50,E11",
        f"{no},,,{_day(1)},14:00,16:00,video,5,,",
    )
    r = client.post(URL, files={"file": ("sessions.csv", data, "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 2
    sessions = db.scalars(select(ClinicSession).where(ClinicSession.id.in_(r.json()["session_ids"]))).all()
    assert sorted(s.price_fen for s in sessions) == [2550, 5000]  # override, then the video price
    assert {s.status for s in sessions} == {"draft"}
    assert {s.campus_id for s in sessions} == {world["campus"].id}
    assert audit_actions(db, "clinic_session") == ["schedule.session.import"]


def test_an_xlsx_upload_works_like_the_template(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    template = client.get("/api/v1/admin/scheduling/import-template")
    assert template.status_code == 200
    book = load_workbook(io.BytesIO(template.content))
    assert book.worksheets[0]["A1"].value == "医师工号 doctor_staff_no"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([c.value for c in load_workbook(io.BytesIO(template.content)).worksheets[0][1]])
    day = local_today() + dt.timedelta(days=2)
    sheet.append(
        [world["staff_no"], None, None, dt.datetime.combine(day, dt.time()), dt.time(9), "10:30", "text", 3]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    r = client.post(URL, files={"file": ("s.xlsx", buffer.getvalue(), "application/octet-stream")})
    assert r.status_code == 201, r.text
    assert _count(db, world["doctor"].user_id) == 1


def test_one_bad_row_imports_nothing_and_every_bad_cell_is_named(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    no = world["staff_no"]
    make_session(db, world["doctor"], days=5, start=dt.time(8), end=dt.time(9))
    data = _csv(
        f"{no},,,{_day(1)},08:00,11:00,text,10,,",  # row 2: fine
        f"NOBODY,,,{_day(1)},08:00,11:00,text,10,,",  # row 3: unknown doctor
        f"{no},无此科,,{_day(2)},08:00,11:00,text,10,,",  # row 4: unknown department
        f"{no},,无此院区,{_day(2)},08:00,11:00,text,10,,",  # row 5: unknown campus
        f"{no},,,2026-13-45,08:00,11:00,text,10,,",  # row 6: bad date
        f"{no},,,{_day(3)},8点,11:00,text,10,,",  # row 7: bad time
        f"{no},,,{_day(1)},10:00,12:00,video,10,,",  # row 8: overlaps row 2
        f"{no},,,{_day(4)},08:00,11:00,text,0,,",  # row 9: capacity < 1
        f"{no},,,{_day(4)},14:00,15:00,phone,10,,",  # row 10: mode not enabled
        f"{no},,,{_day(800)},08:00,09:00,text,1,,",  # row 11: too far
        f"{no},,,{_day(5)},08:30,10:00,text,1,,",  # row 12: overlaps an existing session
        f"{no},,,{_day(6)},11:00,10:00,text,1,,",  # row 13: ends before it starts
    )
    r = client.post(URL, files={"file": ("sessions.csv", data, "text/csv")})
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == [
        "rows.3.doctor_staff_no",
        "rows.4.department",
        "rows.5.campus",
        "rows.6.service_date",
        "rows.7.start_time",
        "rows.8.start_time",
        "rows.9.capacity",
        "rows.10.mode",
        "rows.11.service_date",
        "rows.12.start_time",
        "rows.13.end_time",
    ]
    assert r.json()["error_rows"] == list(range(3, 14))
    assert _count(db, world["doctor"].user_id) == 1  # only the pre-existing session


def test_unreadable_files_and_missing_columns_name_the_file(
    client: TestClient, world: dict[str, Any]
) -> None:
    for content, name in ((b"", "a.csv"), (b"PK\x03\x04garbage", "a.xlsx"), (b"foo,bar\n1,2\n", "a.csv")):
        r = client.post(URL, files={"file": (name, content, "text/csv")})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["file"]


def test_import_needs_schedule_manage(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, world: dict[str, Any]
) -> None:
    data = _csv(f"{world['staff_no']},,,{_day(1)},08:00,11:00,text,10,,")
    assert anon.post(URL, files={"file": ("s.csv", data, "text/csv")}).status_code == 401
    assert anon.get("/api/v1/admin/scheduling/import-template").status_code == 401
    login_as(anon, db, db.get_one(UserAccount, world["doctor"].user_id), settings)
    assert anon.post(URL, files={"file": ("s.csv", data, "text/csv")}).status_code == 403
    # A scheduler of another institution does not know this doctor.
    login_as(anon, db, make_scheduler(db, make_institution(db)), settings)
    r = anon.post(URL, files={"file": ("s.csv", data, "text/csv")})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["rows.2.doctor_staff_no"]
