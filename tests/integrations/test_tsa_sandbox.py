"""RFC 3161 time stamps: the client against the sandbox TSA over HTTP, and token verification."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.integrations.ca import authority, pki
from ihis.integrations.tsa.client import QUERY_TYPE, REPLY_TYPE, TsaClient, TsaError, build_request, tsa_url
from ihis.integrations.tsa.verify import verify_token
from ihis.platform.clock import utcnow
from ihis.settings import Settings
from tests.factories_signing import mount_signing

IMPRINT = hashlib.sha256(b"a signature value").digest()


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_signing(app)


@pytest.fixture
def tsa(client: TestClient, settings: Settings) -> TsaClient:
    return TsaClient(client, tsa_url(settings), backoff=0)


def test_a_token_from_the_sandbox_tsa_verifies_against_the_root(tsa: TsaClient, db: Session) -> None:
    token = tsa.timestamp(IMPRINT, "sha256")
    check = verify_token(token, IMPRINT, authority.root(db).cert_pem)
    assert check.ok, check.code
    assert check.gen_time is not None and abs((check.gen_time - utcnow()).total_seconds()) < 60
    assert "CN=IHIS Sandbox TSA" in (check.tsa_subject or "")


def test_the_tsa_certificate_is_for_time_stamping_only_and_chains_to_the_root(
    tsa: TsaClient, db: Session
) -> None:
    tsa.timestamp(IMPRINT, "sha256")
    cert = pki.load_cert(authority.tsa(db).cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert pki.issued_by(cert, pki.load_cert(authority.root(db).cert_pem))


def test_an_sm3_imprint_is_stamped_and_verified(tsa: TsaClient, db: Session) -> None:
    from ihis.signing.canonical import digest

    imprint = digest("sm3", b"a signature value")
    assert verify_token(tsa.timestamp(imprint, "sm3"), imprint, authority.root(db).cert_pem).ok


def test_verification_names_a_wrong_imprint_and_an_untrusted_tsa(tsa: TsaClient, db: Session) -> None:
    token = tsa.timestamp(IMPRINT, "sha256")
    other = hashlib.sha256(b"something else").digest()
    assert verify_token(token, other, authority.root(db).cert_pem).code == "tsa_imprint_mismatch"
    _, foreign_root = pki.make_root("Elsewhere", utcnow())
    assert verify_token(token, IMPRINT, foreign_root).code == "tsa_certificate_untrusted"
    assert verify_token(b"\x30\x03\x02\x01\x00", IMPRINT, foreign_root).code == "tsa_token_malformed"


def test_the_sandbox_speaks_the_rfc_3161_media_types(client: TestClient) -> None:
    request = build_request(IMPRINT, "sha256", 42).dump()
    answer = client.post("/sandbox/tsa", content=request, headers={"Content-Type": QUERY_TYPE})
    assert answer.status_code == 200 and answer.headers["content-type"] == REPLY_TYPE
    reply = tsp.TimeStampResp.load(answer.content)
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 42 and info["message_imprint"]["hashed_message"].native == IMPRINT
    assert (
        client.post("/sandbox/tsa", content=request, headers={"Content-Type": "application/json"}).status_code
        == 415
    )
    assert (
        client.post("/sandbox/tsa", content=b"junk", headers={"Content-Type": QUERY_TYPE}).status_code == 400
    )


def test_the_client_refuses_a_reply_for_another_request(client: TestClient) -> None:
    foreign = client.post(
        "/sandbox/tsa",
        content=build_request(IMPRINT, "sha256", 7).dump(),
        headers={"Content-Type": QUERY_TYPE},
    ).content

    def replay(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=foreign, headers={"Content-Type": REPLY_TYPE})

    stale = TsaClient(httpx.Client(transport=httpx.MockTransport(replay)), "https://tsa.example", backoff=0)
    with pytest.raises(TsaError) as caught:
        stale.timestamp(IMPRINT, "sha256")
    assert caught.value.code == "reply_mismatch"


def test_tsa_failures_are_retried_then_reported() -> None:
    calls = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    with pytest.raises(TsaError) as caught:
        TsaClient(
            httpx.Client(transport=httpx.MockTransport(down)), "https://tsa.example", backoff=0
        ).timestamp(IMPRINT, "sha256")
    assert caught.value.code == "http_503" and len(calls) == 3


def test_outside_sandbox_mode_the_tsa_must_be_configured(settings: Settings) -> None:
    with pytest.raises(TsaError):
        tsa_url(settings.model_copy(update={"sandbox": False}))
