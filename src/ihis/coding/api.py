"""Routers of the code tables: clinicians' search and look-up, administrators' import and editions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from ihis.coding import editions, import_service, service
from ihis.coding.models import CodeSystem
from ihis.coding.schemas import CodeDetailOut, EditionOut, ImportReportOut, SearchHitOut, SearchOut
from ihis.identity.access import Actor, Permission, StaffActor, require
from ihis.platform import audit
from ihis.platform.db import Database
from ihis.platform.errors import PayloadTooLarge
from ihis.platform.http import AppSettings, Db, ReadDb, get_database

router = APIRouter(tags=["codes"])

# Code tables are reference data of the institution: organization managers (operations) maintain them.
CodeManager = Annotated[Actor, Depends(require(Permission.ORG_MANAGE))]
DatabaseDep = Annotated[Database, Depends(get_database)]
SystemPath = Annotated[CodeSystem, Path(description="icd10 | tcm-disease | tcm-syndrome")]
EditionQuery = Annotated[int | None, Query(description="An edition id; the current edition when omitted")]


@router.get("/codes/{system}/search", response_model=SearchOut)
def search_codes(
    system: SystemPath,
    actor: StaffActor,
    db: ReadDb,
    q: Annotated[str, Query(min_length=1, max_length=service.MAX_QUERY)],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    edition_id: EditionQuery = None,
) -> SearchOut:
    """Search by code prefix, pinyin initials or name, best first (staff only)."""
    edition = service.edition_or_current(db, actor.institution_id, system, edition_id)
    hits = service.search(db, edition, q, limit)
    return SearchOut(
        system=system.value,
        edition=EditionOut.model_validate(edition),
        items=[SearchHitOut(**_code_fields(h.code), match=h.match) for h in hits],
    )


@router.get("/codes/{system}/{code}", response_model=CodeDetailOut)
def get_code(
    system: SystemPath,
    code: Annotated[str, Path(min_length=1, max_length=import_service.MAX_CODE)],
    actor: StaffActor,
    db: ReadDb,
    edition_id: EditionQuery = None,
) -> CodeDetailOut:
    """One code of the current (or given) edition."""
    edition = service.edition_or_current(db, actor.institution_id, system, edition_id)
    row = service.get_code(db, edition, code)
    return CodeDetailOut(**_code_fields(row), system=system.value, edition=edition.name)


def _code_fields(row: object) -> dict[str, object]:
    return {k: getattr(row, k) for k in ("code", "name", "initials", "parent_code", "enabled")}


@router.get("/admin/codes/{system}/editions", response_model=list[EditionOut])
def list_editions(system: SystemPath, actor: CodeManager, db: ReadDb) -> list[EditionOut]:
    """The institution's editions of a code system, current first."""
    rows = editions.list_editions(db, actor.institution_id, system)
    return [EditionOut.model_validate(e) for e in rows]


@router.post("/admin/codes/{system}/import", response_model=ImportReportOut, status_code=201)
def import_codes(
    system: SystemPath,
    actor: CodeManager,
    database: DatabaseDep,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="The official table, xlsx or csv")],
    edition: Annotated[str, Form(min_length=1, max_length=editions.MAX_EDITION_NAME)],
    make_current: Annotated[bool, Form()] = False,
) -> ImportReportOut:
    """Import an official table into an edition: all rows or none, with a row-by-row error report."""
    name = editions.check_edition_name(edition, "body.edition")
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge()
    # Parsing and pinyin of ~36k rows take seconds: done before the writing unit opens.
    planned = import_service.plan_import(import_service.read_rows(file.filename, data))
    with database.unit_of_work(write=True) as db:
        result = import_service.apply_import(
            db,
            actor.audit(),
            actor.institution_id,
            system,
            name,
            planned,
            imported_by=actor.user_id,
            make_current=make_current,
        )
        return ImportReportOut(
            edition=EditionOut.model_validate(result.edition),
            added=result.added,
            updated=result.updated,
            unchanged=result.unchanged,
            disabled=result.disabled,
        )


@router.post("/admin/codes/{system}/editions/{edition_id}/make-current", response_model=EditionOut)
def make_current(system: SystemPath, edition_id: int, actor: CodeManager, db: Db) -> EditionOut:
    """Make an edition the one doctors search by default."""
    edition = editions.get_edition(db, actor.institution_id, system, edition_id)
    editions.set_current(db, actor.institution_id, edition.id)
    audit.record(
        db,
        actor.audit(),
        "codes.make_current",
        resource_type="code_edition",
        resource_id=edition.id,
        detail={"system": system.value, "edition": edition.name},
    )
    return EditionOut.model_validate(edition)
