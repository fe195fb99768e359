"""Sandbox HIS: a FHIR R4 server simulator under ``/sandbox/his/fhir`` (demo and tests only).

It answers the searches of ``protocol`` from the ``sandbox_his_*`` tables, as a hospital's FHIR
facade would: ``searchset`` Bundles paged with ``_count`` / ``_offset`` and a ``next`` link,
Bearer-token authentication (401), ``OperationOutcome`` for a bad request (400) and for an
unknown resource or id (404). ``seed_his_records`` stores synthetic visits (idempotent by FHIR
id); the demo seeds its patients from ``ihis.demo.his_records``.

Failure injection: a Patient search for an ID number starting with ``OUTAGE_PREFIX`` answers 503
(the HIS is down), so the caller's 502 path can be exercised end to end.

``create_simulator_app()`` serves the simulator alone (``uvicorn --factory``), as a separate
process stands in for the hospital's HIS in tests.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from ihis.integrations.his.client import HisConfig
from ihis.integrations.his.models import SandboxHisCondition, SandboxHisEncounter, SandboxHisPatient
from ihis.integrations.his.protocol import (
    DEPARTMENT_SYSTEM,
    ENCOUNTER_CLASS_SYSTEM,
    FHIR_JSON,
    ICD10_CN,
    ICD10_WHO,
    IDENTIFIER_SYSTEM,
)
from ihis.platform.clock import local_today, utcnow
from ihis.platform.db import Database
from ihis.platform.http import AppSettings, ReadDb
from ihis.settings import Settings

router = APIRouter(prefix="/sandbox/his/fhir", tags=["sandbox"], include_in_schema=False)

OUTAGE_PREFIX = "990000"
DEFAULT_COUNT = 20
MAX_COUNT = 100
_DATE_PREFIXES = ("ge", "gt", "le", "lt", "eq")


# --- seeding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedDiagnosis:
    name: str
    icd10_cn: str | None = None
    icd10_who: str | None = None


@dataclass(frozen=True)
class SeedVisit:
    key: str  # unique within the patient; part of the FHIR ids
    days_ago: int  # relative to the seeding day, so seeded demo visits are recent
    department_code: str
    department_name: str
    encounter_class: str = "AMB"
    diagnoses: tuple[SeedDiagnosis, ...] = ()


@dataclass(frozen=True)
class SeedPatient:
    key: str  # the FHIR id stem: Patient/pat-<key>
    id_number: str
    name: str
    visits: tuple[SeedVisit, ...] = field(default_factory=tuple)


def seed_his_records(db: Session, records: Iterable[SeedPatient], *, today: dt.date | None = None) -> int:
    """Store these patients, visits and diagnoses (idempotent by FHIR id); returns how many rows were new."""
    day = today or local_today()
    added = 0
    for person in records:
        patient = db.scalar(select(SandboxHisPatient).where(SandboxHisPatient.fhir_id == f"pat-{person.key}"))
        if patient is None:
            patient = SandboxHisPatient(
                fhir_id=f"pat-{person.key}",
                id_number=person.id_number.strip().upper(),
                name=person.name,
                created_at=utcnow(),
            )
            db.add(patient)
            db.flush()
            added += 1
        for visit in person.visits:
            added += _seed_visit(db, patient, person.key, visit, day)
    return added


def _seed_visit(db: Session, patient: SandboxHisPatient, stem: str, visit: SeedVisit, day: dt.date) -> int:
    fhir_id = f"enc-{stem}-{visit.key}"
    encounter = db.scalar(select(SandboxHisEncounter).where(SandboxHisEncounter.fhir_id == fhir_id))
    added = 0
    start = day - dt.timedelta(days=visit.days_ago)
    if encounter is None:
        encounter = SandboxHisEncounter(
            fhir_id=fhir_id,
            patient_id=patient.id,
            encounter_class=visit.encounter_class,
            status="finished",
            start_date=start,
            department_code=visit.department_code,
            department_name=visit.department_name,
        )
        db.add(encounter)
        db.flush()
        added += 1
    for n, diagnosis in enumerate(visit.diagnoses, start=1):
        cond_id = f"cond-{stem}-{visit.key}-{n}"
        if db.scalar(select(SandboxHisCondition.id).where(SandboxHisCondition.fhir_id == cond_id)) is None:
            db.add(
                SandboxHisCondition(
                    fhir_id=cond_id,
                    patient_id=patient.id,
                    encounter_id=encounter.id,
                    icd10_cn=diagnosis.icd10_cn,
                    icd10_who=diagnosis.icd10_who,
                    name=diagnosis.name,
                    recorded_date=encounter.start_date,
                )
            )
            db.flush()
            added += 1
    return added


# --- FHIR answers ------------------------------------------------------------------------------


def _outcome(status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


class _Refusal(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _authenticate(request: Request, settings: Settings) -> None:
    expected = HisConfig.from_settings(settings).token
    presented = request.headers.get("authorization", "")
    scheme, _, token = presented.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise _Refusal(
            _outcome(401, "login", "Bearer token missing or invalid", {"WWW-Authenticate": "Bearer"})
        )


def _paging(request: Request) -> tuple[int, int]:
    try:
        count = int(request.query_params.get("_count", DEFAULT_COUNT))
        offset = int(request.query_params.get("_offset", 0))
    except ValueError:
        raise _Refusal(_outcome(400, "invalid", "_count and _offset must be integers")) from None
    if not 1 <= count <= MAX_COUNT or offset < 0:
        raise _Refusal(_outcome(400, "invalid", f"_count must be 1..{MAX_COUNT}; _offset >= 0"))
    return count, offset


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name, "").strip()
    if not value:
        raise _Refusal(_outcome(400, "required", f"search parameter '{name}' is required"))
    return value


def _date_filter(column: Any, raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in _DATE_PREFIXES else ("eq", raw)
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        raise _Refusal(_outcome(400, "invalid", f"'{name}' must be [ge|gt|le|lt|eq]YYYY-MM-DD")) from None
    ops = {
        "ge": column >= day,
        "gt": column > day,
        "le": column <= day,
        "lt": column < day,
        "eq": column == day,
    }
    return ops[prefix]


def _bundle(request: Request, db: Session, query: Select[Any], resources: Any) -> JSONResponse:
    count, offset = _paging(request)
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.scalars(query.limit(count).offset(offset)).all()
    server_base = str(request.url.replace(query="")).rsplit("/", 1)[0]
    links = [{"relation": "self", "url": str(request.url)}]
    if offset + count < total:
        links.append(
            {"relation": "next", "url": str(request.url.include_query_params(_offset=offset + count))}
        )
    entries = [
        {
            "fullUrl": f"{server_base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources(db, rows)
    ]
    body = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries}
    return JSONResponse(body, media_type=FHIR_JSON)


def _patient_resource(row: SandboxHisPatient) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": row.fhir_id,
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": row.id_number}],
        "name": [{"use": "official", "text": row.name}],
    }


def _patients(db: Session, rows: Sequence[SandboxHisPatient]) -> list[dict[str, Any]]:
    return [_patient_resource(r) for r in rows]


def _fhir_ids(db: Session, model: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.execute(select(model.id, model.fhir_id).where(model.id.in_(ids))).all())


def _encounters(db: Session, rows: Sequence[SandboxHisEncounter]) -> list[dict[str, Any]]:
    patients = _fhir_ids(db, SandboxHisPatient, {r.patient_id for r in rows})
    return [
        {
            "resourceType": "Encounter",
            "id": r.fhir_id,
            "status": r.status,
            "class": {"system": ENCOUNTER_CLASS_SYSTEM, "code": r.encounter_class},
            "subject": {"reference": f"Patient/{patients[r.patient_id]}"},
            "period": {"start": f"{r.start_date.isoformat()}T09:00:00+08:00"},
            "serviceProvider": {
                "identifier": {"system": DEPARTMENT_SYSTEM, "value": r.department_code},
                "display": r.department_name,
            },
        }
        for r in rows
    ]


def _conditions(db: Session, rows: Sequence[SandboxHisCondition]) -> list[dict[str, Any]]:
    patients = _fhir_ids(db, SandboxHisPatient, {r.patient_id for r in rows})
    encounters = _fhir_ids(db, SandboxHisEncounter, {r.encounter_id for r in rows if r.encounter_id})
    out = []
    for r in rows:
        coding = []
        if r.icd10_cn:
            coding.append({"system": ICD10_CN, "code": r.icd10_cn, "display": r.name})
        if r.icd10_who:
            coding.append({"system": ICD10_WHO, "code": r.icd10_who, "display": r.name})
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": r.fhir_id,
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {"coding": coding, "text": r.name},
            "subject": {"reference": f"Patient/{patients[r.patient_id]}"},
            "recordedDate": r.recorded_date.isoformat(),
        }
        if r.encounter_id:
            resource["encounter"] = {"reference": f"Encounter/{encounters[r.encounter_id]}"}
        out.append(resource)
    return out


def _patient_pk(db: Session, reference: str) -> int:
    fhir_id = reference.removeprefix("Patient/")
    return db.scalar(select(SandboxHisPatient.id).where(SandboxHisPatient.fhir_id == fhir_id)) or -1


@router.get("/Patient")
def search_patients(request: Request, db: ReadDb, settings: AppSettings) -> JSONResponse:
    """``Patient?identifier=[system|]value``."""
    try:
        _authenticate(request, settings)
        system, bar, value = _required(request, "identifier").rpartition("|")
        if not bar:
            system, value = "", system or value
        value = value.strip().upper()
        if value.startswith(OUTAGE_PREFIX):
            return _outcome(503, "transient", "HIS database unavailable")
        query = select(SandboxHisPatient).order_by(SandboxHisPatient.id)
        query = query.where(SandboxHisPatient.id_number == value)
        if system and system != IDENTIFIER_SYSTEM:
            query = query.where(false())  # an identifier system this HIS does not issue: no match
        return _bundle(request, db, query, _patients)
    except _Refusal as refusal:
        return refusal.response


@router.get("/Patient/{fhir_id}")
def read_patient(fhir_id: str, request: Request, db: ReadDb, settings: AppSettings) -> JSONResponse:
    """``Patient/{id}`` read."""
    try:
        _authenticate(request, settings)
    except _Refusal as refusal:
        return refusal.response
    row = db.scalar(select(SandboxHisPatient).where(SandboxHisPatient.fhir_id == fhir_id))
    if row is None:
        return _outcome(404, "not-found", f"Patient/{fhir_id} is not known")
    return JSONResponse(_patient_resource(row), media_type=FHIR_JSON)


@router.get("/Encounter")
def search_encounters(request: Request, db: ReadDb, settings: AppSettings) -> JSONResponse:
    """``Encounter?patient=<id>&date=ge<YYYY-MM-DD>``."""
    try:
        _authenticate(request, settings)
        patient = _patient_pk(db, _required(request, "patient"))
        query = select(SandboxHisEncounter).where(SandboxHisEncounter.patient_id == patient)
        since = _date_filter(SandboxHisEncounter.start_date, request.query_params.get("date"), "date")
        if since is not None:
            query = query.where(since)
        query = query.order_by(SandboxHisEncounter.start_date.desc(), SandboxHisEncounter.id)
        return _bundle(request, db, query, _encounters)
    except _Refusal as refusal:
        return refusal.response


@router.get("/Condition")
def search_conditions(request: Request, db: ReadDb, settings: AppSettings) -> JSONResponse:
    """``Condition?patient=<id>&recorded-date=ge<YYYY-MM-DD>``."""
    try:
        _authenticate(request, settings)
        patient = _patient_pk(db, _required(request, "patient"))
        query = select(SandboxHisCondition).where(SandboxHisCondition.patient_id == patient)
        raw = request.query_params.get("recorded-date")
        since = _date_filter(SandboxHisCondition.recorded_date, raw, "recorded-date")
        if since is not None:
            query = query.where(since)
        query = query.order_by(SandboxHisCondition.recorded_date.desc(), SandboxHisCondition.id)
        return _bundle(request, db, query, _conditions)
    except _Refusal as refusal:
        return refusal.response


@router.get("/{resource_type}")
def unsupported_resource(resource_type: str, request: Request, settings: AppSettings) -> JSONResponse:
    """Any other resource type: 404 ``not-supported``, as a FHIR server answers."""
    try:
        _authenticate(request, settings)
    except _Refusal as refusal:
        return refusal.response
    return _outcome(404, "not-supported", f"resource type '{resource_type[:32]}' is not supported")


def create_simulator_app(settings: Settings | None = None) -> FastAPI:
    """The simulator alone, for a separate process (``uvicorn --factory ...:create_simulator_app``)."""
    settings = settings or Settings()
    app = FastAPI(title="IHIS sandbox HIS (FHIR R4)", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = Database(settings)
    app.include_router(router)
    return app
