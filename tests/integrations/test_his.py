"""HIS adapter (FHIR R4): the client against the sandbox HIS served by the test app, and failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.integrations.his.client import DEV_TOKEN, SANDBOX_PATH, FhirHisClient, HisConfig
from ihis.integrations.his.models import SandboxHisCondition, SandboxHisEncounter, SandboxHisPatient
from ihis.integrations.his.protocol import ICD10_CN, ICD10_WHO, IDENTIFIER_SYSTEM, HisUnavailable
from ihis.integrations.his.sandbox import OUTAGE_PREFIX, SeedPatient, seed_his_records
from ihis.platform import jobs
from ihis.platform.clock import local_today
from ihis.settings import Environment, Settings
from tests.factories_his import ensure_his_routes, his_patient, visit
from tests.factories_patient import make_id_number

BASE = "http://testserver" + SANDBOX_PATH
AUTH = {"Authorization": f"Bearer {DEV_TOKEN}"}


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return ensure_his_routes(app)


def _his(token: str = DEV_TOKEN) -> FhirHisClient:
    return FhirHisClient(jobs.runtime().http, HisConfig(BASE, token), backoff_seconds=0)


def _person() -> str:
    return make_id_number(dt.date(1970, 5, 5), male=True)


def test_patient_search_by_identifier_finds_only_that_person(client: TestClient, db: Session) -> None:
    number, other = _person(), _person()
    fhir_id = his_patient(db, number, name="张三")
    his_patient(db, other)
    found = _his().find_patients(number)
    assert [(p.record_id, p.id_number, p.name) for p in found] == [(fhir_id, number, "张三")]
    assert _his().find_patients(_person()) == []


def test_encounters_and_conditions_become_plain_records_with_both_icd10_editions(
    client: TestClient, db: Session
) -> None:
    number = _person()
    fhir_id = his_patient(
        db,
        number,
        [
            visit(
                "v1",
                30,
                "心血管内科",
                "I10",
                icd10_cn="I10.x00x002",
                department_code="03.04",
                name="原发性高血压",
            )
        ],
    )
    since = local_today() - dt.timedelta(days=400)
    [encounter] = _his().encounters(fhir_id, since)
    assert (encounter.patient_id, encounter.encounter_class, encounter.status) == (fhir_id, "AMB", "finished")
    assert (encounter.department_code, encounter.department_name) == ("03.04", "心血管内科")
    assert encounter.start == local_today() - dt.timedelta(days=30)
    [diagnosis] = _his().diagnoses(fhir_id, since)
    assert diagnosis.icd10_code == "I10.x00x002"  # the national clinical edition is preferred
    assert dict(diagnosis.codes) == {ICD10_CN: "I10.x00x002", ICD10_WHO: "I10"}
    assert (diagnosis.name, diagnosis.encounter_id, diagnosis.recorded_on) == (
        "原发性高血压",
        encounter.record_id,
        encounter.start,
    )


def test_date_filters_leave_out_older_records(client: TestClient, db: Session) -> None:
    fhir_id = his_patient(
        db, _person(), [visit("old", 200, "呼吸内科", "J45"), visit("new", 10, "呼吸内科", "J45")]
    )
    since = local_today() - dt.timedelta(days=180)
    assert [e.record_id.rsplit("-", 1)[-1] for e in _his().encounters(fhir_id, since)] == ["new"]
    assert len(_his().diagnoses(fhir_id, since)) == 1


def test_the_client_follows_next_links_across_pages(client: TestClient, db: Session) -> None:
    fhir_id = his_patient(db, _person(), [visit(f"v{i}", i, "内分泌科", "E11") for i in range(1, 46)])
    since = local_today() - dt.timedelta(days=400)
    assert len(_his().encounters(fhir_id, since)) == 45  # three pages of 20
    page = client.get(f"{SANDBOX_PATH}/Encounter", params={"patient": fhir_id, "_count": 20}, headers=AUTH)
    bundle = Bundle.model_validate(page.json())
    assert (bundle.type, bundle.total, len(bundle.entry or [])) == ("searchset", 45, 20)
    assert [link.relation for link in bundle.link or []] == ["self", "next"]
    last = client.get(
        f"{SANDBOX_PATH}/Encounter", params={"patient": fhir_id, "_count": 20, "_offset": 40}, headers=AUTH
    )
    assert [link.relation for link in Bundle.model_validate(last.json()).link or []] == ["self"]


def _outcome(response: httpx.Response, status: int) -> str:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")
    issue = OperationOutcome.model_validate(response.json()).issue[0]
    return str(issue.code)


def test_the_sandbox_refuses_a_missing_or_wrong_bearer_token(client: TestClient) -> None:
    params = {"identifier": f"{IDENTIFIER_SYSTEM}|{_person()}"}
    assert _outcome(client.get(f"{SANDBOX_PATH}/Patient", params=params), 401) == "login"
    wrong = client.get(f"{SANDBOX_PATH}/Patient", params=params, headers={"Authorization": "Bearer nope"})
    assert _outcome(wrong, 401) == "login"
    assert wrong.headers["www-authenticate"] == "Bearer"
    with pytest.raises(HisUnavailable) as caught:
        _his(token="nope").find_patients(_person())
    assert caught.value.reason == "http_401:error:login"
    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/Patient", {}, 400, "required"),
        ("/Encounter", {}, 400, "required"),
        ("/Condition", {"patient": "x", "recorded-date": "ge2026-13-01"}, 400, "invalid"),
        ("/Encounter", {"patient": "x", "_count": "0"}, 400, "invalid"),
        ("/Encounter", {"patient": "x", "_count": "many"}, 400, "invalid"),
        ("/Observation", {}, 404, "not-supported"),
        ("/Patient/unknown", {}, 404, "not-found"),
    ],
)
def test_bad_requests_get_an_operation_outcome(
    client: TestClient, path: str, params: dict[str, str], status: int, code: str
) -> None:
    assert _outcome(client.get(SANDBOX_PATH + path, params=params, headers=AUTH), status) == code


def test_an_unknown_identifier_system_matches_nobody(client: TestClient, db: Session) -> None:
    number = _person()
    his_patient(db, number)
    found = client.get(f"{SANDBOX_PATH}/Patient", params={"identifier": f"urn:other|{number}"}, headers=AUTH)
    assert Bundle.model_validate(found.json()).total == 0


def test_an_his_outage_becomes_his_unavailable_502(client: TestClient) -> None:
    with pytest.raises(HisUnavailable) as caught:
        _his().find_patients(OUTAGE_PREFIX + "19700101001X")
    assert caught.value.reason == "http_503:error:transient"
    assert caught.value.status == 502


def _mock(handler: Any) -> FhirHisClient:
    return FhirHisClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        HisConfig("https://his.example/fhir", "t"),
        backoff_seconds=0,
    )


def test_transport_errors_are_retried_then_reported(client: TestClient) -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("down", request=request)

    with pytest.raises(HisUnavailable) as caught:
        _mock(refuse).find_patients(_person())
    assert caught.value.reason == "transport:ConnectError"
    assert len(calls) == 2
    assert calls[0].headers["authorization"] == "Bearer t"


def test_an_answer_that_is_not_a_fhir_bundle_is_refused() -> None:
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"resourceType": "Patient", "id": "p1"})

    with pytest.raises(HisUnavailable) as caught:
        _mock(garbage).find_patients(_person())
    assert caught.value.reason == "bad_response:bundle"


def test_a_next_link_to_another_server_is_not_followed() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": "https://evil.example/fhir/Patient?page=2"}],
        }
        return httpx.Response(200, json=bundle)

    with pytest.raises(HisUnavailable) as caught:
        _mock(page).find_patients(_person())
    assert caught.value.reason == "foreign_next_link:Patient"


def test_config_defaults_to_the_sandbox_only_in_sandbox_mode(settings: Settings) -> None:
    config = HisConfig.from_settings(settings.model_copy(update={"public_base_url": "http://h:1/"}))
    assert (config.base_url, config.token) == ("http://h:1/sandbox/his/fhir", DEV_TOKEN)
    production_like = settings.model_copy(update={"sandbox": False, "env": Environment.DEVELOPMENT})
    with pytest.raises(HisUnavailable) as caught:
        HisConfig.from_settings(production_like)
    assert caught.value.reason == "not_configured"


def test_seeding_is_idempotent(db: Session) -> None:
    record = SeedPatient("idem", _person(), "重复", (visit("v1", 5, "皮肤科", "L20"),))
    assert seed_his_records(db, [record]) == 3
    assert seed_his_records(db, [record]) == 0
    counts = [
        db.scalar(select(func.count()).select_from(m))
        for m in (SandboxHisPatient, SandboxHisEncounter, SandboxHisCondition)
    ]
    assert counts == [1, 1, 1]
