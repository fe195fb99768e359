"""The CA adapter against the sandbox hospital CA over HTTP (through the app), and its retries."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from cryptography import x509
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ihis.integrations.ca import pki
from ihis.integrations.ca.client import CaConfig, CaNotConfigured, CloudCaClient
from ihis.integrations.ca.protocol import CaRejected, CaUnavailable, SignerSubject, WrongPin
from ihis.settings import Settings
from tests.factories_signing import mount_signing

SUBJECT = SignerSubject("doctor", "王医生", "D0007", "H0001", "测试医院")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return mount_signing(app)


@pytest.fixture
def ca(client: TestClient, settings: Settings) -> CloudCaClient:
    return CloudCaClient(client, CaConfig.from_settings(settings), backoff=0)


def test_enrol_set_pin_sign_and_chain_over_http(ca: CloudCaClient) -> None:
    enrolment = ca.enrol(SUBJECT)
    assert enrolment.status == "pending_pin" and enrolment.signer_ref.startswith("sgn_")
    with pytest.raises(CaRejected) as not_yet:
        ca.sign_digest(enrolment.signer_ref, b"\x01" * 32, "sha256", "246810")
    assert not_yet.value.code == "pin_not_set"
    issued = ca.set_pin(enrolment.signer_ref, "246810", None)
    cert = pki.load_cert(issued.certificate_pem)
    assert issued.serial_hex == format(cert.serial_number, "x") and "CN=王医生" in issued.subject
    root = pki.load_cert(ca.certificate_chain()[-1])
    assert pki.issued_by(cert, root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    digest = hashlib.sha256(b"record").digest()
    signed = ca.sign_digest(enrolment.signer_ref, digest, "sha256", "246810")
    assert signed.algorithm == "ecdsa-p256-sha256"
    assert pki.verify_digest(cert, signed.signature, digest, "sha256")
    with pytest.raises(WrongPin) as wrong:
        ca.sign_digest(enrolment.signer_ref, digest, "sha256", "111112")
    assert wrong.value.remaining == 4


def test_the_first_pin_cannot_be_set_twice_and_a_change_needs_the_old_pin(ca: CloudCaClient) -> None:
    ref = ca.enrol(SUBJECT).signer_ref
    ca.set_pin(ref, "246810", None)
    with pytest.raises(CaRejected) as missing:
        ca.set_pin(ref, "135792", None)
    assert missing.value.code == "old_pin_required"
    with pytest.raises(WrongPin):
        ca.set_pin(ref, "135792", "000001")
    ca.set_pin(ref, "135792", "246810")
    ca.sign_digest(ref, b"\x02" * 32, "sha256", "135792")


def test_revocation_destroys_the_key(ca: CloudCaClient) -> None:
    ref = ca.enrol(SUBJECT).signer_ref
    ca.set_pin(ref, "246810", None)
    ca.revoke(ref, "left the hospital")
    with pytest.raises(CaRejected) as caught:
        ca.sign_digest(ref, b"\x03" * 32, "sha256", "246810")
    assert caught.value.code == "signer_revoked"


def test_requests_with_a_bad_signature_or_none_are_refused(client: TestClient, settings: Settings) -> None:
    config = CaConfig.from_settings(settings)
    forged = CloudCaClient(client, CaConfig(config.endpoint, config.api_key, "not-the-secret"), backoff=0)
    with pytest.raises(CaRejected) as caught:
        forged.enrol(SUBJECT)
    assert caught.value.code == "signature_invalid" and caught.value.status == 401
    bare = client.post("/sandbox/ca/v1/signers", json={"kind": "doctor"})
    assert bare.status_code == 401


def test_bad_enrolment_input_is_refused(ca: CloudCaClient) -> None:
    with pytest.raises(CaRejected) as caught:
        ca.enrol(SignerSubject("janitor", "x", "1", "H", "医院"))
    assert caught.value.code == "kind_invalid"


def _counting(statuses: list[int | Exception]) -> tuple[httpx.Client, list[str]]:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        outcome = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == 200:
            return httpx.Response(200, json={"signer_ref": "sgn_x", "status": "pending_pin"})
        return httpx.Response(outcome, json={"code": "busy" if outcome >= 500 else "kind_invalid"})

    return httpx.Client(transport=httpx.MockTransport(handler)), calls


def test_5xx_and_timeouts_are_retried_under_one_idempotency_key() -> None:
    http, calls = _counting([503, httpx.ReadTimeout("slow"), 200])
    client = CloudCaClient(http, CaConfig("https://ca.example", "k", "s"), backoff=0)
    assert client.enrol(SUBJECT).signer_ref == "sgn_x"
    assert len(calls) == 3 and len(set(calls)) == 1


def test_persistent_failure_is_unavailable_and_4xx_is_not_retried() -> None:
    http, calls = _counting([502])
    with pytest.raises(CaUnavailable):
        CloudCaClient(http, CaConfig("https://ca.example", "k", "s"), backoff=0).enrol(SUBJECT)
    assert len(calls) == 3
    http, calls = _counting([400])
    with pytest.raises(CaRejected):
        CloudCaClient(http, CaConfig("https://ca.example", "k", "s"), backoff=0).enrol(SUBJECT)
    assert len(calls) == 1


def test_outside_sandbox_mode_the_ca_must_be_configured(settings: Settings) -> None:
    with pytest.raises(CaNotConfigured):
        CaConfig.from_settings(settings.model_copy(update={"sandbox": False}))


def test_the_request_signature_covers_method_path_and_body() -> None:
    from ihis.integrations.ca.protocol import request_signature

    base = request_signature("s", "POST", "/v1/signers", "1", "n", b"{}")
    assert base != request_signature("s", "PUT", "/v1/signers", "1", "n", b"{}")
    assert base != request_signature("s", "POST", "/v1/other", "1", "n", b"{}")
    assert base != request_signature("s", "POST", "/v1/signers", "1", "n", b"{ }")
    assert len(base64.b64decode(base)) == 32
