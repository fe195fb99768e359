"""Batch import of new drugs from an xlsx or csv file: every row valid, or nothing proposed.

Each row is checked with the catalogue's one validation (``catalogue.validate_fields``), plus
duplicates inside the file and against the catalogue; the complete list of problems is returned,
each naming its cell as ``rows.<n>.<column>`` (``n`` as the spreadsheet shows it, the header being
row 1). A never-online control class may be imported only with ``online`` 否/false (a blank cell
means false for those classes) and is reported if it asks for online. A clean file becomes one
pending proposal per row sharing a ``batch_ref``, approved together by a senior pharmacist
(``proposals.approve_batch``) — nothing is published by the import itself (BJ 5.6.3).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import validate_fields
from ihis.formulary.facts import NEVER_ONLINE
from ihis.formulary.models import Drug, DrugProposal
from ihis.formulary.proposals import propose_add
from ihis.identity.access import Actor
from ihis.platform import audit, spreadsheets
from ihis.platform.clock import local_today
from ihis.platform.errors import FieldError, InvalidInput

# (key, zh-CN header, required, notes)
COLUMNS: tuple[tuple[str, str, bool, str], ...] = (
    ("code", "药品编码", True, "本院唯一，字母数字"),
    ("generic_name", "通用名", True, ""),
    ("trade_name", "商品名", False, ""),
    ("kind", "类别", True, "西药/中成药/中药饮片 或 western/patent/herbal"),
    ("form", "剂型", True, "片剂、胶囊、注射液、饮片……"),
    ("strength", "规格", True, "如 5mg、0.25g、300单位/3ml"),
    ("dose_unit", "剂量单位", True, "mg、g、ml、IU、μg"),
    ("unit_amount", "单位含量", True, "每个发药单位含多少剂量单位（如 5mg 片填 5）"),
    ("dispense_unit", "发药单位", True, "片、粒、支、g"),
    ("pack_size", "包装数量", True, "每包装含发药单位数"),
    ("package_unit", "包装单位", True, "盒、瓶、支"),
    ("approval_number", "批准文号", False, "国药准字H20031015"),
    ("manufacturer", "生产企业", False, ""),
    ("batch", "批号", False, ""),
    ("expiry", "有效期", False, "YYYY-MM-DD"),
    ("price_yuan", "价格(元)", True, "每包装价格，最多两位小数"),
    ("insurance_code", "医保代码", False, "23 位国家医保药品代码"),
    ("control_class", "管制类别", False, "none/narcotic/psychotropic_1/psychotropic_2/toxic/…，默认 none"),
    ("high_alert", "高警示", False, "是/否"),
    ("monitoring", "监测", False, "代码，逗号分隔"),
    ("ingredients", "成分", True, "成分代码（小写英文），逗号分隔"),
    ("classes", "药理分类", False, "分类代码（小写英文），逗号分隔"),
    ("routes", "给药途径", True, "po/sl/sc/im/iv/inh/topical/decoction，逗号分隔"),
    ("instructions", "说明书", False, ""),
    ("online", "上线", False, "是/否；麻醉、精神等类别只能为否"),
)
KIND_LABELS = {"西药": "western", "中成药": "patent", "中药饮片": "herbal", "饮片": "herbal"}
YES = {"是", "y", "yes", "true", "1"}
NO = {"否", "n", "no", "false", "0"}
MAX_ROWS = 5000
_SPLIT = re.compile(r"[,;，；、\s]+")


def template_xlsx() -> bytes:
    """The import template: one header row (zh-CN + key) and a notes sheet."""
    return spreadsheets.template("drugs", COLUMNS)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
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


def _flag(prefix: str, column: str, text: str, problems: list[FieldError]) -> bool | None:
    lowered = text.lower()
    if not lowered:
        return None
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    problems.append(FieldError(f"{prefix}.{column}", "flag_invalid", "应填“是”或“否”", "Use yes or no"))
    return None


def _row_fields(number: int, values: dict[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
    prefix = f"rows.{number}"
    problems: list[FieldError] = []
    data: dict[str, Any] = {
        key: values.get(key, "") or None
        for key in (
            "code", "generic_name", "trade_name", "form", "strength", "dose_unit", "unit_amount",
            "dispense_unit", "pack_size", "package_unit", "approval_number", "manufacturer", "batch",
            "expiry", "insurance_code", "instructions",
        )
    }  # fmt: skip
    kind = values.get("kind", "")
    data["kind"] = KIND_LABELS.get(kind, kind.lower())
    data["control_class"] = values.get("control_class", "").lower() or "none"
    for column in ("monitoring", "ingredients", "classes", "routes"):
        data[column] = [t.lower() for t in _SPLIT.split(values.get(column, "")) if t]
    data["high_alert"] = bool(_flag(prefix, "high_alert", values.get("high_alert", ""), problems))
    online = _flag(prefix, "online", values.get("online", ""), problems)
    data["online"] = online if online is not None else data["control_class"] not in NEVER_ONLINE
    try:
        price = Decimal(values.get("price_yuan", "").replace(",", ""))
        if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
            raise InvalidOperation
        data["price_fen"] = int(price * 100)
    except (InvalidOperation, ValueError):
        problems.append(
            FieldError(f"{prefix}.price_yuan", "price_invalid", "价格应为最多两位小数的金额", "Invalid price")
        )
        data["price_fen"] = 0
    return data, problems


def plan_import(db: Session, actor: Actor, rows: list[tuple[int, dict[str, str]]]) -> list[dict[str, Any]]:
    """Check every row; the validated field sets, or ``InvalidInput`` listing every problem."""
    problems: list[FieldError] = []
    planned: list[tuple[int, dict[str, Any]]] = []
    for number, values in rows:
        data, row_problems = _row_fields(number, values)
        fields, field_problems = validate_fields(data, f"rows.{number}")
        problems += row_problems + field_problems
        if fields is not None and not row_problems:
            planned.append((number, fields.snapshot()))
    seen: dict[str, int] = {}
    for number, fields_data in planned:
        first = seen.setdefault(fields_data["code"], number)
        if first != number:
            problems.append(
                FieldError(
                    f"rows.{number}.code",
                    "duplicate_in_file",
                    f"与第 {first} 行重复",
                    f"Duplicates row {first}",
                )
            )
    taken = set(
        db.scalars(
            select(Drug.code).where(Drug.institution_id == actor.institution_id, Drug.code.in_(list(seen)))
        )
    )
    problems += [
        FieldError(f"rows.{n}.code", "code_taken", "药品编码已存在", "Drug code already in use")
        for n, d in planned
        if d["code"] in taken
    ]
    if problems:
        bad_rows = sorted({int(p.field.split(".")[1]) for p in problems})
        problems.sort(key=lambda p: int(p.field.split(".")[1]))
        raise InvalidInput(
            f"{len(bad_rows)} 行有误，未提交任何变更申请",
            f"{len(bad_rows)} rows have errors; nothing was proposed",
            errors=problems,
            extra={"error_rows": bad_rows, "row_count": len(rows)},
        )
    return [d for _, d in planned]


def apply_import(
    db: Session, actor: Actor, planned: list[dict[str, Any]], reason: str
) -> tuple[str, list[DrugProposal]]:
    """One pending add proposal per row, sharing a new batch reference."""
    batch_ref = f"imp-{local_today():%Y%m%d}-{secrets.token_hex(4)}"
    proposals = [propose_add(db, actor, data, reason, batch_ref=batch_ref) for data in planned]
    audit.record(
        db,
        actor.audit(),
        "formulary.import",
        resource_type="drug_proposal",
        detail={"batch_ref": batch_ref, "count": len(proposals)},
    )
    return batch_ref, proposals
