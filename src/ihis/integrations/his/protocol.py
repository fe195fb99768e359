"""The HIS protocol: FHIR R4 search over REST, and the plain records IHIS takes from it.

The hospital's HIS answers three searches (HL7 FHIR R4, RESTful API, ``searchset`` Bundles):

    GET [base]/Patient?identifier=<IDENTIFIER_SYSTEM>|<resident ID number>
    GET [base]/Encounter?patient=<Patient.id>&date=ge<YYYY-MM-DD>
    GET [base]/Condition?patient=<Patient.id>&recorded-date=ge<YYYY-MM-DD>

A page's ``link[relation=next]`` leads to the next page. Errors come as ``OperationOutcome``.
The production client and the sandbox HIS share these constants, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from ihis.platform.errors import UpstreamFailed

FHIR_JSON = "application/fhir+json"
# 居民身份证号码: the OID of the Chinese resident identity card number in the national health
# information standards (WS 363 / WS/T 500 CDA "patient identifier" usage).
IDENTIFIER_SYSTEM = "urn:oid:2.16.156.10011.1.3"
# Diagnosis code systems: the WHO ICD-10 (HL7's canonical URI) and the Chinese national code
# table 诊断代码表 (ICD-10, GB/T 14396 / 国家临床版 2.0 codes such as ``I10.x00x002``).
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
ICD10_CN = "urn:oid:2.16.156.10011.2.3.3.11"
ICD10_SYSTEMS = (ICD10_CN, ICD10_WHO)
ENCOUNTER_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# Offline visits only: outpatient (AMB) and inpatient (IMP). Our own online visits (VR) never
# count as the offline diagnosis a follow-up needs (BJ 5.1.2).
OFFLINE_CLASSES = frozenset({"AMB", "IMP"})
DEPARTMENT_SYSTEM = "urn:ihis:his:department"
MAX_PAGES = 20


@dataclass(frozen=True)
class HisPatient:
    """One HIS patient record (a person may have several: duplicate registrations are common)."""

    record_id: str
    id_number: str | None  # the value of the identifier of IDENTIFIER_SYSTEM, if any
    name: str | None


@dataclass(frozen=True)
class HisEncounter:
    """One offline visit: outpatient (AMB) or inpatient (IMP), in a department, at a time."""

    record_id: str
    patient_id: str
    encounter_class: str
    status: str
    start: dt.date
    department_code: str | None
    department_name: str | None


@dataclass(frozen=True)
class HisDiagnosis:
    """One diagnosis (FHIR Condition) with its ICD-10 code in each edition the HIS sent."""

    record_id: str
    patient_id: str
    icd10_code: str  # the national clinical edition code when present, else the WHO one
    name: str
    recorded_on: dt.date
    encounter_id: str | None
    codes: tuple[tuple[str, str], ...]  # (system, code) pairs as received
    verification_status: str | None = None


class HisUnavailable(UpstreamFailed):
    """The HIS failed, refused our credentials or answered something that is not FHIR (-> 502)."""

    code = "his_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "医院信息系统暂不可用，暂时无法核验复诊资格，请稍后再试",
            "The hospital information system is unavailable; follow-up eligibility cannot be checked now",
        )
        self.reason = reason


class HisGateway(Protocol):
    """Anything that answers the three searches (the FHIR client, or a fake in unit tests)."""

    def find_patients(self, id_number: str) -> list[HisPatient]:  # pragma: no cover - protocol
        """HIS patients whose resident-ID identifier is ``id_number``."""
        ...

    def encounters(self, patient_id: str, since: dt.date) -> list[HisEncounter]:  # pragma: no cover
        """The patient's encounters starting on or after ``since``."""
        ...

    def diagnoses(self, patient_id: str, since: dt.date) -> list[HisDiagnosis]:  # pragma: no cover
        """The patient's conditions recorded on or after ``since``."""
        ...
