"""Request and response bodies of the prescribing endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LineIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    drug_id: int
    dose: str = Field(min_length=1, max_length=16, description="Decimal text, e.g. 5 or 0.25 (never a float)")
    dose_unit: str = Field(min_length=1, max_length=16)
    frequency: str = Field(min_length=1, max_length=8, description="qd, bid, tid, ... (GET /rx/vocabulary)")
    route: str = Field(min_length=1, max_length=16, description="po, sc, ... (GET /rx/vocabulary)")
    days: int
    quantity: int = Field(description="Packages")
    note: str | None = Field(default=None, max_length=200)


class DiagnosisIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    system: Literal["icd10", "tcm-disease", "tcm-syndrome"] = "icd10"
    code: str = Field(min_length=1, max_length=32)


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["western_patent", "herbal"] = "western_patent"
    renew_from: int | None = Field(
        default=None, description="续方: an approved prescription of the same patient"
    )


class DraftIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    version: int = Field(description="The version you read (409 if it moved)")
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=10)
    course: Literal["acute", "ordinary", "chronic"] = "ordinary"
    extension_reason: str | None = Field(default=None, max_length=500)
    validity_days: int = 1
    allergy_classes: list[str] = Field(default_factory=list, max_length=20)
    pregnant: bool | None = None
    lactating: bool | None = None
    limited_mobility: bool = False
    guardian_name: str | None = Field(default=None, max_length=64)
    guardian_relation: str | None = Field(default=None, max_length=32)
    accompanying_clinician: str | None = Field(default=None, max_length=64)
    herbal_doses: int | None = Field(default=None, ge=1, le=60)
    herbal_usage: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=500)
    lines: list[LineIn] = Field(default_factory=list, max_length=30)


class OverrideIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    key: str = Field(min_length=1, max_length=200)
    reason: str = Field(max_length=500)


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(min_length=1, max_length=64, description="The doctor's signing PIN (not the password)")
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=50)


class ReasonIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: str = Field(max_length=500)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(min_length=1, max_length=64, description="The pharmacist's signing PIN")
    checklist: dict[str, bool] = Field(description="四查十对: every item true")


class RejectIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: str = Field(max_length=500)
    checklist: dict[str, bool] = Field(default_factory=dict)


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    drug_id: int
    drug_code: str
    drug_name: str
    strength: str
    form: str
    package: str
    dose: str
    dose_unit: str
    frequency: str
    route: str
    days: int
    quantity: int
    unit_price_fen: int
    amount_fen: int
    note: str | None


class FindingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    code: str
    severity: Literal["block", "warn", "info"]
    line: int | None
    field: str
    message_zh: str
    message_en: str
    override_reason: str | None
    overridden_at: dt.datetime | None


class EventOut(BaseModel):
    kind: str
    actor_name: str | None
    actor_role: str
    occurred_at: dt.datetime
    detail: dict[str, object] | None


class DiagnosisOut(BaseModel):
    system: str
    code: str
    name: str


class PrescriptionOut(BaseModel):
    id: int
    number: str
    consultation_id: int
    kind: str
    status: str
    version: int
    signed_version: int
    doctor_name: str
    department_name: str
    patient_name: str
    patient_sex: int = Field(description="GB/T 2261.1: 0 unknown, 1 male, 2 female, 9 unstated")
    patient_age: int
    under_six: bool
    diagnoses: list[DiagnosisOut]
    course: str
    extension_reason: str | None
    validity_days: int
    valid_until: dt.date | None
    allergy_classes: list[str]
    pregnant: bool | None
    lactating: bool | None
    limited_mobility: bool
    guardian_name: str | None
    guardian_relation: str | None
    accompanying_clinician: str | None
    herbal_doses: int | None
    herbal_usage: str | None
    note: str | None
    renewed_from_id: int | None
    total_fen: int
    lines: list[LineOut]
    findings: list[FindingOut]
    submitted_at: dt.datetime | None
    reviewer_name: str | None
    claimed_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    reject_reason: str | None
    signed_document_id: int | None
    review_document_id: int | None
    timeline: list[EventOut] = Field(default_factory=list)


class IntegrityOut(BaseModel):
    ok: bool
    failures: list[str]
    document_id: int | None


class ReviewOut(BaseModel):
    prescription: PrescriptionOut
    integrity: IntegrityOut
    checklist_items: list[str]


class DutyOut(BaseModel):
    pharmacist_id: int
    pharmacist_name: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class DutyBoardOut(BaseModel):
    on_duty: list[DutyOut]
    in_business_hours: bool
    unstaffed: bool = Field(description="Business hours and nobody checked in: operations are warned")
    waiting: int
    me: DutyOut | None


class VocabularyItem(BaseModel):
    code: str
    name_zh: str
    name_en: str


class VocabularyOut(BaseModel):
    frequencies: list[VocabularyItem]
    routes: list[VocabularyItem]
    checklist: list[str]


class StockOut(BaseModel):
    pharmacy_id: int
    pharmacy_name: str
    kind: str
    available: int


class DrugHitOut(BaseModel):
    """A formulary drug as the prescriber searches it: facts, flags and stock per pharmacy."""

    id: int
    code: str
    generic_name: str
    trade_name: str | None
    kind: str
    form: str
    strength: str
    dose_unit: str
    dispense_unit: str
    pack_size: int
    package_unit: str
    price_fen: int
    routes: list[str]
    control_class: str
    never_online: bool = Field(description="麻精毒放等: shown, never prescribable online")
    online: bool
    high_alert: bool
    stock: list[StockOut]


class TemplateIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(max_length=64)
    kind: Literal["western_patent", "herbal"] = "western_patent"
    department_id: int | None = Field(default=None, description="Set: a template of your department")
    lines: list[LineIn] = Field(max_length=30)


class TemplateOut(BaseModel):
    id: int
    scope: Literal["personal", "department"]
    name: str
    kind: str
    lines: list[LineIn]
    created_at: dt.datetime
