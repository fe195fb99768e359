"""Import of an official code table (xlsx or csv): every row valid, or nothing imported.

The official spreadsheets (国家临床版 2.0, 医保版 2.0, GB/T 15657-2021) put a title above the
header, so the header is the first of the top rows naming a code column (编码 / 疾病编码 /
诊断编码 ...) and a name column (名称 / 疾病名称 / 诊断名称 ...). Problems name their cell as
``rows.<n>.<column>`` with ``n`` as the spreadsheet shows it. Re-importing an edition updates
names, adds new codes and disables codes the file no longer has; an identical file changes
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ihis.coding import editions
from ihis.coding.keys import code_key, initials
from ihis.coding.models import CodeEdition, CodeSystem, DiagnosisCode
from ihis.platform import audit, spreadsheets
from ihis.platform.audit import AuditContext
from ihis.platform.clock import utcnow
from ihis.platform.errors import FieldError, InvalidInput

CODE_HEADERS = frozenset(
    {"编码", "疾病编码", "诊断编码", "代码", "疾病代码", "诊断代码", "病名编码", "证候编码", "code"}
)
NAME_HEADERS = frozenset({"名称", "疾病名称", "诊断名称", "病名", "病名名称", "证候名称", "证候", "name"})
PARENT_HEADERS = frozenset({"上级编码", "父级编码", "类目编码", "类目代码", "parent", "parent_code"})
HEADER_SEARCH_ROWS = 20
MAX_ROWS = 100_000  # 国临版 2.0 has about 36,000 rows
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # refuse zip bombs
MAX_REPORTED_ERRORS = 200
MAX_CODE = 48
MAX_NAME = 200
_CODE_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+*/\-]*$")


@dataclass(frozen=True)
class CodeRow:
    number: int  # as the spreadsheet shows it
    code: str
    name: str
    parent: str


@dataclass(frozen=True)
class PlannedCode:
    code: str
    code_key: str
    name: str
    initials: str
    parent_code: str | None


@dataclass(frozen=True)
class ImportResult:
    edition: CodeEdition
    added: int
    updated: int
    unchanged: int
    disabled: int

    def describe(self) -> str:
        """One line for the command line."""
        current = " (current)" if self.edition.is_current else ""
        return (
            f"{self.edition.system} {self.edition.name}{current}: {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.disabled} disabled"
        )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header(table: list[list[object]]) -> tuple[int, int, int, int | None]:
    """(header index, code column, name column, parent column or None) of the first header row."""
    for index, raw in enumerate(table[:HEADER_SEARCH_ROWS]):
        cells = ["".join(_cell(c).split()).lower() for c in raw]
        code = next((i for i, c in enumerate(cells) if c in CODE_HEADERS), None)
        name = next((i for i, c in enumerate(cells) if c in NAME_HEADERS), None)
        if code is not None and name is not None:
            parent = next((i for i, c in enumerate(cells) if c in PARENT_HEADERS), None)
            return index, code, name, parent
    raise spreadsheets.file_error(
        "column_missing",
        "未找到表头：需要“编码/疾病编码/诊断编码”列和“名称/疾病名称/诊断名称”列",
        "No header row: a code column (编码/疾病编码/诊断编码) and a name column "
        "(名称/疾病名称/诊断名称) are required",
    )


def read_rows(filename: str | None, data: bytes) -> list[CodeRow]:
    """The data rows of an official code table (xlsx or csv) below its detected header."""
    table = spreadsheets.read_table(
        filename, data, max_rows=MAX_ROWS + HEADER_SEARCH_ROWS + 1, max_unzipped_bytes=MAX_UNZIPPED_BYTES
    )
    head, code_col, name_col, parent_col = _header(table)

    def at(raw: list[object], col: int | None) -> str:
        return _cell(raw[col]) if col is not None and col < len(raw) else ""

    rows = []
    for number, raw in enumerate(table[head + 1 :], start=head + 2):
        row = CodeRow(number, at(raw, code_col), at(raw, name_col), at(raw, parent_col))
        if row.code or row.name or row.parent:
            rows.append(row)
    if not rows:
        raise spreadsheets.file_error("file_empty", "文件中没有数据行", "The file has no data rows")
    if len(rows) > MAX_ROWS:
        raise spreadsheets.file_error(
            "too_many_rows", f"一次最多导入 {MAX_ROWS} 行", f"At most {MAX_ROWS} rows per file"
        )
    return rows


def _row_problems(row: CodeRow) -> list[FieldError]:
    at = f"rows.{row.number}"
    problems = []
    if not row.code:
        problems.append(FieldError(f"{at}.code", "code_missing", "编码为空", "The code is empty"))
    elif len(row.code) > MAX_CODE or not _CODE_SHAPE.match(row.code) or not code_key(row.code):
        problems.append(FieldError(f"{at}.code", "code_invalid", "编码格式不正确", "Invalid code"))
    if not row.name:
        problems.append(FieldError(f"{at}.name", "name_missing", "名称为空", "The name is empty"))
    elif len(row.name) > MAX_NAME:
        problems.append(
            FieldError(f"{at}.name", "name_too_long", f"名称超过 {MAX_NAME} 字", f"Longer than {MAX_NAME}")
        )
    if row.parent and (len(row.parent) > MAX_CODE or not _CODE_SHAPE.match(row.parent)):
        problems.append(
            FieldError(f"{at}.parent", "code_invalid", "上级编码格式不正确", "Invalid parent code")
        )
    return problems


def plan_import(rows: list[CodeRow]) -> list[PlannedCode]:
    """Check every row; the codes to write, or ``InvalidInput`` naming every bad cell."""
    problems: list[FieldError] = []
    planned: list[PlannedCode] = []
    first_row: dict[str, int] = {}
    for row in rows:
        row_problems = _row_problems(row)
        if not row_problems:
            key = code_key(row.code)
            first = first_row.setdefault(key, row.number)
            if first != row.number:
                row_problems.append(
                    FieldError(
                        f"rows.{row.number}.code",
                        "duplicate_in_file",
                        f"与第 {first} 行编码重复",
                        f"Same code as row {first}",
                    )
                )
        problems += row_problems
        if not row_problems:
            planned.append(
                PlannedCode(row.code, code_key(row.code), row.name, initials(row.name), row.parent or None)
            )
    if problems:
        bad_rows = sorted({int(p.field.split(".")[1]) for p in problems})
        raise InvalidInput(
            f"{len(bad_rows)} 行有误，未导入任何编码",
            f"{len(bad_rows)} rows have errors; nothing was imported",
            errors=problems[:MAX_REPORTED_ERRORS],
            extra={"error_rows": bad_rows[:MAX_REPORTED_ERRORS], "error_count": len(problems)},
        )
    return planned


def apply_import(
    db: Session,
    ctx: AuditContext,
    institution_id: int,
    system: CodeSystem,
    edition_name: str,
    planned: list[PlannedCode],
    *,
    imported_by: int | None,
    make_current: bool,
) -> ImportResult:
    """Write a checked table into ``edition_name`` (created on first import) in this transaction."""
    edition = editions.edition_for_import(db, institution_id, system, edition_name)
    # Writing the edition row first locks it (PostgreSQL row lock, SQLite's write lock): a second
    # import of the same edition waits here and then reads this one's committed codes.
    db.execute(
        update(CodeEdition)
        .where(CodeEdition.id == edition.id)
        .values(code_count=len(planned), imported_at=utcnow(), imported_by=imported_by)
        .execution_options(synchronize_session=False)
    )
    existing = {
        row.code_key: row
        for row in db.execute(
            select(
                DiagnosisCode.id,
                DiagnosisCode.code_key,
                DiagnosisCode.code,
                DiagnosisCode.name,
                DiagnosisCode.parent_code,
                DiagnosisCode.enabled,
            ).where(DiagnosisCode.edition_id == edition.id)
        )
    }
    new_rows, changed = [], []
    for code in planned:
        old = existing.get(code.code_key)
        values = {
            "code": code.code,
            "name": code.name,
            "initials": code.initials,
            "parent_code": code.parent_code,
            "enabled": True,
        }
        if old is None:
            new_rows.append(
                {"institution_id": institution_id, "edition_id": edition.id, "code_key": code.code_key}
            )
            new_rows[-1].update(values)
        elif (old.code, old.name, old.parent_code, old.enabled) != (
            code.code,
            code.name,
            code.parent_code,
            True,
        ):
            changed.append({"id": old.id, **values})
    keys = {c.code_key for c in planned}
    dropped = [row.id for key, row in existing.items() if key not in keys and row.enabled]
    if new_rows:
        db.execute(insert(DiagnosisCode), new_rows)
    if changed:
        db.execute(update(DiagnosisCode), changed)  # bulk UPDATE ... WHERE id = :id
    for start in range(0, len(dropped), 1000):
        db.execute(
            update(DiagnosisCode)
            .where(DiagnosisCode.id.in_(dropped[start : start + 1000]))
            .values(enabled=False)
            .execution_options(synchronize_session=False)
        )
    if make_current:
        editions.set_current(db, institution_id, edition.id)
    db.flush()
    db.refresh(edition)
    result = ImportResult(
        edition, len(new_rows), len(changed), len(planned) - len(new_rows) - len(changed), len(dropped)
    )
    audit.record(
        db,
        ctx,
        "codes.import",
        resource_type="code_edition",
        resource_id=edition.id,
        detail={
            "system": str(system),
            "edition": edition.name,
            "added": result.added,
            "updated": result.updated,
            "disabled": result.disabled,
            "made_current": make_current,
        },
    )
    return result
