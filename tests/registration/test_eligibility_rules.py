"""Follow-up eligibility rules (DOMAIN §1, BJ 5.1.2) at their boundaries: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from ihis.integrations.his.protocol import HisDiagnosis, HisEncounter, HisPatient
from ihis.registration.eligibility import (
    Decision,
    DepartmentRule,
    Granularity,
    HisHistory,
    decide,
    disease_key,
    matches_tag,
    same_disease,
)

TODAY = dt.date(2026, 11, 21)
ID = "11010519491231002X"
CARDIO = DepartmentRule(department_id=7, name="心血管内科", subject_code="03.04", lookback_days=180)


def _history(
    *visits: tuple[int, str],
    department: str = "心血管内科",
    department_code: str = "H-CARD",
    encounter_class: str = "AMB",
    id_number: str = ID,
    verification: str | None = "confirmed",
) -> HisHistory:
    encounters, diagnoses = [], []
    for n, (days_ago, code) in enumerate(visits):
        day = TODAY - dt.timedelta(days=days_ago)
        encounters.append(
            HisEncounter(f"e{n}", "p1", encounter_class, "finished", day, department_code, department)
        )
        diagnoses.append(
            HisDiagnosis(f"c{n}", "p1", code, f"诊断{code}", day, f"e{n}", (("s", code),), verification)
        )
    return HisHistory((HisPatient("p1", id_number, "王秀英"),), tuple(encounters), tuple(diagnoses))


def _decide(
    history: HisHistory, *, department: DepartmentRule = CARDIO, tags: tuple[str, ...] = ()
) -> Decision:
    return decide(ID, history, department, tags=tags, granularity=Granularity.CATEGORY, today=TODAY)


@pytest.mark.parametrize(
    ("code", "granularity", "key"),
    [
        ("I10.x00x002", Granularity.CATEGORY, "I10"),
        ("I10.x00x002", Granularity.SUBCATEGORY, "I10"),
        ("E11.900x001", Granularity.SUBCATEGORY, "E11.9"),
        ("e11.9", Granularity.SUBCATEGORY, "E11.9"),
        ("E11.900x001", Granularity.FULL, "E11.900X001"),
    ],
)
def test_disease_keys_per_granularity(code: str, granularity: Granularity, key: str) -> None:
    assert disease_key(code, granularity) == key


def test_same_disease_at_each_granularity() -> None:
    assert same_disease("I10", "I10.x00x002", Granularity.CATEGORY)
    assert not same_disease("I10", "I11.9", Granularity.CATEGORY)
    assert same_disease("E11.900", "E11.9", Granularity.SUBCATEGORY)
    assert not same_disease("E11.2", "E11.9", Granularity.SUBCATEGORY)
    assert not same_disease("E11.900", "E11.9", Granularity.FULL)
    assert same_disease("e11.9", "E11.9", Granularity.FULL)


def test_tags_are_prefixes_cut_to_the_granularity() -> None:
    assert matches_tag("I10.x00x002", "I10", Granularity.CATEGORY)
    assert not matches_tag("I11.900", "I10", Granularity.CATEGORY)
    assert matches_tag("E11.2", "E11.9", Granularity.CATEGORY)  # category: every E11 is "E11"
    assert not matches_tag("E11.2", "E11.9", Granularity.SUBCATEGORY)
    assert matches_tag("E11.2", "E11", Granularity.SUBCATEGORY)


def test_a_diagnosis_180_days_ago_is_within_the_window() -> None:
    decision = _decide(_history((180, "I10")))
    assert decision.eligible
    assert [e.condition_id for e in decision.evidence] == ["c0"]
    assert decision.reasons[0].code == "eligible"


def test_a_diagnosis_181_days_ago_is_outside_the_window_and_the_reason_says_when() -> None:
    decision = _decide(_history((181, "I10")))
    assert not decision.eligible
    reason = decision.reasons[0]
    assert reason.code == "outside_lookback_window"
    assert (TODAY - dt.timedelta(days=181)).isoformat() in reason.message_zh
    assert "180" in reason.message_en
    assert decision.evidence == ()


def test_the_department_policy_window_replaces_the_default() -> None:
    short = DepartmentRule(7, "心血管内科", "03.04", lookback_days=30)
    assert not _decide(_history((31, "I10")), department=short).eligible
    assert _decide(_history((30, "I10")), department=short).eligible


def test_a_tagged_session_needs_a_matching_diagnosis_i10_vs_i11() -> None:
    assert _decide(_history((10, "I10.x00x002")), tags=("I10",)).eligible
    decision = _decide(_history((10, "I11.900")), tags=("I10",))
    assert not decision.eligible
    reason = decision.reasons[0]
    assert reason.code == "no_matching_diagnosis"
    assert reason.message_zh == (
        "您在本院近 180 天内没有「高血压」的就诊记录，无法预约线上复诊；如有外院病历可上传，由医生确认。"
    )


def test_without_tags_any_recent_diagnosis_of_the_department_counts() -> None:
    assert _decide(_history((10, "I11.900"))).eligible


def test_a_visit_in_another_department_does_not_count() -> None:
    decision = _decide(_history((10, "I10"), department="内分泌科", department_code="03.07"))
    assert not decision.eligible
    assert decision.reasons[0].code == "no_recent_visit"
    assert "心血管内科" in decision.reasons[0].message_zh


def test_the_department_matches_by_subject_code_or_configured_his_codes() -> None:
    by_code = _history((10, "I10"), department="心内科门诊", department_code="03.04")
    assert _decide(by_code).eligible
    mapped = DepartmentRule(7, "心血管内科", "03.04", 180, his_department_codes=("0301A",))
    assert not _decide(by_code, department=mapped).eligible
    assert _decide(_history((10, "I10"), department_code="0301A"), department=mapped).eligible


def test_an_online_or_emergency_visit_is_not_an_offline_diagnosis() -> None:
    assert not _decide(_history((10, "I10"), encounter_class="VR")).eligible
    assert _decide(_history((10, "I10"), encounter_class="IMP")).eligible


def test_a_refuted_diagnosis_does_not_count() -> None:
    assert not _decide(_history((10, "I10"), verification="refuted")).eligible


def test_no_his_patient_is_not_eligible_and_points_to_upload() -> None:
    decision = _decide(HisHistory(()))
    assert not decision.eligible
    reason = decision.reasons[0]
    assert reason.code == "no_his_record"
    assert "上传" in reason.message_zh and "upload" in reason.message_en


def test_a_his_patient_with_another_id_number_is_not_the_same_person() -> None:
    decision = _decide(_history((10, "I10"), id_number="110105198005046032"))
    assert not decision.eligible
    assert decision.reasons[0].code == "identity_not_matched"


def test_the_id_number_match_ignores_the_case_of_the_check_character() -> None:
    assert _decide(_history((10, "I10"), id_number=ID.lower())).eligible


def test_evidence_lists_the_newest_matching_diagnoses_first() -> None:
    decision = _decide(_history((90, "I10"), (10, "I10"), (400, "I10")))
    assert [e.condition_id for e in decision.evidence] == ["c1", "c0"]
    assert decision.his_patient_ids == ("p1",)
