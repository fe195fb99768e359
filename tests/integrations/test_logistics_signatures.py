"""The courier's pushes and our calls are authenticated both ways: HMAC signature, timestamp
window, single-use nonce; anything else is refused (401 problem+json, a security event)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.integrations.logistics import signing
from ihis.integrations.logistics.client import HttpCourierClient
from ihis.integrations.logistics.config import NOTIFY_PATH, CourierConfig
from ihis.integrations.logistics.protocol import CourierError
from ihis.platform.audit import AuditEvent
from ihis.platform.jobs import runtime
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_logistics import book, logistics_app, signed_push  # noqa: F401


def _event(waybill_no: str, event_id: str = "E1", status: str = "picked_up") -> dict[str, str]:
    return {
        "event_id": event_id,
        "waybill_no": waybill_no,
        "status": status,
        "occurred_at": "2026-11-21T10:00:00+08:00",
        "location": "北京",
        "description": "已揽收",
    }


@pytest.fixture
def waybill_no(app, database, db: Session) -> str:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    db.commit()
    shipment = book(database, inst.id)
    assert shipment.waybill_no
    return shipment.waybill_no


def test_a_signed_push_is_taken_with_the_couriers_success_body(
    client: TestClient, settings: Settings, waybill_no: str
) -> None:
    body, headers = signed_push(settings, [_event(waybill_no)])
    answer = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert answer.status_code == 200 and answer.json() == {"code": "OK", "message": "success"}


def test_a_push_signed_with_another_secret_is_refused_and_audited(
    client: TestClient, settings: Settings, db: Session, waybill_no: str
) -> None:
    body, headers = signed_push(settings, [_event(waybill_no)], secret="not-the-notify-secret")
    answer = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["reason"] == "signature_mismatch"
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "logistics.notify.rejected")).all()
    assert [a.outcome for a in audited] == ["denied"]


def test_a_push_whose_body_was_altered_is_refused(
    client: TestClient, settings: Settings, waybill_no: str
) -> None:
    body, headers = signed_push(settings, [_event(waybill_no)])
    answer = client.post(NOTIFY_PATH, content=body.replace(b"picked_up", b"delivered"), headers=headers)
    assert answer.status_code == 401


def test_a_push_with_a_stale_timestamp_is_refused(
    client: TestClient, settings: Settings, waybill_no: str
) -> None:
    config = CourierConfig.from_settings(settings)
    body, headers = signed_push(settings, [_event(waybill_no)])
    stale = str(int(time.time()) - signing.TIMESTAMP_TOLERANCE_SECONDS - 5)
    nonce = headers[signing.NONCE_HEADER]
    headers[signing.TIMESTAMP_HEADER] = stale
    headers[signing.SIGNATURE_HEADER] = signing.signature(
        config.notify_secret, "POST", NOTIFY_PATH, stale, nonce, body.decode()
    )
    answer = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert answer.status_code == 401 and answer.json()["reason"] == "timestamp_out_of_window"


def test_a_replayed_push_is_refused(client: TestClient, settings: Settings, waybill_no: str) -> None:
    body, headers = signed_push(settings, [_event(waybill_no)])
    assert client.post(NOTIFY_PATH, content=body, headers=headers).status_code == 200
    again = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert again.status_code == 401 and again.json()["reason"] == "nonce_replayed"


def test_an_unsigned_push_is_refused(client: TestClient, waybill_no: str) -> None:
    answer = client.post(NOTIFY_PATH, json={"events": [_event(waybill_no)]})
    assert answer.status_code == 401 and answer.json()["reason"] == "signature_headers_missing"


def test_a_malformed_signed_push_names_the_field(
    client: TestClient, settings: Settings, waybill_no: str
) -> None:
    body, headers = signed_push(settings, [{**_event(waybill_no), "status": "teleported"}])
    answer = client.post(NOTIFY_PATH, content=body, headers=headers)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["body.events"]


def test_an_event_time_without_offset_is_refused(
    client: TestClient, settings: Settings, waybill_no: str
) -> None:
    body, headers = signed_push(settings, [{**_event(waybill_no), "occurred_at": "2026-11-21T10:00:00"}])
    assert client.post(NOTIFY_PATH, content=body, headers=headers).status_code == 422


def test_the_sandbox_courier_refuses_a_client_with_the_wrong_secret(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = CourierConfig.from_settings(settings)
    forged = HttpCourierClient(runtime().http, config.__class__(**{**config.__dict__, "app_secret": "guess"}))
    with pytest.raises(CourierError) as refused:
        forged.query_tracking("SX000000000001")
    assert refused.value.code == "signature_rejected" and not refused.value.retryable


def test_the_sandbox_courier_refuses_a_replayed_request(client: TestClient, settings: Settings) -> None:
    config = CourierConfig.from_settings(settings)
    path = "/sandbox/courier/api/waybills/SX1/events"
    headers = signing.signed_headers(config.app_id, config.app_secret, "GET", path, "")
    assert client.get(path, headers=headers).status_code == 404  # authentic: the waybill is unknown
    again = client.get(path, headers=headers)
    assert again.status_code == 401 and again.json() == {"code": "SIGN_ERROR", "message": "nonce_replayed"}


def test_each_client_attempt_is_signed_afresh_and_only_retryable_failures_are_retried(
    settings: Settings,
) -> None:
    config = CourierConfig.from_settings(settings)
    seen: list[str] = []

    def courier(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers[signing.NONCE_HEADER])
        if len(seen) == 1:
            return httpx.Response(503, json={"code": "SYSTEM_BUSY", "message": "busy"})
        return httpx.Response(200, json={"code": "OK", "data": {"events": []}})

    client = HttpCourierClient(
        httpx.Client(transport=httpx.MockTransport(courier)), config, sleep=lambda _: None
    )
    assert client.query_tracking("SX1") == []
    assert len(seen) == 2 and seen[0] != seen[1]

    def refusing(request: httpx.Request) -> httpx.Response:
        seen.append("refused")
        return httpx.Response(400, json={"code": "PARAM_ERROR", "message": "bad"})

    seen.clear()
    client = HttpCourierClient(
        httpx.Client(transport=httpx.MockTransport(refusing)), config, sleep=lambda _: None
    )
    with pytest.raises(CourierError) as refused:
        client.query_tracking("SX1")
    assert refused.value.code == "param_error" and not refused.value.retryable and seen == ["refused"]


def test_a_transport_failure_is_a_retryable_courier_error(settings: Settings) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = HttpCourierClient(
        httpx.Client(transport=httpx.MockTransport(down)),
        CourierConfig.from_settings(settings),
        sleep=lambda _: None,
    )
    with pytest.raises(CourierError) as failed:
        client.query_tracking("SX1")
    assert failed.value.retryable and failed.value.code == "transport:ConnectError"


def test_production_without_courier_settings_is_not_configured() -> None:
    with pytest.raises(CourierError) as missing:
        CourierConfig.from_settings(Settings(sandbox=False))
    assert missing.value.code == "not_configured"
    assert dt  # aware datetimes are parsed by the client (see test_logistics_shipments)
