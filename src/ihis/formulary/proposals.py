"""Change control of the catalogue (BJ 5.6.3): every add / change / disable / enable is a proposal
that a senior pharmacist — never the proposer — approves before it is published.

Approval applies the change in the caller's unit of work, inside a savepoint: the drug row moves
with a guarded UPDATE (its ``version`` must still be the proposal's ``base_version``), then the
proposal moves ``pending -> approved`` with a guarded UPDATE; if either guard fails the savepoint
is rolled back, the proposal stays pending and ``Conflict`` (409) is raised. Each publication
writes a ``drug_revision`` with the snapshots before and after.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import (
    FIELD_NAMES,
    DrugFields,
    canonical_json,
    column_values,
    snapshot_of,
    validate_fields,
)
from ihis.formulary.guarded import moved
from ihis.formulary.models import Drug, DrugProposal, DrugRevision
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound

KINDS = ("add", "change", "disable", "enable")
CHANGEABLE = tuple(name for name in FIELD_NAMES if name != "code")  # the code names the drug for good


def get_drug(db: Session, institution_id: int, drug_id: int) -> Drug:
    """A drug of this institution, or 404 (another institution's rows are invisible)."""
    drug = db.scalar(select(Drug).where(Drug.id == drug_id, Drug.institution_id == institution_id))
    if drug is None:
        raise NotFound("药品不存在", "Drug not found")
    return drug


def get_proposal(db: Session, institution_id: int, proposal_id: int) -> DrugProposal:
    """A proposal of this institution, or 404."""
    proposal = db.scalar(
        select(DrugProposal).where(
            DrugProposal.id == proposal_id, DrugProposal.institution_id == institution_id
        )
    )
    if proposal is None:
        raise NotFound("变更申请不存在", "Proposal not found")
    return proposal


def _new_proposal(
    db: Session,
    actor: Actor,
    kind: str,
    code: str,
    payload: dict[str, Any],
    reason: str,
    *,
    drug: Drug | None = None,
    batch_ref: str | None = None,
) -> DrugProposal:
    proposal = DrugProposal(
        institution_id=actor.institution_id,
        kind=kind,
        drug_id=drug.id if drug else None,
        code=code,
        base_version=drug.version if drug else None,
        payload=canonical_json(payload),
        reason=reason,
        batch_ref=batch_ref,
        status="pending",
        proposed_by=actor.user_id,
        proposed_by_name=actor.display_name,
    )
    db.add(proposal)
    db.flush()
    audit.record(
        db,
        actor.audit(),
        f"formulary.proposal.{kind}",
        resource_type="drug_proposal",
        resource_id=proposal.id,
        detail={"code": code, "batch_ref": batch_ref},
    )
    return proposal


def code_taken(db: Session, institution_id: int, code: str) -> bool:
    """Whether the catalogue already has this code."""
    found = db.scalar(select(Drug.id).where(Drug.institution_id == institution_id, Drug.code == code))
    return found is not None


def propose_add(
    db: Session, actor: Actor, data: dict[str, Any], reason: str, *, batch_ref: str | None = None
) -> DrugProposal:
    """Propose a new drug; the fields are validated now and again on approval."""
    fields, problems = validate_fields(data, "body.fields")
    if fields is None:
        raise InvalidInput("药品信息有误", "Invalid drug fields", errors=problems)
    if code_taken(db, actor.institution_id, fields.code):
        raise InvalidInput.field(
            "body.fields.code", "code_taken", "药品编码已存在", "Drug code already in use"
        )
    return _new_proposal(db, actor, "add", fields.code, fields.snapshot(), reason, batch_ref=batch_ref)


def propose_change(
    db: Session, actor: Actor, drug_id: int, changes: dict[str, Any], reason: str
) -> DrugProposal:
    """Propose changed field values of a published drug (only the differences are kept)."""
    drug = get_drug(db, actor.institution_id, drug_id)
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(
            "不可修改的字段",
            "Fields that cannot be changed",
            errors=[
                FieldError(f"body.changes.{n}", "not_changeable", "不可修改", "Cannot be changed")
                for n in unknown
            ],
        )
    current = snapshot_of(drug)
    fields, problems = validate_fields({**current, **changes}, "body.changes")
    if fields is None:
        raise InvalidInput("药品信息有误", "Invalid drug fields", errors=problems)
    merged = fields.snapshot()
    diff = {name: merged[name] for name in CHANGEABLE if merged[name] != current[name]}
    if not diff:
        raise InvalidInput.field("body.changes", "no_change", "没有任何变更", "Nothing would change")
    return _new_proposal(db, actor, "change", drug.code, diff, reason, drug=drug)


def propose_status(db: Session, actor: Actor, drug_id: int, kind: str, reason: str) -> DrugProposal:
    """Propose disabling (停用) or re-enabling a published drug."""
    drug = get_drug(db, actor.institution_id, drug_id)
    wanted_from = "active" if kind == "disable" else "disabled"
    if drug.status != wanted_from:
        raise Conflict(f"药品当前状态为 {drug.status}", f"The drug is {drug.status}")
    return _new_proposal(db, actor, kind, drug.code, {}, reason, drug=drug)


def _check_decider(actor: Actor, proposal: DrugProposal) -> None:
    # BJ 5.6.3: the approval is a second person's act.
    if proposal.proposed_by == actor.user_id:
        raise Forbidden("不能审批自己提出的变更", "You cannot decide on your own proposal")


def _stale() -> Conflict:
    return Conflict(
        "药品已被其他变更修改，请重新提出申请",
        "The drug changed since this proposal was made; propose again",
        extra={"reason": "drug_changed"},
    )


def _not_pending(proposal: DrugProposal) -> Conflict:
    return Conflict(f"申请状态为 {proposal.status}", f"The proposal is {proposal.status}")


def _publish_add(db: Session, proposal: DrugProposal) -> tuple[Drug, dict[str, Any] | None]:
    fields, problems = validate_fields(json.loads(proposal.payload), "payload")
    if fields is None:
        raise InvalidInput(
            "申请中的药品信息已不再有效", "The proposed fields are no longer valid", errors=problems
        )
    drug = Drug(institution_id=proposal.institution_id, status="active", version=1, **column_values(fields))
    db.add(drug)
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict("药品编码已存在", "Drug code already in use", extra={"reason": "code_taken"}) from exc
    proposal.drug_id = drug.id
    return drug, None


def _publish_update(db: Session, proposal: DrugProposal) -> tuple[Drug, dict[str, Any] | None]:
    assert proposal.drug_id is not None and proposal.base_version is not None
    drug = get_drug(db, proposal.institution_id, proposal.drug_id)
    if drug.version != proposal.base_version:
        raise _stale()
    before = snapshot_of(drug)
    values: dict[str, Any]
    guard = [Drug.id == drug.id, Drug.version == proposal.base_version]
    if proposal.kind == "change":
        fields, problems = validate_fields({**before, **json.loads(proposal.payload)}, "payload")
        if fields is None:
            raise InvalidInput("变更后的药品信息无效", "The changed fields are not valid", errors=problems)
        values = column_values(fields)
    else:
        values = {"status": "disabled" if proposal.kind == "disable" else "active"}
        guard.append(Drug.status == ("active" if proposal.kind == "disable" else "disabled"))
    changed = moved(
        db, update(Drug).where(*guard).values(**values, version=Drug.version + 1, updated_at=utcnow())
    )
    if changed != 1:
        raise _stale()
    db.refresh(drug)
    return drug, before


def approve(db: Session, actor: Actor, proposal_id: int, note: str | None = None) -> DrugProposal:
    """Publish a pending proposal (senior pharmacist, not the proposer); 409 leaves it pending."""
    proposal = get_proposal(db, actor.institution_id, proposal_id)
    _check_decider(actor, proposal)
    if proposal.status != "pending":
        raise _not_pending(proposal)
    with db.begin_nested():
        publish = _publish_add if proposal.kind == "add" else _publish_update
        drug, before = publish(db, proposal)
        decided = moved(
            db,
            update(DrugProposal)
            .where(DrugProposal.id == proposal.id, DrugProposal.status == "pending")
            .values(
                status="approved",
                drug_id=drug.id,
                decided_by=actor.user_id,
                decided_by_name=actor.display_name,
                decided_at=utcnow(),
                decision_note=note,
                updated_at=utcnow(),
            ),
        )
        if decided != 1:
            raise _not_pending(proposal)
        db.add(
            DrugRevision(
                institution_id=actor.institution_id,
                drug_id=drug.id,
                version=drug.version,
                kind=proposal.kind,
                proposal_id=proposal.id,
                before=canonical_json(before) if before is not None else None,
                after=canonical_json({**snapshot_of(drug), "status": drug.status}),
                proposed_by=proposal.proposed_by,
                proposed_by_name=proposal.proposed_by_name,
                approved_by=actor.user_id,
                approved_by_name=actor.display_name,
                note=note,
                published_at=utcnow(),
            )
        )
        db.flush()
    db.refresh(proposal)
    audit.record(
        db,
        actor.audit(),
        "formulary.proposal.approve",
        resource_type="drug_proposal",
        resource_id=proposal.id,
        detail={"kind": proposal.kind, "drug_id": drug.id, "version": drug.version},
    )
    return proposal


def approve_batch(db: Session, actor: Actor, batch_ref: str, note: str | None = None) -> list[DrugProposal]:
    """Approve every pending proposal of one import, all or none."""
    ids: Sequence[int] = db.scalars(
        select(DrugProposal.id)
        .where(
            DrugProposal.institution_id == actor.institution_id,
            DrugProposal.batch_ref == batch_ref,
            DrugProposal.status == "pending",
        )
        .order_by(DrugProposal.id)
    ).all()
    if not ids:
        raise NotFound("没有待审批的导入批次", "No pending proposals in this batch")
    with db.begin_nested():
        return [approve(db, actor, pid, note) for pid in ids]


def _decide(db: Session, actor: Actor, proposal: DrugProposal, status: str, note: str | None) -> DrugProposal:
    changed = moved(
        db,
        update(DrugProposal)
        .where(DrugProposal.id == proposal.id, DrugProposal.status == "pending")
        .values(
            status=status,
            decided_by=actor.user_id,
            decided_by_name=actor.display_name,
            decided_at=utcnow(),
            decision_note=note,
            updated_at=utcnow(),
        ),
    )
    if changed != 1:
        raise _not_pending(proposal)
    db.refresh(proposal)
    audit.record(
        db,
        actor.audit(),
        f"formulary.proposal.{'reject' if status == 'rejected' else 'withdraw'}",
        resource_type="drug_proposal",
        resource_id=proposal.id,
        detail={"kind": proposal.kind, "code": proposal.code},
    )
    return proposal


def reject(db: Session, actor: Actor, proposal_id: int, note: str) -> DrugProposal:
    """Turn a pending proposal down with a reason (senior pharmacist, not the proposer)."""
    proposal = get_proposal(db, actor.institution_id, proposal_id)
    _check_decider(actor, proposal)
    return _decide(db, actor, proposal, "rejected", note)


def withdraw(db: Session, actor: Actor, proposal_id: int) -> DrugProposal:
    """The proposer takes back a pending proposal."""
    proposal = get_proposal(db, actor.institution_id, proposal_id)
    if proposal.proposed_by != actor.user_id:
        raise Forbidden("只能撤回自己提出的申请", "Only the proposer may withdraw a proposal")
    return _decide(db, actor, proposal, "withdrawn", None)


def publish_directly(db: Session, institution_id: int, fields: DrugFields, note: str) -> Drug:
    """Insert a published drug without a proposal — ONLY for the demo seed (recorded as a revision)."""
    drug = Drug(institution_id=institution_id, status="active", version=1, **column_values(fields))
    db.add(drug)
    db.flush()
    db.add(
        DrugRevision(
            institution_id=institution_id,
            drug_id=drug.id,
            version=1,
            kind="add",
            proposal_id=None,
            before=None,
            after=canonical_json({**snapshot_of(drug), "status": drug.status}),
            proposed_by=None,
            proposed_by_name=note,
            approved_by=None,
            approved_by_name=note,
            note=note,
            published_at=utcnow(),
        )
    )
    db.flush()
    return drug
