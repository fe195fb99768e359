"""1101 人员信息获取 through the real client against the sandbox platform: a known person's number,
scheme and area; an unknown person refused the same way every time; bad signatures and replays refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from ihis.integrations.insurance import signing
from ihis.integrations.insurance.client import HttpInsuranceClient
from ihis.integrations.insurance.config import InsuranceConfig
from ihis.integrations.insurance.protocol import PSN_NO, InsuranceError, PersonInsurance
from ihis.integrations.insurance.service import PersonNotInsured, find_person
from ihis.platform.errors import UpstreamFailed
from ihis.platform.jobs import runtime
from ihis.settings import Settings
from tests.factories_insurance import UNKNOWN_SEQ, insured_id_number
from tests.factories_logistics import mount_logistics
from tests.factories_patient import years_ago

PERSON_PATH = "/sandbox/insurance/api/1101"


@pytest.fixture
def platform(app, settings: Settings) -> HttpInsuranceClient:  # type: ignore[no-untyped-def]
    mount_logistics(app)
    return HttpInsuranceClient(runtime().http, InsuranceConfig.from_settings(settings), backoff_seconds=0)


def test_a_known_adult_has_a_person_number_the_employee_scheme_and_the_area_of_the_id(
    platform: HttpInsuranceClient,
) -> None:
    id_number = insured_id_number(dt.date(1980, 5, 4))
    person = platform.person_info(id_number, "李建国")
    assert PSN_NO.match(person.psn_no) and person.psn_no.startswith("110105")
    assert not person.psn_no.endswith("0000")  # that suffix is the pre-settlement's failure injection
    assert person.insutype == "310" and person.insuplc_admdvs == "110105"
    assert platform.person_info(id_number, "李建国") == person  # deterministic


def test_a_minor_is_in_the_residents_scheme(platform: HttpInsuranceClient) -> None:
    person = platform.person_info(insured_id_number(years_ago(17)), "李小宝")
    assert person.insutype == "390"
    assert platform.person_info(insured_id_number(years_ago(18)), "李大宝").insutype == "310"


def test_an_unknown_person_is_refused_every_time(platform: HttpInsuranceClient) -> None:
    id_number = insured_id_number(seq=UNKNOWN_SEQ)
    for _ in range(2):
        with pytest.raises(InsuranceError) as refused:
            platform.person_info(id_number, "王五")
        assert refused.value.code == "psn_not_found" and not refused.value.retryable
    with pytest.raises(PersonNotInsured):
        find_person(platform, id_number, "王五")


def test_a_malformed_id_number_is_a_parameter_error(platform: HttpInsuranceClient) -> None:
    good = insured_id_number()
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    for certno in ("12345", wrong_check):
        with pytest.raises(InsuranceError) as refused:
            platform.person_info(certno, "王五")
        assert refused.value.code == "param_error"


def _signed_post(
    client: TestClient, settings: Settings, body: str, *, secret: str | None = None
) -> dict[str, str]:
    config = InsuranceConfig.from_settings(settings)
    headers = signing.signed_headers(config.app_id, secret or config.app_secret, "POST", PERSON_PATH, body)
    headers["Content-Type"] = "application/json"
    return headers


def test_a_bad_signature_and_a_replayed_nonce_are_refused(
    app,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    client = TestClient(mount_logistics(app))
    body = json.dumps(
        {
            "infno": "1101",
            "msgid": "m1",
            "input": {"psn_cert_type": "01", "certno": insured_id_number(), "psn_name": "李"},
        }
    )
    forged = client.post(
        PERSON_PATH, content=body, headers=_signed_post(client, settings, body, secret="wrong")
    )
    assert forged.status_code == 401
    assert forged.json()["err_code"] == "SIGN_ERROR" and forged.json()["err_msg"] == "signature_mismatch"
    headers = _signed_post(client, settings, body)
    first = client.post(PERSON_PATH, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["infcode"] == 0, first.text
    replay = client.post(PERSON_PATH, content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["err_msg"] == "nonce_replayed"


class _Answers:
    """A gateway that answers 1101 with a fixed person (or raises)."""

    def __init__(self, person: PersonInsurance | None = None, error: InsuranceError | None = None) -> None:
        self.person, self.error = person, error

    def person_info(self, id_number: str, name: str) -> PersonInsurance:
        if self.error is not None:
            raise self.error
        assert self.person is not None
        return self.person


def test_find_person_turns_outages_and_odd_answers_into_clear_errors() -> None:
    down = _Answers(error=InsuranceError("http_503", retryable=True, status=503))
    with pytest.raises(UpstreamFailed):
        find_person(down, "x", "y")  # type: ignore[arg-type]
    other_scheme = _Answers(PersonInsurance("11010512345678901234", "410", "110105"))  # 长期护理
    with pytest.raises(PersonNotInsured):
        find_person(other_scheme, "x", "y")  # type: ignore[arg-type]
    malformed = _Answers(PersonInsurance("1234", "310", "1101"))
    with pytest.raises(UpstreamFailed):
        find_person(malformed, "x", "y")  # type: ignore[arg-type]
