"""Router of the rational-use knowledge base (``/rx-knowledge``): readers hold FORMULARY_READ,
writers RX_KNOWLEDGE_MANAGE (senior pharmacists)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ihis.identity.access import Actor, Permission, require
from ihis.medication_rules import service
from ihis.medication_rules.entries import KINDS, Kind
from ihis.medication_rules.models import RxKnowledgeEntry
from ihis.medication_rules.schemas import (
    EntryIn,
    EntryOut,
    EntryUpdateIn,
    ExportOut,
    ImportIn,
    ImportOut,
    KnowledgeBaseOut,
    VersionOut,
)
from ihis.platform.http import Db, ReadDb

router = APIRouter(prefix="/rx-knowledge", tags=["rx-knowledge"])

Reader = Annotated[Actor, Depends(require(Permission.FORMULARY_READ))]
Keeper = Annotated[Actor, Depends(require(Permission.RX_KNOWLEDGE_MANAGE))]


def _out(row: RxKnowledgeEntry) -> EntryOut:
    return EntryOut(
        id=row.entry_id or row.id,
        kind=row.kind,
        data=row.data,
        revision=row.valid_from,
        created_at=row.created_at,
    )


@router.get("", response_model=KnowledgeBaseOut)
def summary(actor: Reader, db: ReadDb) -> KnowledgeBaseOut:
    """The current version and the number of entries per kind."""
    return KnowledgeBaseOut(
        version=service.current_version(db, actor.institution_id),
        counts=service.entry_counts(db, actor),
        kinds=list(KINDS),
    )


@router.get("/entries", response_model=list[EntryOut])
def list_entries(actor: Reader, db: ReadDb, kind: Annotated[Kind | None, Query()] = None) -> list[EntryOut]:
    """The current entries, optionally of one kind."""
    return [_out(r) for r in service.list_entries(db, actor, kind)]


@router.post("/entries", response_model=EntryOut, status_code=201)
def create_entry(body: EntryIn, actor: Keeper, db: Db) -> EntryOut:
    """Add an entry (a new knowledge-base version)."""
    return _out(service.create_entry(db, actor, body.kind, body.data))


@router.get("/entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: int, actor: Reader, db: ReadDb) -> EntryOut:
    """One current entry."""
    return _out(service.get_entry(db, actor, entry_id))


@router.put("/entries/{entry_id}", response_model=EntryOut)
def update_entry(entry_id: int, body: EntryUpdateIn, actor: Keeper, db: Db) -> EntryOut:
    """Replace an entry's data (409 if it changed since ``revision``)."""
    return _out(service.update_entry(db, actor, entry_id, body.data, body.revision))


@router.delete("/entries/{entry_id}", status_code=204)
def delete_entry(entry_id: int, actor: Keeper, db: Db, revision: Annotated[int, Query(ge=1)]) -> Response:
    """Retire an entry (kept in the history of earlier versions)."""
    service.delete_entry(db, actor, entry_id, revision)
    return Response(status_code=204)


@router.get("/versions", response_model=list[VersionOut])
def list_versions(
    actor: Reader, db: ReadDb, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[VersionOut]:
    """The latest changes, newest first."""
    return [VersionOut.model_validate(v) for v in service.list_versions(db, actor, limit)]


@router.get("/export", response_model=ExportOut)
def export(actor: Reader, db: ReadDb) -> ExportOut:
    """The current knowledge base as JSON (the import format)."""
    return ExportOut.model_validate(service.export(db, actor))


@router.post("/import", response_model=ImportOut)
def import_entries(body: ImportIn, actor: Keeper, db: Db) -> ImportOut:
    """Replace the knowledge base with an export, as one new version (all or nothing)."""
    version = service.import_entries(db, actor, [(e.kind, e.data) for e in body.entries])
    return ImportOut(version=version, entries=len(body.entries))
