"""Batch import of staff accounts from an xlsx or csv file: every row valid, or nothing imported.

The upload is read into rows (``read_upload``), every row is checked — fields, password policy,
roles, duplicates inside the file and against the institution's accounts — and the complete list
of problems is returned, each naming its row (``rows.<n>.<column>``, ``n`` as the spreadsheet
shows it, the header being row 1). Only a clean file is written, in one transaction.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import STAFF_ROLES, Actor, Role
from ihis.identity.auth_service import normalise_username
from ihis.identity.models import UserAccount
from ihis.identity.passwords import check_password_policy, generate_initial_password
from ihis.identity.schemas_staff import StaffCreateIn
from ihis.identity.staff_policy import check_may_grant, role_errors
from ihis.identity.staff_service import NewStaff, flush_or_conflict, insert_account, phone_index
from ihis.platform import audit, spreadsheets
from ihis.platform.errors import FieldError, InvalidInput
from ihis.settings import Settings

# (key, zh-CN header, required)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("username", "用户名", True),
    ("display_name", "姓名", True),
    ("staff_no", "工号", True),
    ("phone", "手机号", False),
    ("roles", "角色", False),
    ("initial_password", "初始密码", False),
)
ROLE_LABELS: dict[Role, str] = {
    Role.DOCTOR: "医生",
    Role.NURSE: "护士",
    Role.PHARMACIST: "药师",
    Role.PHARMACY_STAFF: "药房人员",
    Role.SENIOR_PHARMACIST: "主管药师",
    Role.FORMULARY_ADMIN: "药品目录维护",
    Role.OPERATIONS: "运营",
    Role.FINANCE: "财务",
    Role.QUALITY: "医务质控",
    Role.IT_ADMIN: "系统管理员",
    Role.SECURITY_ADMIN: "安全管理员",
    Role.AUDITOR: "审计员",
    Role.SUPER_ADMIN: "超级管理员",
}
MAX_ROWS = 2000
_ROLE_SPLIT = re.compile(r"[,;，；、\s]+")


@dataclass(frozen=True)
class UploadedRow:
    number: int  # as the spreadsheet shows it; the header is row 1
    values: dict[str, str]


@dataclass(frozen=True)
class PlannedRow:
    number: int
    candidate: NewStaff


def template_xlsx() -> bytes:
    """The import template: one header row (zh-CN + key), text-formatted columns, a notes sheet."""
    from openpyxl import Workbook  # on first use: ~12 MB the API process rarely needs
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "staff"
    sheet.append([f"{label} {key}" for key, label, _ in COLUMNS])
    for index in range(1, len(COLUMNS) + 1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = 22
        # Text format keeps phone numbers and staff numbers from becoming numbers or dates in Excel.
        for row in range(2, 502):
            sheet.cell(row=row, column=index).number_format = "@"
    notes = book.create_sheet("说明")
    notes.append(["列 column", "必填 required", "说明 notes"])
    notes.append(["用户名 username", "是", "3–64 位字母、数字、. _ -，登录用，不区分大小写"])
    notes.append(["姓名 display_name", "是", "显示名称"])
    notes.append(["工号 staff_no", "是", "本院唯一"])
    notes.append(["手机号 phone", "否", "11 位手机号，本院唯一"])
    notes.append(["角色 roles", "否", "多个角色用逗号分隔；可填代码或中文名，见下表"])
    notes.append(
        ["初始密码 initial_password", "否", "留空则自动生成；至少 12 位且含 3 类字符；首次登录须修改"]
    )
    notes.append([])
    notes.append(["角色代码 role", "中文名"])
    for role, label in ROLE_LABELS.items():
        notes.append([str(role), label])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 13912345678 as a number
    return str(value).strip()


def _column_keys(header: Iterable[object]) -> list[str | None]:
    by_name = {name.lower(): key for key, label, _ in COLUMNS for name in (key, label)}
    keys: list[str | None] = []
    for cell in header:
        tokens = re.split(r"[\s()（）/]+", _cell_text(cell).lower())
        keys.append(next((by_name[t] for t in tokens if t in by_name), None))
    missing = [f"{label} {key}" for key, label, required in COLUMNS if required and key not in keys]
    if missing:
        names = ", ".join(missing)
        raise spreadsheets.file_error("column_missing", f"缺少列：{names}", f"Missing columns: {names}")
    return keys


def read_upload(filename: str | None, data: bytes) -> list[UploadedRow]:
    """The non-empty rows of an uploaded xlsx or csv file, keyed by column."""
    table = spreadsheets.read_table(filename, data, max_rows=MAX_ROWS + 2)
    if not table:
        raise spreadsheets.file_error("file_empty", "文件为空", "The file is empty")
    keys = _column_keys(table[0])
    rows = []
    for number, raw in enumerate(table[1:], start=2):
        values = {key: _cell_text(cell) for key, cell in zip(keys, raw, strict=False) if key}
        if any(values.values()):
            rows.append(UploadedRow(number, values))
    if not rows:
        raise spreadsheets.file_error("file_empty", "文件中没有数据行", "The file has no data rows")
    if len(rows) > MAX_ROWS:
        raise spreadsheets.file_error(
            "too_many_rows", f"一次最多导入 {MAX_ROWS} 行", f"At most {MAX_ROWS} rows per file"
        )
    return rows


def _roles(text: str) -> tuple[list[str], list[str]]:
    """Role codes or zh-CN names, separated by commas, semicolons, 、 or spaces: (known, unknown)."""
    by_label = {label: str(role) for role, label in ROLE_LABELS.items()}
    staff = {str(r) for r in STAFF_ROLES}
    known: set[str] = set()
    unknown: list[str] = []
    for token in filter(None, _ROLE_SPLIT.split(text)):
        code = by_label.get(token, token.lower())
        if code in staff:
            known.add(code)
        else:
            unknown.append(token)
    return sorted(known), unknown


def _check_row(row: UploadedRow) -> tuple[NewStaff | None, list[FieldError]]:
    prefix = f"rows.{row.number}"
    roles, unknown = _roles(row.values.get("roles", ""))
    problems = [
        FieldError(f"{prefix}.roles", "role_unknown", f"未知角色：{name}", f"Unknown role: {name}")
        for name in unknown
    ]
    fields = {
        "username": row.values.get("username", ""),
        "display_name": row.values.get("display_name", ""),
        "staff_no": row.values.get("staff_no", ""),
        "phone": row.values.get("phone") or None,
        "roles": roles,
        "initial_password": row.values.get("initial_password") or None,
    }
    try:
        data = StaffCreateIn.model_validate(fields)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "row"
            problems.append(FieldError(f"{prefix}.{field}", str(err["type"]), "格式不正确", str(err["msg"])))
        return None, problems
    username = normalise_username(data.username)
    if data.initial_password:
        try:
            check_password_policy(
                data.initial_password, field=f"{prefix}.initial_password", username=username, phone=data.phone
            )
        except InvalidInput as exc:
            problems += exc.errors
    problems += role_errors(roles, f"{prefix}.roles")
    password = data.initial_password or generate_initial_password()
    candidate = NewStaff(
        username,
        data.display_name,
        data.staff_no,
        data.phone,
        tuple(roles),
        password,
        not data.initial_password,
    )
    return candidate, problems


def _duplicates(planned: list[PlannedRow]) -> list[FieldError]:
    problems = []
    seen: dict[tuple[str, str], int] = {}
    for row in planned:
        c = row.candidate
        for field, value in (("username", c.username), ("staff_no", c.staff_no), ("phone", c.phone)):
            if not value:
                continue
            first = seen.setdefault((field, value), row.number)
            if first != row.number:
                problems.append(
                    FieldError(
                        f"rows.{row.number}.{field}",
                        "duplicate_in_file",
                        f"与第 {first} 行重复",
                        f"Duplicates row {first}",
                    )
                )
    return problems


def _taken(db: Session, institution_id: int, planned: list[PlannedRow]) -> list[FieldError]:
    staff = (UserAccount.institution_id == institution_id, UserAccount.kind == "staff")
    usernames = {r.candidate.username for r in planned}
    staff_nos = {r.candidate.staff_no for r in planned if r.candidate.staff_no}
    phones = {phone_index(r.candidate.phone): r.candidate.phone for r in planned if r.candidate.phone}
    taken_usernames = set(
        db.scalars(select(UserAccount.username).where(*staff, UserAccount.username.in_(usernames)))
    )
    taken_staff_nos = set(
        db.scalars(select(UserAccount.staff_no).where(*staff, UserAccount.staff_no.in_(staff_nos)))
    )
    taken_phones = {
        phones[b]
        for b in db.scalars(select(UserAccount.phone_bidx).where(*staff, UserAccount.phone_bidx.in_(phones)))
        if b is not None
    }
    problems = []
    for row in planned:
        c = row.candidate
        for field, value, taken in (
            ("username", c.username, taken_usernames),
            ("staff_no", c.staff_no, taken_staff_nos),
            ("phone", c.phone, taken_phones),
        ):
            if value and value in taken:
                problems.append(
                    FieldError(f"rows.{row.number}.{field}", f"{field}_taken", "已被占用", "Already in use")
                )
    return problems


def plan_import(db: Session, settings: Settings, actor: Actor, rows: list[UploadedRow]) -> list[PlannedRow]:
    """Check every row; the accounts to create, or ``InvalidInput`` listing every problem."""
    planned: list[PlannedRow] = []
    problems: list[FieldError] = []
    for row in rows:
        candidate, row_problems = _check_row(row)
        problems += row_problems
        if candidate is not None:
            planned.append(PlannedRow(row.number, candidate))
    check_may_grant(actor, settings, set(), {role for r in planned for role in r.candidate.roles})
    problems += _duplicates(planned) + _taken(db, actor.institution_id, planned)
    if problems:
        bad_rows = sorted({int(p.field.split(".")[1]) for p in problems})
        problems.sort(key=lambda p: int(p.field.split(".")[1]))
        raise InvalidInput(
            f"{len(bad_rows)} 行有误，未导入任何账号",
            f"{len(bad_rows)} rows have errors; nothing was imported",
            errors=problems,
            extra={"error_rows": bad_rows, "row_count": len(rows)},
        )
    return planned


def apply_import(
    db: Session, actor: Actor, planned: list[PlannedRow], password_hashes: list[str]
) -> list[tuple[PlannedRow, UserAccount]]:
    """Create every planned account in the current transaction (one audit entry per account)."""
    created = []
    for row, password_hash in zip(planned, password_hashes, strict=True):
        account = insert_account(
            db, actor.institution_id, row.candidate, password_hash, status="active", granted_by=actor.user_id
        )
        created.append((row, account))
    flush_or_conflict(db)
    for row, account in created:
        audit.record(
            db,
            actor.audit(),
            "staff.create",
            resource_type="user_account",
            resource_id=account.id,
            detail={"roles": list(row.candidate.roles), "source": "import"},
        )
    audit.record(
        db, actor.audit(), "staff.import", resource_type="user_account", detail={"count": len(created)}
    )
    return created
