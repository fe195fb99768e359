"""Formulary endpoints: catalogue search and detail, change proposals and their decisions, the import,
pharmacies, stock and the supplier sync (docs/formulary.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from sqlalchemy import func, select

from ihis.formulary import import_service, pharmacies, proposals, stock
from ihis.formulary.models import Drug, DrugProposal, DrugRevision, DrugStock
from ihis.formulary.schemas import (
    BatchDecisionOut,
    DecisionIn,
    DrugDetailOut,
    DrugOut,
    DrugPage,
    ImportOut,
    PharmacyIn,
    PharmacyOut,
    PharmacyPatch,
    ProposalIn,
    ProposalOut,
    ProposalPage,
    RejectIn,
    RevisionOut,
    StockAdjustIn,
    StockLevelOut,
    StockRowOut,
    SyncOut,
)
from ihis.formulary.service import drug_query, stock_levels
from ihis.identity.access import Actor, Permission, current_actor, require
from ihis.platform.db import Database
from ihis.platform.errors import Forbidden, InvalidInput, PayloadTooLarge
from ihis.platform.http import AppSettings, Db, ReadDb, get_database

router = APIRouter(prefix="/formulary", tags=["formulary"])

Reader = Annotated[Actor, Depends(require(Permission.FORMULARY_READ))]
Proposer = Annotated[Actor, Depends(require(Permission.FORMULARY_PROPOSE))]
Approver = Annotated[Actor, Depends(require(Permission.FORMULARY_APPROVE))]
StockManager = Annotated[Actor, Depends(require(Permission.STOCK_MANAGE))]
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


def _maintainer(request: Request) -> Actor:
    """Catalogue maintainers: whoever may propose or decide on changes (proposals are internal)."""
    actor = current_actor(request)
    if not actor.is_staff or not (
        actor.can(Permission.FORMULARY_PROPOSE) or actor.can(Permission.FORMULARY_APPROVE)
    ):
        raise Forbidden(extra={"missing_permissions": [str(Permission.FORMULARY_PROPOSE)]})
    return actor


Maintainer = Annotated[Actor, Depends(_maintainer)]


# --- catalogue ------------------------------------------------------------------------------------


@router.get("/drugs", response_model=DrugPage)
def list_drugs(
    actor: Reader,
    db: ReadDb,
    q: Annotated[str | None, Query(max_length=64, description="name, code or pinyin initials")] = None,
    kind: Annotated[Literal["western", "patent", "herbal"] | None, Query()] = None,
    online: Annotated[bool | None, Query()] = None,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> DrugPage:
    """Search the catalogue; never-online drugs come flagged (``never_online``, control class name)."""
    query = drug_query(actor.institution_id, q, kind=kind, online=online, status=status)
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.scalars(query.offset((page - 1) * page_size).limit(page_size))
    return DrugPage(items=[DrugOut.of(d) for d in rows], total=total, page=page, page_size=page_size)


def _history(db: ReadDb, drug_id: int) -> list[RevisionOut]:
    revisions = db.scalars(
        select(DrugRevision).where(DrugRevision.drug_id == drug_id).order_by(DrugRevision.version.desc())
    )
    return [RevisionOut.of(r) for r in revisions]


@router.get("/drugs/{drug_id}", response_model=DrugDetailOut)
def get_drug(drug_id: int, actor: Reader, db: ReadDb) -> DrugDetailOut:
    """One drug with its instructions, stock per pharmacy and full history."""
    drug = proposals.get_drug(db, actor.institution_id, drug_id)
    levels = stock_levels(db, actor.institution_id, [drug.id])[drug.id]
    return DrugDetailOut(
        **DrugOut.of(drug).model_dump(),
        instructions=drug.instructions,
        stock=[StockLevelOut(**vars(level)) for level in levels],
        history=_history(db, drug.id),
    )


@router.get("/drugs/{drug_id}/history", response_model=list[RevisionOut])
def drug_history(drug_id: int, actor: Reader, db: ReadDb) -> list[RevisionOut]:
    """Every published version of a drug, newest first (who proposed, who approved, before/after)."""
    drug = proposals.get_drug(db, actor.institution_id, drug_id)
    return _history(db, drug.id)


# --- change control -------------------------------------------------------------------------------


@router.post("/proposals", response_model=ProposalOut, status_code=201)
def create_proposal(body: ProposalIn, actor: Proposer, db: Db) -> ProposalOut:
    """Propose adding, changing, disabling or re-enabling a drug (published only once approved)."""
    if body.kind == "add":
        if body.fields is None:
            raise InvalidInput.field("body.fields", "missing", "请填写药品信息", "Drug fields are required")
        return ProposalOut.of(proposals.propose_add(db, actor, body.fields, body.reason))
    if body.drug_id is None:
        raise InvalidInput.field("body.drug_id", "missing", "请选择药品", "drug_id is required")
    if body.kind == "change":
        if not body.changes:
            raise InvalidInput.field("body.changes", "missing", "请填写变更内容", "changes are required")
        return ProposalOut.of(proposals.propose_change(db, actor, body.drug_id, body.changes, body.reason))
    return ProposalOut.of(proposals.propose_status(db, actor, body.drug_id, body.kind, body.reason))


@router.get("/proposals", response_model=ProposalPage)
def list_proposals(
    actor: Maintainer,
    db: ReadDb,
    status: Annotated[Literal["pending", "approved", "rejected", "withdrawn"] | None, Query()] = None,
    batch_ref: Annotated[str | None, Query(max_length=40)] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> ProposalPage:
    """Proposals of the institution, newest first."""
    query = select(DrugProposal).where(DrugProposal.institution_id == actor.institution_id)
    if status:
        query = query.where(DrugProposal.status == status)
    if batch_ref:
        query = query.where(DrugProposal.batch_ref == batch_ref)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(DrugProposal.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return ProposalPage(items=[ProposalOut.of(p) for p in rows], total=total, page=page, page_size=page_size)


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
def get_proposal(proposal_id: int, actor: Maintainer, db: ReadDb) -> ProposalOut:
    """One proposal."""
    return ProposalOut.of(proposals.get_proposal(db, actor.institution_id, proposal_id))


@router.post("/proposals/{proposal_id}/approve", response_model=ProposalOut)
def approve_proposal(proposal_id: int, body: DecisionIn, actor: Approver, db: Db) -> ProposalOut:
    """Publish a proposal (a senior pharmacist other than the proposer); 409 if the drug moved on."""
    return ProposalOut.of(proposals.approve(db, actor, proposal_id, body.note))


@router.post("/proposals/{proposal_id}/reject", response_model=ProposalOut)
def reject_proposal(proposal_id: int, body: RejectIn, actor: Approver, db: Db) -> ProposalOut:
    """Turn a proposal down with a reason."""
    return ProposalOut.of(proposals.reject(db, actor, proposal_id, body.note))


@router.post("/proposals/{proposal_id}/withdraw", response_model=ProposalOut)
def withdraw_proposal(proposal_id: int, actor: Proposer, db: Db) -> ProposalOut:
    """The proposer takes back a pending proposal."""
    return ProposalOut.of(proposals.withdraw(db, actor, proposal_id))


@router.post("/proposal-batches/{batch_ref}/approve", response_model=BatchDecisionOut)
def approve_batch(batch_ref: str, body: DecisionIn, actor: Approver, db: Db) -> BatchDecisionOut:
    """Approve every pending proposal of one import at once (all or none)."""
    approved = proposals.approve_batch(db, actor, batch_ref, body.note)
    return BatchDecisionOut(
        batch_ref=batch_ref, approved=len(approved), drug_ids=[p.drug_id for p in approved if p.drug_id]
    )


# --- import ---------------------------------------------------------------------------------------


@router.get("/import-template", response_class=Response)
def import_template(actor: Proposer) -> Response:
    """The xlsx template of the drug import (columns in docs/formulary.md)."""
    return Response(
        import_service.template_xlsx(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="drug-import-template.xlsx"'},
    )


@router.post("/imports", response_model=ImportOut, status_code=201)
def import_drugs(
    actor: Proposer,
    db: Db,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="xlsx or csv, one new drug per row")],
    reason: Annotated[str, Form(min_length=2, max_length=500)] = "批量导入",
) -> ImportOut:
    """Validate every row and, if all are clean, create one pending proposal per row (one batch)."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge()
    rows = import_service.read_rows(file.filename, data)
    planned = import_service.plan_import(db, actor, rows)
    batch_ref, created = import_service.apply_import(db, actor, planned, reason.strip())
    return ImportOut(batch_ref=batch_ref, proposals=len(created), proposal_ids=[p.id for p in created])


# --- pharmacies and stock -------------------------------------------------------------------------


@router.get("/pharmacies", response_model=list[PharmacyOut])
def list_pharmacies(actor: Reader, db: ReadDb) -> list[PharmacyOut]:
    """The hospital pharmacy and the partner suppliers."""
    return [PharmacyOut.of(p) for p in pharmacies.list_pharmacies(db, actor.institution_id)]


@router.post("/pharmacies", response_model=PharmacyOut, status_code=201)
def create_pharmacy(body: PharmacyIn, actor: StockManager, db: Db, settings: AppSettings) -> PharmacyOut:
    """Add the hospital pharmacy or a partner supplier (audited)."""
    return PharmacyOut.of(pharmacies.create_pharmacy(db, actor, settings, body.model_dump()))


@router.patch("/pharmacies/{pharmacy_id}", response_model=PharmacyOut)
def update_pharmacy(
    pharmacy_id: int, body: PharmacyPatch, actor: StockManager, db: Db, settings: AppSettings
) -> PharmacyOut:
    """Rename, (de)activate or relink a pharmacy (audited)."""
    changes = body.model_dump(exclude_unset=True)
    return PharmacyOut.of(pharmacies.update_pharmacy(db, actor, settings, pharmacy_id, changes))


@router.get("/pharmacies/{pharmacy_id}/stock", response_model=list[StockRowOut])
def pharmacy_stock(
    pharmacy_id: int,
    actor: Reader,
    db: ReadDb,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> list[StockRowOut]:
    """Stock of every drug at one pharmacy (on hand, reserved, available)."""
    pharmacy = stock.get_pharmacy(db, actor.institution_id, pharmacy_id)
    drugs = drug_query(actor.institution_id, q).subquery()
    rows = db.execute(
        select(DrugStock, Drug)
        .join(Drug, Drug.id == DrugStock.drug_id)
        .where(DrugStock.pharmacy_id == pharmacy.id, Drug.id.in_(select(drugs.c.id)))
        .order_by(Drug.code)
        .limit(1000)
    )
    return [StockRowOut.of(s, d) for s, d in rows]


@router.post("/pharmacies/{pharmacy_id}/stock-adjustments", response_model=StockRowOut)
def adjust_stock(pharmacy_id: int, body: StockAdjustIn, actor: StockManager, db: Db) -> StockRowOut:
    """A manual stock correction with a reason (audited)."""
    row = stock.adjust(db, actor, pharmacy_id, body.drug_id, body.delta, body.reason)
    drug = proposals.get_drug(db, actor.institution_id, body.drug_id)
    return StockRowOut.of(row, drug)


@router.post("/pharmacies/{pharmacy_id}/sync", response_model=SyncOut)
def sync_pharmacy(
    pharmacy_id: int, actor: StockManager, database: Annotated[Database, Depends(get_database)]
) -> SyncOut:
    """Pull a partner supplier's stock now (also done periodically by the worker)."""
    with database.unit_of_work(write=False) as db:
        pharmacy = stock.get_pharmacy(db, actor.institution_id, pharmacy_id)
        if pharmacy.kind != "supplier":
            raise InvalidInput.field(
                "path.pharmacy_id",
                "not_supplier",
                "只有合作药房可同步库存",
                "Only supplier stock can be synced",
            )
    updated = stock.sync_supplier(database, pharmacy_id, actor=actor.audit())
    return SyncOut(pharmacy_id=pharmacy_id, updated=updated)
