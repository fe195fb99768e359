"""Reading an uploaded spreadsheet (xlsx, or csv in UTF-8 or GB18030) for the row-by-row imports
(staff, schedules, the formulary, diagnosis code tables). Each import validates its own columns;
this module only turns bytes into rows, refusing what it cannot read with a problem naming ``file``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence

from ihis.platform.errors import InvalidInput

DEFAULT_MAX_UNZIPPED_BYTES = 50 * 1024 * 1024  # a small xlsx may unzip to gigabytes (a "zip bomb")


def file_error(code: str, zh: str, en: str) -> InvalidInput:
    """A 422 naming the uploaded ``file``."""
    return InvalidInput.field("file", code, zh, en)


def _xlsx_rows(data: bytes, max_rows: int, max_unzipped_bytes: int) -> list[list[object]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > max_unzipped_bytes:
                raise file_error("file_too_large", "文件内容过大", "The file unpacks to too much data")
        from openpyxl import load_workbook  # on first use: ~12 MB the API process rarely needs

        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise file_error("file_unreadable", "无法读取 Excel 文件", "The Excel file cannot be read") from exc
    rows: list[list[object]] = [
        list(r) for r in book.worksheets[0].iter_rows(values_only=True, max_row=max_rows)
    ]
    book.close()
    return rows


def _csv_rows(data: bytes) -> list[list[object]]:
    # Excel on Chinese Windows saves CSV as GB18030 (GBK); everything else uses UTF-8 (with BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise file_error("file_unreadable", "无法识别文件编码", "Unknown text encoding")
    return [list(r) for r in csv.reader(io.StringIO(text))]


def read_table(
    filename: str | None,
    data: bytes,
    *,
    max_rows: int,
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES,
) -> list[list[object]]:
    """The rows of the first sheet (at most ``max_rows`` read from an xlsx) or of the csv file."""
    if not data:
        raise file_error("file_empty", "文件为空", "The file is empty")
    if data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data, max_rows, max_unzipped_bytes)
    if (filename or "").lower().endswith((".xlsx", ".xlsm")):
        raise file_error("file_unreadable", "无法读取 Excel 文件", "The Excel file cannot be read")
    return _csv_rows(data)


def template(sheet_title: str, columns: Sequence[tuple[str, str, bool, str]], *, text_rows: int = 0) -> bytes:
    """An import template: one header row ("<zh label> <key>"), the first ``text_rows`` data rows
    formatted as text (codes and dates stay as typed in Excel), and a 说明 sheet per column."""
    from openpyxl import Workbook  # on first use: ~12 MB the API process rarely needs

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title
    sheet.append([f"{label} {key}" for key, label, _, _ in columns])
    for row in range(2, text_rows + 2):
        for column in range(1, len(columns) + 1):
            sheet.cell(row=row, column=column).number_format = "@"
    notes = book.create_sheet("说明")
    notes.append(["列 column", "必填 required", "说明 notes"])
    for key, label, required, text in columns:
        notes.append([f"{label} {key}", "是" if required else "否", text])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
