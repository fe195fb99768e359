"""Batch import of sessions from an xlsx or csv file: every row valid, or nothing imported.

Each row is checked (doctor, department, campus, date and times, mode, capacity, price, tags,
overlaps with the doctor's other sessions in the file and in the database) and the complete list
of problems is returned, each naming its cell as ``rows.<n>.<column>`` (``n`` as the spreadsheet
shows it, the header being row 1). Only a clean file is written, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.organization.models import Campus, Department, ServiceMode
from ihis.platform import audit, spreadsheets
from ihis.platform.clock import local_today, utcnow
from ihis.platform.errors import FieldError, InvalidInput
from ihis.scheduling import policy
from ihis.scheduling.doctors import place
from ihis.scheduling.models import ClinicSession
from ihis.scheduling.service import check_no_overlap, flush_or_conflict

# (key, zh-CN header, required, notes)
COLUMNS: tuple[tuple[str, str, bool, str], ...] = (
    ("doctor_staff_no", "医师工号", True, "已审核通过的在职医师的工号"),
    ("department", "科室", False, "科室名称；留空则为医师所在科室"),
    ("campus", "院区", False, "院区名称；留空则为科室所属院区"),
    ("service_date", "日期", True, "YYYY-MM-DD，今天起 366 天内"),
    ("start_time", "开始时间", True, "HH:MM（北京时间）"),
    ("end_time", "结束时间", True, "HH:MM，晚于开始时间，同一天内"),
    ("mode", "服务方式", True, "text/phone/video 或 图文/电话/视频；须为医师已开通的方式"),
    ("capacity", "号源数", True, "1–500 的整数"),
    ("price_yuan", "价格(元)", False, "留空则按医师该方式的价格；最多两位小数"),
    ("disease_tags", "病种标签", False, "ICD-10 编码前缀，逗号分隔，如 J44,I10"),
)
MODE_LABELS = {"图文": "text", "电话": "phone", "语音": "phone", "视频": "video"}
MAX_ROWS = 2000


@dataclass(frozen=True)
class PlannedSession:
    row: int
    session: ClinicSession


def template_xlsx() -> bytes:
    """The import template: one header row (zh-CN + key) and a notes sheet."""
    return spreadsheets.template("sessions", COLUMNS, text_rows=500)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def read_rows(filename: str | None, data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The non-empty rows of an uploaded file, keyed by column, with their spreadsheet numbers."""
    table = spreadsheets.read_table(filename, data, max_rows=MAX_ROWS + 2)
    if not table:
        raise spreadsheets.file_error("file_empty", "文件为空", "The file is empty")
    by_name = {name.lower(): key for key, label, _, _ in COLUMNS for name in (key, label)}
    keys: list[str | None] = []
    for cell in table[0]:
        tokens = [_text(cell).lower(), *re.split(r"\s+", _text(cell).lower())]
        keys.append(next((by_name[t] for t in tokens if t in by_name), None))
    missing = [f"{label} {key}" for key, label, required, _ in COLUMNS if required and key not in keys]
    if missing:
        names = ", ".join(missing)
        raise spreadsheets.file_error("column_missing", f"缺少列：{names}", f"Missing columns: {names}")
    rows = []
    for number, raw in enumerate(table[1:], start=2):
        values = {key: _text(cell) for key, cell in zip(keys, raw, strict=False) if key}
        if any(values.values()):
            rows.append((number, values))
    if not rows:
        raise spreadsheets.file_error("file_empty", "文件中没有数据行", "The file has no data rows")
    if len(rows) > MAX_ROWS:
        raise spreadsheets.file_error(
            "too_many_rows", f"一次最多导入 {MAX_ROWS} 行", f"At most {MAX_ROWS} rows per file"
        )
    return rows


class _RowProblem(Exception):
    def __init__(self, column: str, code: str, zh: str, en: str) -> None:
        super().__init__(code)
        self.column, self.code, self.zh, self.en = column, code, zh, en


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.replace("/", "-")[:10])
    except ValueError:
        raise _RowProblem(
            "service_date", "date_invalid", "日期格式应为 YYYY-MM-DD", "Use YYYY-MM-DD"
        ) from None


def _time(column: str, text: str) -> dt.time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::00)?", text)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return dt.time(int(match[1]), int(match[2]))
    raise _RowProblem(column, "time_invalid", "时间格式应为 HH:MM", "Use HH:MM")


def _mode(text: str) -> str:
    mode = MODE_LABELS.get(text, text.lower())
    if mode not in {m.value for m in ServiceMode}:
        raise _RowProblem("mode", "mode_unknown", "服务方式应为 图文/电话/视频", "Use text, phone or video")
    return mode


def _capacity(text: str) -> int:
    if not re.fullmatch(r"\d{1,4}", text) or not 1 <= int(text) <= 500:
        raise _RowProblem("capacity", "capacity_invalid", "号源数应为 1–500 的整数", "Capacity must be 1-500")
    return int(text)


def _price_fen(text: str) -> int | None:
    if not text:
        return None
    try:
        fen = Decimal(text) * 100
    except InvalidOperation:
        fen = Decimal("-1")
    if fen < 0 or fen != fen.to_integral_value() or fen > 10_000_000:
        raise _RowProblem("price_yuan", "price_invalid", "价格应为最多两位小数的金额", "Invalid price")
    return int(fen)


class _Lookups:
    """Names in the file resolved once per import (staff numbers, departments, campuses)."""

    def __init__(self, db: Session, institution_id: int) -> None:
        staff = (UserAccount.institution_id == institution_id, UserAccount.kind == "staff")
        self.doctors = {
            no: id_
            for no, id_ in db.execute(select(UserAccount.staff_no, UserAccount.id).where(*staff))
            if no
        }
        in_inst = Department.institution_id == institution_id
        self.departments = dict(db.execute(select(Department.name, Department.id).where(in_inst)).all())
        in_inst_c = Campus.institution_id == institution_id
        self.campuses = dict(db.execute(select(Campus.name, Campus.id).where(in_inst_c)).all())

    def ref(self, table: dict[str, int], column: str, name: str) -> int | None:
        if not name:
            return None
        found = table.get(name)
        if found is None:
            raise _RowProblem(column, f"{column}_unknown", f"未找到：{name}", f"Unknown: {name}")
        return found


_PLACE_FIELDS = {
    "doctor_id": "doctor_staff_no",
    "department_id": "department",
    "campus_id": "campus",
    "mode": "mode",
}


def _plan_row(db: Session, actor: Actor, look: _Lookups, number: int, v: dict[str, str]) -> ClinicSession:
    required = [key for key, _, req, _ in COLUMNS if req and not v.get(key)]
    if required:
        raise _RowProblem(required[0], "required", "必填", "Required")
    doctor_id = look.ref(look.doctors, "doctor_staff_no", v["doctor_staff_no"])
    assert doctor_id is not None
    department_id = look.ref(look.departments, "department", v.get("department", ""))
    campus_id = look.ref(look.campuses, "campus", v.get("campus", ""))
    day, start, end = (
        _date(v["service_date"]),
        _time("start_time", v["start_time"]),
        _time("end_time", v["end_time"]),
    )
    mode, capacity, price = _mode(v["mode"]), _capacity(v["capacity"]), _price_fen(v.get("price_yuan", ""))
    prefix = f"rows.{number}"
    try:
        policy.check_span(f"{prefix}.end_time", start, end)
        policy.check_day(f"{prefix}.service_date", day, local_today())
        placement = place(
            db,
            actor.institution_id,
            doctor_id=doctor_id,
            department_id=department_id,
            campus_id=campus_id,
            mode=mode,
            prefix=prefix,
        )
        tags = policy.normalise_tags(f"{prefix}.disease_tags", policy.split_tags(v.get("disease_tags", "")))
        start_at, end_at = policy.local_span(day, start, end)
        if start_at <= utcnow():
            raise InvalidInput.field(
                f"{prefix}.start_time", "in_the_past", "开始时间已过", "The start time has passed"
            )
        check_no_overlap(db, doctor_id, start_at, end_at, f"{prefix}.start_time")
    except InvalidInput as exc:
        err = exc.errors[0]
        column = err.field.rsplit(".", 1)[-1]
        raise _RowProblem(
            _PLACE_FIELDS.get(column, column), err.code, err.message_zh, err.message_en
        ) from None
    return ClinicSession(
        institution_id=actor.institution_id,
        doctor_id=doctor_id,
        department_id=placement.department.id,
        campus_id=placement.campus_id,
        service_date=day,
        start_at=start_at,
        end_at=end_at,
        mode=mode,
        capacity=capacity,
        booked=0,
        price_fen=price if price is not None else placement.price_fen,
        disease_tags=tags,
        status=policy.DRAFT,
        version=1,
        created_by=actor.user_id,
    )


def _overlaps_in_file(planned: list[PlannedSession]) -> list[FieldError]:
    problems = []
    by_doctor: dict[int, list[PlannedSession]] = {}
    for p in planned:
        for other in by_doctor.get(p.session.doctor_id, []):
            if p.session.start_at < other.session.end_at and p.session.end_at > other.session.start_at:
                problems.append(
                    FieldError(
                        f"rows.{p.row}.start_time",
                        "session_overlap",
                        f"与第 {other.row} 行时间重叠",
                        f"Overlaps row {other.row}",
                    )
                )
                break
        by_doctor.setdefault(p.session.doctor_id, []).append(p)
    return problems


def plan_import(db: Session, actor: Actor, rows: list[tuple[int, dict[str, str]]]) -> list[PlannedSession]:
    """Check every row; the sessions to create, or ``InvalidInput`` listing every bad cell."""
    look = _Lookups(db, actor.institution_id)
    planned: list[PlannedSession] = []
    problems: list[FieldError] = []
    for number, values in rows:
        try:
            planned.append(PlannedSession(number, _plan_row(db, actor, look, number, values)))
        except _RowProblem as p:
            problems.append(FieldError(f"rows.{number}.{p.column}", p.code, p.zh, p.en))
    problems += _overlaps_in_file(planned)
    if problems:
        bad_rows = sorted({int(p.field.split(".")[1]) for p in problems})
        problems.sort(key=lambda p: int(p.field.split(".")[1]))
        raise InvalidInput(
            f"{len(bad_rows)} 行有误，未导入任何出诊时段",
            f"{len(bad_rows)} rows have errors; nothing was imported",
            errors=problems,
            extra={"error_rows": bad_rows, "row_count": len(rows)},
        )
    return planned


def apply_import(db: Session, actor: Actor, planned: list[PlannedSession]) -> list[int]:
    """Insert every planned session in the current transaction (draft; publish them afterwards)."""
    for p in planned:
        db.add(p.session)
    flush_or_conflict(db)
    ids = [p.session.id for p in planned]
    audit.record(
        db,
        actor.audit(),
        "schedule.session.import",
        resource_type="clinic_session",
        detail={"count": len(ids), "first_id": ids[0] if ids else None},
    )
    return ids
