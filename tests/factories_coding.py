"""Factories for code tables and EMR templates.

edition = make_edition(db, inst, [("I10.x00x002", "原发性高血压", "I10")], name="国临版", current=True)
app fixture: ``mount_coding(app)`` adds the code and template routers until the lead mounts them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from fastapi import FastAPI
from openpyxl import Workbook
from sqlalchemy.orm import Session

# Tables are created from the models: make sure these are in Base.metadata before the schema is.
import ihis.coding.models
import ihis.emr_templates.models  # noqa: F401
from ihis.coding import import_service
from ihis.coding.models import CodeEdition, CodeSystem
from ihis.platform.audit import SYSTEM_CONTEXT
from ihis.tenancy.models import Institution

Row = tuple[str, str, str | None]

COMMON: tuple[Row, ...] = (
    ("I10", "特发性（原发性）高血压", None),
    ("I10.x00x002", "原发性高血压", "I10"),
    ("I11.900", "高血压性心脏病", None),
    ("I25.900", "慢性缺血性心脏病", None),
    ("E11.900", "2型糖尿病", None),
    ("E11.200", "2型糖尿病性肾病", None),
    ("J45.900", "支气管哮喘", None),
    ("K21.900", "胃食管反流病", None),
)


def mount_coding(application: FastAPI) -> FastAPI:
    """Include the code and EMR template routers (/api/v1) unless the application has them."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/codes/{system}/search" not in paths:
        from ihis.coding.api import router as coding_router

        application.include_router(coding_router, prefix="/api/v1")
    if "/api/v1/me/emr-templates" not in paths:
        from ihis.emr_templates.api import router as templates_router

        application.include_router(templates_router, prefix="/api/v1")
    return application


def make_edition(
    db: Session,
    inst: Institution,
    rows: Sequence[Row] = COMMON,
    *,
    system: CodeSystem = CodeSystem.ICD10,
    name: str = "ICD-10 国临版 2.0",
    current: bool = True,
) -> CodeEdition:
    """An imported edition (through the real import path) of ``rows``."""
    planned = import_service.plan_import(
        [
            import_service.CodeRow(n, code, label, parent or "")
            for n, (code, label, parent) in enumerate(rows, 2)
        ]
    )
    result = import_service.apply_import(
        db, SYSTEM_CONTEXT, inst.id, system, name, planned, imported_by=None, make_current=current
    )
    db.commit()
    return result.edition


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> bytes:
    """An xlsx file: an optional title line, the header, then the rows."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
        sheet.append([])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, encoding: str = "utf-8-sig"
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)
