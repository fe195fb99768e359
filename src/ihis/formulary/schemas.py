"""Request and response models of the formulary API."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ihis.formulary.facts import CONTROL_CLASS_NAMES, NEVER_ONLINE
from ihis.formulary.models import Drug, DrugProposal, DrugRevision, DrugStock, Pharmacy

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DrugOut(BaseModel):
    id: int
    code: str
    generic_name: str
    trade_name: str | None
    kind: str
    form: str
    strength: str
    dose_unit: str
    unit_amount: str
    dispense_unit: str
    pack_size: int
    package_unit: str
    approval_number: str | None
    manufacturer: str | None
    batch: str | None
    expiry: dt.date | None
    price_fen: int
    insurance_code: str | None
    control_class: str
    control_class_name: str
    control_class_name_en: str
    never_online: bool  # DOMAIN §5: such drugs are shown, flagged, and blocked from prescribing
    high_alert: bool
    monitoring: list[str]
    ingredients: list[str]
    classes: list[str]
    routes: list[str]
    pinyin: str
    status: str
    online: bool
    version: int
    updated_at: dt.datetime

    @classmethod
    def of(cls, drug: Drug) -> DrugOut:
        zh, en = CONTROL_CLASS_NAMES.get(drug.control_class, (drug.control_class, drug.control_class))
        return cls(
            id=drug.id,
            code=drug.code,
            generic_name=drug.generic_name,
            trade_name=drug.trade_name,
            kind=drug.kind,
            form=drug.form,
            strength=drug.strength,
            dose_unit=drug.dose_unit,
            unit_amount=format(drug.unit_amount.normalize(), "f"),
            dispense_unit=drug.dispense_unit,
            pack_size=drug.pack_size,
            package_unit=drug.package_unit,
            approval_number=drug.approval_number,
            manufacturer=drug.manufacturer,
            batch=drug.batch,
            expiry=drug.expiry,
            price_fen=drug.price_fen,
            insurance_code=drug.insurance_code,
            control_class=drug.control_class,
            control_class_name=zh,
            control_class_name_en=en,
            never_online=drug.control_class in NEVER_ONLINE,
            high_alert=drug.high_alert,
            monitoring=list(drug.monitoring or []),
            ingredients=list(drug.ingredients or []),
            classes=list(drug.classes or []),
            routes=list(drug.routes or []),
            pinyin=drug.pinyin,
            status=drug.status,
            online=drug.online,
            version=drug.version,
            updated_at=drug.updated_at,
        )


class DrugPage(BaseModel):
    items: list[DrugOut]
    total: int
    page: int
    page_size: int


class RevisionOut(BaseModel):
    version: int
    kind: str
    proposal_id: int | None
    proposed_by_name: str
    approved_by_name: str
    note: str | None
    published_at: dt.datetime
    before: dict[str, Any] | None
    after: dict[str, Any]

    @classmethod
    def of(cls, rev: DrugRevision) -> RevisionOut:
        return cls(
            version=rev.version,
            kind=rev.kind,
            proposal_id=rev.proposal_id,
            proposed_by_name=rev.proposed_by_name,
            approved_by_name=rev.approved_by_name,
            note=rev.note,
            published_at=rev.published_at,
            before=json.loads(rev.before) if rev.before else None,
            after=json.loads(rev.after),
        )


class StockLevelOut(BaseModel):
    pharmacy_id: int
    pharmacy_name: str
    kind: str
    available: int


class DrugDetailOut(DrugOut):
    instructions: str | None
    stock: list[StockLevelOut]
    history: list[RevisionOut]


class ProposalIn(_In):
    kind: Literal["add", "change", "disable", "enable"]
    drug_id: int | None = Field(default=None, ge=1)
    fields: dict[str, Any] | None = None  # every field, for an add
    changes: dict[str, Any] | None = None  # the changed fields, for a change
    reason: Reason


class DecisionIn(_In):
    note: Note | None = None


class RejectIn(_In):
    note: Reason


class ProposalOut(BaseModel):
    id: int
    kind: str
    drug_id: int | None
    code: str
    base_version: int | None
    payload: dict[str, Any]
    reason: str
    batch_ref: str | None
    status: str
    proposed_by: int
    proposed_by_name: str
    decided_by_name: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, p: DrugProposal) -> ProposalOut:
        return cls(
            id=p.id,
            kind=p.kind,
            drug_id=p.drug_id,
            code=p.code,
            base_version=p.base_version,
            payload=json.loads(p.payload),
            reason=p.reason,
            batch_ref=p.batch_ref,
            status=p.status,
            proposed_by=p.proposed_by,
            proposed_by_name=p.proposed_by_name,
            decided_by_name=p.decided_by_name,
            decided_at=p.decided_at,
            decision_note=p.decision_note,
            created_at=p.created_at,
        )


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    total: int
    page: int
    page_size: int


class BatchDecisionOut(BaseModel):
    batch_ref: str
    approved: int
    drug_ids: list[int]


class ImportOut(BaseModel):
    batch_ref: str
    proposals: int
    proposal_ids: list[int]


class PharmacyOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    supplier_adapter: str | None
    supplier_url: str | None
    supplier_app_id: str | None
    address: str | None
    active: bool
    last_synced_at: dt.datetime | None

    @classmethod
    def of(cls, p: Pharmacy) -> PharmacyOut:
        return cls(
            id=p.id,
            code=p.code,
            name=p.name,
            kind=p.kind,
            supplier_adapter=p.supplier_adapter,
            supplier_url=p.supplier_url,
            supplier_app_id=p.supplier_app_id,
            address=p.address,
            active=p.active,
            last_synced_at=p.last_synced_at,
        )


class PharmacyIn(_In):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    kind: Literal["hospital", "supplier"]
    address: Annotated[str, StringConstraints(max_length=255)] | None = None
    supplier_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=255)] | None = None
    supplier_app_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class PharmacyPatch(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    address: Annotated[str, StringConstraints(max_length=255)] | None = None
    active: bool | None = None
    supplier_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=255)] | None = None
    supplier_app_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class StockRowOut(BaseModel):
    drug_id: int
    code: str
    generic_name: str
    strength: str
    package_unit: str
    on_hand: int
    reserved: int
    available: int

    @classmethod
    def of(cls, stock: DrugStock, drug: Drug) -> StockRowOut:
        return cls(
            drug_id=drug.id,
            code=drug.code,
            generic_name=drug.generic_name,
            strength=drug.strength,
            package_unit=drug.package_unit,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            available=stock.on_hand - stock.reserved,
        )


class StockAdjustIn(_In):
    drug_id: int = Field(ge=1)
    delta: int = Field(ge=-1_000_000, le=1_000_000)
    reason: Reason


class SyncOut(BaseModel):
    pharmacy_id: int
    updated: int
