"""HTTP doors of follow-up eligibility: the patient's checks and uploads, the department policy.

Paths are relative to ``/api/v1``. Patients need the current consent (``ConsentedPatient``) and
reach only their own visitors (another's -> 404); the policy needs ``org.manage``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, Permission, require
from ihis.identity.consent import ConsentedPatient
from ihis.integrations.his.client import FhirHisClient, HisConfig
from ihis.integrations.his.protocol import HisUnavailable
from ihis.platform import audit, jobs
from ihis.platform.clock import local_today
from ihis.platform.db import Database
from ihis.platform.http import AppSettings, Db, ReadDb, Storage, get_database
from ihis.platform.i18n import language_of, pick
from ihis.platform.storage import read_limited
from ihis.registration import evidence
from ihis.registration.eligibility import Decision, DepartmentRule, Granularity, decide
from ihis.registration.models import EvidenceUpload

router = APIRouter(tags=["eligibility"])

DatabaseDep = Annotated[Database, Depends(get_database)]
OrgManager = Annotated[Actor, Depends(require(Permission.ORG_MANAGE))]
_TAG = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,8})?$")


class EligibilityCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visitor_id: int = Field(ge=1)
    department_id: int = Field(ge=1)
    tags: list[str] = Field(default_factory=list, max_length=10, description="ICD-10 prefixes, e.g. I10")

    @field_validator("tags")
    @classmethod
    def _tags_are_icd10_prefixes(cls, tags: list[str]) -> list[str]:
        cleaned = ["".join(t.split()).upper() for t in tags]
        for tag in cleaned:
            if not _TAG.fullmatch(tag):
                raise ValueError(f"'{tag[:16]}' is not an ICD-10 code prefix (e.g. I10, E11.9)")
        return cleaned


class ReasonOut(BaseModel):
    code: str
    message: str
    message_zh: str
    message_en: str


class EvidenceItemOut(BaseModel):
    his_patient_id: str
    his_encounter_id: str
    his_condition_id: str
    icd10_code: str
    name: str
    recorded_on: dt.date
    department_name: str | None


class EligibilityCheckOut(BaseModel):
    eligible: bool
    reasons: list[ReasonOut]
    evidence: list[EvidenceItemOut]
    evidence_id: int | None = Field(description="stored evidence, to be named when booking")
    upload_allowed: bool = True
    lookback_days: int
    granularity: str
    tags: list[str]


class EvidenceUploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    visitor_id: int
    department_id: int
    content_type: str
    size_bytes: int
    filename: str | None
    status: str
    registration_id: int | None
    created_at: dt.datetime
    evidence_id: int | None = Field(default=None, description="Pass as evidence_id when booking")


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lookback_days: int = Field(ge=1, le=3650)
    his_department_codes: list[str] = Field(default_factory=list, max_length=20)
    min_age_years: int | None = Field(default=None, ge=0, le=150, description="Youngest bookable age")
    max_age_years: int | None = Field(default=None, ge=0, le=150, description="Oldest bookable age")

    @field_validator("his_department_codes")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        cleaned = [c.strip() for c in codes]
        for code in cleaned:
            if not code or len(code) > 16 or "," in code:
                raise ValueError("each HIS department code is 1-16 characters without commas")
        return cleaned


class PolicyOut(BaseModel):
    department_id: int
    lookback_days: int
    his_department_codes: list[str]
    default_lookback_days: int
    min_age_years: int | None
    max_age_years: int | None


def _decision_out(lang: str, decision: Decision, evidence_id: int | None) -> EligibilityCheckOut:
    return EligibilityCheckOut(
        eligible=decision.eligible,
        reasons=[
            ReasonOut(
                code=r.code,
                message=pick(lang, r.message_zh, r.message_en),
                message_zh=r.message_zh,
                message_en=r.message_en,
            )
            for r in decision.reasons
        ],
        evidence=[
            EvidenceItemOut(
                his_patient_id=e.patient_id,
                his_encounter_id=e.encounter_id,
                his_condition_id=e.condition_id,
                icd10_code=e.icd10_code,
                name=e.name,
                recorded_on=e.recorded_on,
                department_name=e.department_name,
            )
            for e in decision.evidence
        ],
        evidence_id=evidence_id,
        lookback_days=decision.lookback_days,
        granularity=decision.granularity.value,
        tags=list(decision.tags),
    )


@router.post("/me/eligibility-checks", response_model=EligibilityCheckOut, status_code=201)
def check_eligibility(
    body: EligibilityCheckIn,
    request: Request,
    actor: ConsentedPatient,
    database: DatabaseDep,
    settings: AppSettings,
) -> EligibilityCheckOut:
    """Ask the HIS whether a visitor may book an online follow-up in a department (DOMAIN §1)."""
    with database.unit_of_work(write=False) as rdb:
        inputs = evidence.load_inputs(rdb, actor, body.visitor_id, body.department_id, settings)
    today = local_today()
    # No unit of work is open while the HIS answers: SQLite's write lock is not held meanwhile.
    try:
        his = FhirHisClient(jobs.runtime().http, HisConfig.from_settings(settings))
        history = evidence.fetch_history(
            his, inputs.id_number, evidence.history_since(today, inputs.department)
        )
    except HisUnavailable as exc:
        audit.record_independent(
            database,
            actor.audit(),
            "his.records.read",
            resource_type="visitor",
            resource_id=inputs.visitor_id,
            patient_id=inputs.visitor_id,
            outcome="failure",
            detail={"reason": exc.reason[:80]},
        )
        raise
    decision = decide(
        inputs.id_number,
        history,
        inputs.department,
        tags=tuple(body.tags),
        granularity=Granularity(settings.eligibility_icd_granularity),
        today=today,
    )
    with database.unit_of_work(write=True) as wdb:
        row = evidence.record_check(wdb, actor, inputs, history, decision)
    return _decision_out(language_of(request), decision, row.id if row else None)


@router.post("/me/evidence", response_model=EvidenceUploadOut, status_code=201)
def upload_evidence(
    actor: ConsentedPatient,
    db: Db,
    storage: Storage,
    settings: AppSettings,
    response: Response,
    visitor_id: Annotated[int, Form(ge=1)],
    department_id: Annotated[int, Form(ge=1)],
    file: Annotated[UploadFile, File(description="PNG, JPEG or PDF of an earlier record")],
) -> EvidenceUploadOut:
    """Upload an earlier record; it waits for a doctor's confirmation (the same file again: 200)."""
    data = read_limited(file.file, settings.max_upload_bytes, "body.file")
    upload, created = evidence.add_upload(
        db,
        actor,
        storage,
        visitor_id=visitor_id,
        department_id=department_id,
        data=data,
        filename=file.filename,
        settings=settings,
    )
    if not created:
        response.status_code = 200
    return _upload_outs(db, [upload])[0]


@router.get("/me/evidence", response_model=list[EvidenceUploadOut])
def list_evidence(actor: ConsentedPatient, db: ReadDb) -> list[EvidenceUploadOut]:
    """The caller's uploaded records, newest first."""
    return _upload_outs(db, evidence.list_uploads(db, actor))


@router.get("/me/evidence/{upload_id}", response_model=EvidenceUploadOut)
def get_evidence(upload_id: int, actor: ConsentedPatient, db: ReadDb) -> EvidenceUploadOut:
    """One of the caller's uploaded records."""
    upload: EvidenceUpload = evidence.get_upload(db, actor, upload_id)
    return _upload_outs(db, [upload])[0]


def _upload_outs(db: Session, uploads: list[EvidenceUpload]) -> list[EvidenceUploadOut]:
    ids = evidence.evidence_ids_of_uploads(db, [u.id for u in uploads])
    return [
        EvidenceUploadOut.model_validate(u).model_copy(update={"evidence_id": ids.get(u.id)}) for u in uploads
    ]


@router.get("/me/evidence/{upload_id}/file", response_class=Response)
def get_evidence_file(upload_id: int, actor: ConsentedPatient, db: ReadDb, storage: Storage) -> Response:
    """The uploaded file itself (shown inline, never cached)."""
    data, content_type = evidence.upload_file(db, actor, storage, upload_id)
    headers = {"Content-Disposition": "inline", "Cache-Control": "no-store"}
    return Response(content=data, media_type=content_type, headers=headers)


def _policy_out(rule: DepartmentRule, settings_default: int) -> PolicyOut:
    return PolicyOut(
        department_id=rule.department_id,
        lookback_days=rule.lookback_days,
        his_department_codes=list(rule.his_department_codes),
        default_lookback_days=settings_default,
        min_age_years=rule.min_age_years,
        max_age_years=rule.max_age_years,
    )


@router.get("/admin/departments/{department_id}/eligibility-policy", response_model=PolicyOut)
def get_policy(department_id: int, actor: OrgManager, db: ReadDb, settings: AppSettings) -> PolicyOut:
    """A department's follow-up look-back window (the institution default unless overridden)."""
    rule = evidence.get_policy(db, actor, department_id, settings)
    return _policy_out(rule, settings.eligibility_lookback_days)


@router.put("/admin/departments/{department_id}/eligibility-policy", response_model=PolicyOut)
def put_policy(
    department_id: int, body: PolicyIn, actor: OrgManager, db: Db, settings: AppSettings
) -> PolicyOut:
    """Set a department's look-back window and, optionally, the HIS department codes that count."""
    rule = evidence.set_policy(
        db,
        actor,
        department_id,
        settings,
        lookback_days=body.lookback_days,
        his_department_codes=tuple(body.his_department_codes),
        min_age_years=body.min_age_years,
        max_age_years=body.max_age_years,
    )
    return _policy_out(rule, settings.eligibility_lookback_days)
