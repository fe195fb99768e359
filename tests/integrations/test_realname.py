"""Real-name adapter: API-gateway signing, the sandbox authority's checks, verdicts and outages."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.identity.idnumbers import is_valid
from ihis.integrations.realname import protocol
from ihis.integrations.realname.client import DEV_APP_KEY, DEV_APP_SECRET, RealNameClient, RealNameConfig
from ihis.integrations.realname.models import SandboxIdentity, SandboxRealnameRequest
from ihis.integrations.realname.protocol import RealNameUnavailable, Verdict
from ihis.integrations.realname.sandbox import SANDBOX_IDENTITIES, Identity, seed_sandbox_identities
from ihis.settings import Settings
from tests.factories_patient import make_id_number, years_ago

WANG = SANDBOX_IDENTITIES[0]


def _client(http: TestClient, *, key: str = DEV_APP_KEY, secret: str = DEV_APP_SECRET) -> RealNameClient:
    return RealNameClient(
        http, RealNameConfig("http://testserver/sandbox/realname", key, secret), backoff_seconds=0
    )


def test_string_to_sign_follows_the_gateway_layout() -> None:
    headers = {
        "Accept": "application/json",
        "Content-MD5": "md5==",
        "Content-Type": "application/json; charset=UTF-8",
        "Date": "Sat, 21 Nov 2026 08:00:00 GMT",
        "X-Ca-Timestamp": "1700000000000",
        "X-Ca-Key": "k",
        "X-Ca-Nonce": "n",
        "X-Ca-Signature-Method": "HmacSHA256",
    }
    text = protocol.string_to_sign("post", "/v1/identity/three-factor", headers, query={"b": "2", "a": "1"})
    assert text == (
        "POST\napplication/json\nmd5==\napplication/json; charset=UTF-8\nSat, 21 Nov 2026 08:00:00 GMT\n"
        "x-ca-key:k\nx-ca-nonce:n\nx-ca-signature-method:HmacSHA256\nx-ca-timestamp:1700000000000\n"
        "/v1/identity/three-factor?a=1&b=2"
    )
    expected = base64.b64encode(hmac.new(b"secret", text.encode(), hashlib.sha256).digest()).decode()
    assert protocol.sign("secret", text) == expected


def test_content_md5_is_base64_of_the_body_digest() -> None:
    assert protocol.content_md5(b"{}") == base64.b64encode(hashlib.md5(b"{}").digest()).decode()


def test_built_in_identities_have_valid_checksums() -> None:
    assert all(is_valid(person.id_number) for person in SANDBOX_IDENTITIES)
    assert "11010519491231002X" in {person.id_number for person in SANDBOX_IDENTITIES}


@pytest.mark.parametrize(
    ("name", "id_number", "mobile", "verdict"),
    [
        (WANG.name, WANG.id_number, WANG.phone, Verdict.MATCH),
        ("王秀兰", WANG.id_number, WANG.phone, Verdict.NAME_ID_MISMATCH),
        (WANG.name, WANG.id_number, "13911112222", Verdict.MOBILE_MISMATCH),
        (WANG.name, "110105198001010016", WANG.phone, Verdict.NO_RECORD),
    ],
)
def test_authority_verdicts(
    client: TestClient, name: str, id_number: str, mobile: str, verdict: Verdict
) -> None:
    result = _client(client).verify(name, id_number, mobile)
    assert result.verdict is verdict and result.order_no.startswith("RN")
    assert result.matched is (verdict is Verdict.MATCH)


def test_seeded_identities_are_known_and_seeding_is_idempotent(client: TestClient, db: Session) -> None:
    person = Identity("孙小美", make_id_number(years_ago(20), male=False), "13900009999")
    assert seed_sandbox_identities(db, [person]) == 1
    assert seed_sandbox_identities(db, [person]) == 0
    db.commit()
    assert db.scalar(select(func.count(SandboxIdentity.id))) == 1
    assert _client(client).verify(person.name, person.id_number, person.phone).matched


def test_wrong_secret_is_refused_by_the_gateway(client: TestClient) -> None:
    with pytest.raises(RealNameUnavailable) as caught:
        _client(client, secret="nope").verify(WANG.name, WANG.id_number, WANG.phone)
    assert "Invalid Signature" in caught.value.reason


def test_unknown_app_key_is_refused(client: TestClient) -> None:
    with pytest.raises(RealNameUnavailable) as caught:
        _client(client, key="someone-else").verify(WANG.name, WANG.id_number, WANG.phone)
    assert caught.value.reason.startswith("http_403")


def test_tampered_body_fails_the_content_md5(client: TestClient) -> None:
    url, headers, body = _client(client).signed_request(WANG.name, WANG.id_number, WANG.phone, "b1")
    r = client.post(url, headers=headers, content=body.replace("王".encode(), "汪".encode()))
    assert r.status_code == 400 and r.headers[protocol.ERROR_HEADER] == "Invalid Content-MD5"


def test_replayed_nonce_is_refused(client: TestClient) -> None:
    url, headers, body = _client(client).signed_request(WANG.name, WANG.id_number, WANG.phone, "b1")
    assert client.post(url, headers=headers, content=body).status_code == 200
    replay = client.post(url, headers=headers, content=body)
    assert replay.status_code == 400 and replay.headers[protocol.ERROR_HEADER] == "Nonce Used"


def test_stale_timestamp_is_refused(client: TestClient) -> None:
    rn = _client(client)
    url, headers, body = rn.signed_request(WANG.name, WANG.id_number, WANG.phone, "b1")
    headers["X-Ca-Timestamp"] = str(int(headers["X-Ca-Timestamp"]) - 16 * 60 * 1000)
    text = protocol.string_to_sign("POST", "/sandbox/realname" + protocol.VERIFY_PATH, headers)
    headers["X-Ca-Signature"] = protocol.sign(DEV_APP_SECRET, text)
    r = client.post(url, headers=headers, content=body)
    assert r.status_code == 400 and r.headers[protocol.ERROR_HEADER] == "Invalid Timestamp"


def test_outage_is_retried_once_then_reported(client: TestClient, db: Session) -> None:
    with pytest.raises(RealNameUnavailable) as caught:
        _client(client).verify(WANG.name, WANG.id_number, "19900001111")
    assert caught.value.reason.startswith("http_503")
    db.expire_all()
    assert list(db.scalars(select(SandboxRealnameRequest.result))) == ["unavailable", "unavailable"]


def test_the_request_log_keeps_no_personal_data(client: TestClient, db: Session) -> None:
    _client(client).verify(WANG.name, WANG.id_number, WANG.phone)
    db.expire_all()
    row = db.scalar(select(SandboxRealnameRequest))
    assert row is not None
    stored = " ".join(str(v) for v in (row.nonce, row.order_no, row.biz_no, row.result))
    assert WANG.id_number not in stored and WANG.phone not in stored and WANG.name not in stored


def test_config_needs_credentials_outside_sandbox_mode(settings: Settings) -> None:
    with pytest.raises(RealNameUnavailable):
        RealNameConfig.from_settings(settings.model_copy(update={"sandbox": False}))
    sandbox = RealNameConfig.from_settings(settings)
    assert sandbox.endpoint.endswith("/sandbox/realname") and sandbox.app_key == DEV_APP_KEY
