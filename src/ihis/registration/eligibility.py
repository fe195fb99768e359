"""Follow-up eligibility (复诊预判): pure rules over a visitor's HIS history. No I/O here.

DOMAIN §1 / BJ 5.1.2: online care is only for follow-ups of a disease diagnosed offline at this
hospital. A visitor is eligible in a department when the HIS holds

1. a patient record of the same person (its resident-ID identifier equals the visitor's),
2. an offline visit (outpatient AMB or inpatient IMP) in this department, with a diagnosis
   (ICD-10) recorded within the department's look-back window (default 180 days, inclusive),
3. and, for a session with disease tags (BJ 5.1.2.2, ICD-10 prefixes), a diagnosis of 2 that
   matches one of the tags at the configured ICD-10 granularity.

Granularity (``settings.eligibility_icd_granularity``): ``category`` compares the first three
characters (I10 matches I10.x00x002), ``subcategory`` the four-character subcategory (E11.9
matches E11.900, an ``x`` placeholder means "not subdivided": I10.x00 is I10), ``full`` the
whole code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ihis.integrations.his.protocol import OFFLINE_CLASSES, HisDiagnosis, HisEncounter, HisPatient

_VOID_ENCOUNTER = frozenset({"cancelled", "entered-in-error"})
_VOID_DIAGNOSIS = frozenset({"refuted", "entered-in-error"})
MAX_EVIDENCE = 5

# Names for the plain-words reasons (a tag is a code; the patient needs the disease's name).
# The demo's chronic diseases (DOMAIN §9); other codes are shown as the code itself.
DISEASE_NAMES: dict[str, tuple[str, str]] = {
    "I10": ("高血压", "hypertension"),
    "I11": ("高血压性心脏病", "hypertensive heart disease"),
    "I25": ("慢性缺血性心脏病", "chronic ischaemic heart disease"),
    "E11": ("2型糖尿病", "type 2 diabetes"),
    "J45": ("哮喘", "asthma"),
    "J44": ("慢性阻塞性肺疾病", "COPD"),
    "K21": ("胃食管反流病", "gastro-oesophageal reflux disease"),
    "N40": ("前列腺增生", "prostatic hyperplasia"),
    "L20": ("特应性皮炎", "atopic dermatitis"),
    "I63": ("脑梗死", "cerebral infarction"),
}


class Granularity(StrEnum):
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    FULL = "full"


def normalize_code(code: str) -> str:
    """An ICD-10 code compared case-insensitively, without blanks (``i10.x00x002`` -> ``I10.X00X002``)."""
    return "".join(code.split()).upper()


def disease_key(code: str, granularity: Granularity) -> str:
    """The part of ``code`` that names the disease at ``granularity``."""
    c = normalize_code(code)
    category = c[:3]
    if granularity is Granularity.CATEGORY:
        return category
    if granularity is Granularity.FULL:
        return c
    rest = c[3:].lstrip(".")
    return f"{category}.{rest[0]}" if rest and rest[0].isdigit() else category


def same_disease(a: str, b: str, granularity: Granularity) -> bool:
    """Whether two diagnosis codes name the same disease at ``granularity``."""
    return disease_key(a, granularity) == disease_key(b, granularity)


def matches_tag(code: str, tag: str, granularity: Granularity) -> bool:
    """Whether a diagnosis code falls under a disease tag (an ICD-10 prefix) at ``granularity``."""
    return disease_key(code, granularity).startswith(disease_key(tag, granularity))


def disease_name(code: str) -> tuple[str, str]:
    """The disease's name (zh, en) for a code or tag, or the code itself when unknown."""
    return DISEASE_NAMES.get(normalize_code(code)[:3], (normalize_code(code), normalize_code(code)))


@dataclass(frozen=True)
class DepartmentRule:
    """The department as the rules see it: its names in the HIS and its look-back window."""

    department_id: int
    name: str
    subject_code: str
    lookback_days: int
    his_department_codes: tuple[str, ...] = ()
    # Booking age range of the department in whole years, inclusive (None: unbounded).
    min_age_years: int | None = None
    max_age_years: int | None = None

    def includes(self, encounter: HisEncounter) -> bool:
        """Whether a HIS visit took place in this department (explicit codes win over names)."""
        if self.his_department_codes:
            return encounter.department_code in self.his_department_codes
        return (encounter.department_name or "").strip() == self.name or (
            encounter.department_code is not None and encounter.department_code == self.subject_code
        )


@dataclass(frozen=True)
class HisHistory:
    """What the HIS answered for one visitor's ID number."""

    patients: tuple[HisPatient, ...]
    encounters: tuple[HisEncounter, ...] = ()
    diagnoses: tuple[HisDiagnosis, ...] = ()


@dataclass(frozen=True)
class Reason:
    code: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class EvidenceItem:
    """One matching HIS diagnosis and the visit it was made at."""

    patient_id: str
    encounter_id: str
    condition_id: str
    icd10_code: str
    name: str
    recorded_on: dt.date
    department_name: str | None


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reasons: tuple[Reason, ...]
    evidence: tuple[EvidenceItem, ...]
    his_patient_ids: tuple[str, ...]
    lookback_days: int
    granularity: Granularity
    tags: tuple[str, ...]


_UPLOAD_HINT_ZH = "如有外院病历可上传，由医生确认。"
_UPLOAD_HINT_EN = "If you have records from another hospital, upload them for a doctor to confirm."


def decide(
    id_number: str,
    history: HisHistory,
    department: DepartmentRule,
    *,
    tags: tuple[str, ...] = (),
    granularity: Granularity = Granularity.CATEGORY,
    today: dt.date,
) -> Decision:
    """Apply the three rules (module docstring) and say why, in plain words."""
    days = department.lookback_days
    tags = tuple(normalize_code(t) for t in tags)

    def verdict(
        eligible: bool, reason: Reason, evidence: tuple[EvidenceItem, ...] = (), ids: tuple[str, ...] = ()
    ) -> Decision:
        return Decision(eligible, (reason,), evidence, ids, days, granularity, tags)

    person = normalize_code(id_number)
    same_person = tuple(
        p.record_id for p in history.patients if p.id_number and normalize_code(p.id_number) == person
    )
    if not same_person:
        code = "identity_not_matched" if history.patients else "no_his_record"
        return verdict(
            False,
            Reason(
                code,
                "未在本院找到该就诊人的就诊档案，无法预约线上复诊；" + _UPLOAD_HINT_ZH,
                "This visitor has no record at this hospital, so an online follow-up cannot be booked. "
                + _UPLOAD_HINT_EN,
            ),
        )
    matching = _matching(history, same_person, department, tags, granularity)
    recent = [m for m in matching if (today - m.recorded_on).days <= days]
    if recent:
        evidence = tuple(recent[:MAX_EVIDENCE])
        first = evidence[0]
        return verdict(True, _eligible_reason(first, department), evidence, same_person)
    if matching:
        return verdict(False, _too_old_reason(matching[0], department, days), (), same_person)
    return verdict(False, _nothing_reason(department, tags, days), (), same_person)


def _matching(
    history: HisHistory,
    patient_ids: tuple[str, ...],
    department: DepartmentRule,
    tags: tuple[str, ...],
    granularity: Granularity,
) -> list[EvidenceItem]:
    """Diagnoses of the same person made at an offline visit of this department (newest first)."""
    visits = {
        e.record_id: e
        for e in history.encounters
        if e.patient_id in patient_ids
        and e.encounter_class in OFFLINE_CLASSES
        and e.status not in _VOID_ENCOUNTER
        and department.includes(e)
    }
    found = []
    for d in history.diagnoses:
        visit = visits.get(d.encounter_id or "")
        if visit is None or d.patient_id not in patient_ids or d.verification_status in _VOID_DIAGNOSIS:
            continue
        codes = [d.icd10_code, *(code for _, code in d.codes)]
        if tags and not any(matches_tag(c, t, granularity) for c in codes for t in tags):
            continue
        found.append(
            EvidenceItem(
                patient_id=d.patient_id,
                encounter_id=visit.record_id,
                condition_id=d.record_id,
                icd10_code=d.icd10_code,
                name=d.name,
                recorded_on=d.recorded_on,
                department_name=visit.department_name,
            )
        )
    found.sort(key=lambda item: (item.recorded_on, item.condition_id), reverse=True)
    return found


def _eligible_reason(item: EvidenceItem, department: DepartmentRule) -> Reason:
    return Reason(
        "eligible",
        f"您于 {item.recorded_on.isoformat()} 在本院{department.name}就诊，诊断为「{item.name}」，"
        "可预约线上复诊。",
        f"You were seen in {department.name} on {item.recorded_on.isoformat()} and diagnosed with "
        f"{item.name} ({item.icd10_code}); you may book an online follow-up.",
    )


def _too_old_reason(item: EvidenceItem, department: DepartmentRule, days: int) -> Reason:
    return Reason(
        "outside_lookback_window",
        f"您最近一次在本院{department.name}因「{item.name}」就诊是 {item.recorded_on.isoformat()}，"
        f"已超过 {days} 天，无法预约线上复诊；请先到医院线下就诊，" + _UPLOAD_HINT_ZH,
        f"Your last visit to {department.name} for {item.name} was on {item.recorded_on.isoformat()}, "
        f"more than {days} days ago, so an online follow-up cannot be booked. Please visit the hospital "
        "in person first. " + _UPLOAD_HINT_EN,
    )


def _nothing_reason(department: DepartmentRule, tags: tuple[str, ...], days: int) -> Reason:
    if tags:
        names = [disease_name(t) for t in tags]
        zh = "、".join(f"「{n[0]}」" for n in names)
        en = ", ".join(n[1] for n in names)
        return Reason(
            "no_matching_diagnosis",
            f"您在本院近 {days} 天内没有{zh}的就诊记录，无法预约线上复诊；" + _UPLOAD_HINT_ZH,
            f"You have no visit for {en} at this hospital in the last {days} days, so an online "
            "follow-up cannot be booked. " + _UPLOAD_HINT_EN,
        )
    return Reason(
        "no_recent_visit",
        f"您在本院{department.name}近 {days} 天内没有就诊记录，无法预约线上复诊；" + _UPLOAD_HINT_ZH,
        f"You have no visit to {department.name} at this hospital in the last {days} days, so an "
        "online follow-up cannot be booked. " + _UPLOAD_HINT_EN,
    )
