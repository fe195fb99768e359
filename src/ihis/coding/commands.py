"""``ihis import icd10 FILE``: the command-line import of an official code table."""

from __future__ import annotations

from pathlib import Path

from ihis.coding import editions, import_service
from ihis.coding.import_service import ImportResult
from ihis.platform.audit import AuditContext
from ihis.platform.db import Database
from ihis.tenancy.service import institution_by_code


def import_file(
    database: Database,
    *,
    institution_code: str,
    path: Path,
    system: str,
    edition: str,
    make_current: bool,
) -> ImportResult:
    """Read, check and write one table in one transaction (``InvalidInput`` lists every bad row)."""
    code_system = editions.parse_system(system, "system")
    name = editions.check_edition_name(edition, "edition")
    planned = import_service.plan_import(import_service.read_rows(path.name, path.read_bytes()))
    with database.unit_of_work() as db:
        inst = institution_by_code(db, institution_code)
        ctx = AuditContext(
            actor_id=None,
            actor_role="cli",
            actor_name="ihis import",
            institution_id=inst.id,
            ip=None,
            user_agent=None,
        )
        return import_service.apply_import(
            db, ctx, inst.id, code_system, name, planned, imported_by=None, make_current=make_current
        )
