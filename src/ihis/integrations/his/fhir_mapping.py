"""FHIR R4 resources (validated with ``fhir.resources.R4B``) turned into the plain HIS records.

Anything that does not validate, or lacks what a record needs (an id, a date, an ICD-10 code),
is refused with ``HisUnavailable("bad_response")`` for a Bundle, or skipped for one entry that is
merely incomplete for our purpose (a Condition coded only in SNOMED CT, say).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from ihis.integrations.his.protocol import (
    ICD10_CN,
    ICD10_SYSTEMS,
    IDENTIFIER_SYSTEM,
    HisDiagnosis,
    HisEncounter,
    HisPatient,
    HisUnavailable,
)
from ihis.platform.clock import HOSPITAL_TZ


def parse_bundle(document: Any) -> Bundle:
    """A validated ``searchset`` Bundle, or ``HisUnavailable``."""
    try:
        bundle = Bundle.model_validate(document)
    except (ValidationError, ValueError, TypeError) as exc:
        raise HisUnavailable("bad_response:bundle") from exc
    if bundle.type != "searchset":
        raise HisUnavailable(f"bad_response:bundle_type:{bundle.type}")
    return bundle


def next_link(bundle: Bundle) -> str | None:
    """The URL of the next page, if the server announced one."""
    for link in bundle.link or []:
        if link.relation == "next" and link.url:
            return str(link.url)
    return None


def outcome_text(document: Any) -> str:
    """The first issue's code and diagnostics of an OperationOutcome, for logs (no personal data)."""
    try:
        outcome = OperationOutcome.model_validate(document)
    except (ValidationError, ValueError, TypeError):
        return "not_an_operation_outcome"
    issue = outcome.issue[0]
    return f"{issue.severity}:{issue.code}"


def _local_date(value: dt.date | dt.datetime | str | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(HOSPITAL_TZ).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    try:  # a partial date ("2026-05") is legal FHIR; take its first day
        parts = [int(p) for p in str(value)[:10].split("-")]
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return None


def _reference_id(reference: Any, resource_type: str) -> str | None:
    ref = getattr(reference, "reference", None) if reference is not None else None
    if not ref:
        return None
    prefix = f"{resource_type}/"
    tail = str(ref).rsplit("/_history", 1)[0]
    return tail.rsplit(prefix, 1)[-1] if prefix in tail else None


def patients(bundle: Bundle) -> list[HisPatient]:
    """The Patient entries of a page."""
    out = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if not isinstance(resource, Patient) or not resource.id:
            continue
        number = next(
            (
                str(i.value).strip().upper()
                for i in resource.identifier or []
                if i.system == IDENTIFIER_SYSTEM and i.value
            ),
            None,
        )
        name = next(
            (
                n.text or (n.family or "") + "".join(str(g) for g in n.given or [])
                for n in resource.name or []
            ),
            None,
        )
        out.append(HisPatient(record_id=resource.id, id_number=number, name=name or None))
    return out


def encounters(bundle: Bundle) -> list[HisEncounter]:
    """The Encounter entries of a page (those without a start date are skipped)."""
    out = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if not isinstance(resource, Encounter) or not resource.id:
            continue
        start = _local_date(resource.period.start if resource.period else None)
        patient_id = _reference_id(resource.subject, "Patient")
        if start is None or patient_id is None:
            continue
        provider = resource.serviceProvider
        code = None
        if provider is not None:
            code = (provider.identifier.value if provider.identifier else None) or _reference_id(
                provider, "Organization"
            )
        out.append(
            HisEncounter(
                record_id=resource.id,
                patient_id=patient_id,
                encounter_class=str(resource.class_fhir.code or ""),
                status=str(resource.status),
                start=start,
                department_code=code,
                department_name=provider.display if provider is not None else None,
            )
        )
    return out


def diagnoses(bundle: Bundle) -> list[HisDiagnosis]:
    """The Condition entries of a page that carry an ICD-10 code and a date."""
    out = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if not isinstance(resource, Condition) or not resource.id or resource.code is None:
            continue
        codings = [c for c in resource.code.coding or [] if c.system in ICD10_SYSTEMS and c.code]
        if not codings:
            continue
        # The national clinical edition is the more specific code; keep the WHO one alongside.
        codings.sort(key=lambda c: 0 if c.system == ICD10_CN else 1)
        recorded = _local_date(resource.recordedDate) or _local_date(resource.onsetDateTime)
        patient_id = _reference_id(resource.subject, "Patient")
        if recorded is None or patient_id is None:
            continue
        verification = resource.verificationStatus
        out.append(
            HisDiagnosis(
                record_id=resource.id,
                patient_id=patient_id,
                icd10_code=str(codings[0].code).strip(),
                name=resource.code.text or codings[0].display or str(codings[0].code),
                recorded_on=recorded,
                encounter_id=_reference_id(resource.encounter, "Encounter"),
                codes=tuple((str(c.system), str(c.code).strip()) for c in codings),
                verification_status=(
                    str(verification.coding[0].code) if verification and verification.coding else None
                ),
            )
        )
    return out
