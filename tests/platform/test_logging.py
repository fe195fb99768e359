"""Structured JSON logs with request ids; personal data never reaches a log line."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.platform.logging import drop_personal_data
from ihis.settings import Settings
from tests.factories import make_institution, make_staff
from tests.factories_patient import last_sms_code, make_consent, make_id_number, seed_person


@pytest.fixture
def captured_logs(app) -> Iterator[io.StringIO]:  # type: ignore[no-untyped-def]
    """Everything the app logs, at DEBUG, rendered exactly as in production (JSON lines)."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_processor_drops_personal_data_keys() -> None:
    event = {
        "event": "x",
        "phone": "13900000000",
        "patient_phone": "13900000000",
        "id_number": "11010519491231002X",
        "password": "secret",
        "address": "北京",
        "request_id": "abc",
        "count": 3,
    }
    assert drop_personal_data(None, "info", event) == {"event": "x", "request_id": "abc", "count": 3}


def test_log_lines_are_json_with_the_request_id(client: TestClient, captured_logs: io.StringIO) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "req-12345"})
    assert r.headers["x-request-id"] == "req-12345"
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    request_lines = [
        line for line in lines if line.get("event") == "request" and line.get("path") == "/healthz"
    ]
    assert request_lines and request_lines[0]["request_id"] == "req-12345"
    assert request_lines[0]["status_code"] == 200


def test_personal_data_of_real_flows_never_reaches_the_logs(
    client: TestClient, anon: TestClient, db: Session, settings: Settings, captured_logs: io.StringIO
) -> None:
    """Register by SMS code, sign consent, add a family member (authority call), fail a login,
    read the sandbox outbox as staff — then search every log line for the data used."""
    inst = make_institution(db)
    make_consent(db, inst)
    phone = "13712340987"
    name = "欧阳测试"
    id_number = make_id_number(dt.date(1980, 5, 6), male=False)
    visitor = seed_person(db, name, id_number, "13712340988")
    headers = {"X-IHIS-Institution": inst.code}
    password = "Patient-Secret-9"

    assert anon.post(
        "/api/v1/auth/sms-codes", json={"phone": phone, "purpose": "register"}, headers=headers
    ).is_success
    code = last_sms_code(db, phone)
    registered = client.post(
        "/api/v1/auth/patient/register",
        json={"phone": phone, "code": code, "password": password, "client": "web"},
        headers=headers,
    )
    assert registered.status_code in (200, 201), registered.text
    client.headers["X-CSRF-Token"] = client.cookies.get("ihis_csrf") or ""
    consent = client.get("/api/v1/me/consent").json()
    client.post(
        "/api/v1/me/consent",
        json={"document_id": consent["document"]["id"], "version": consent["document"]["version"]},
    )
    added = client.post("/api/v1/me/visitors", json={**visitor, "relation": "parent"})
    assert added.status_code == 201, added.text
    anon.post(
        "/api/v1/auth/patient/login", json={"phone": phone, "password": "Wrong-Password-1"}, headers=headers
    )
    ops = make_staff(db, inst, roles=["operations"])
    db.commit()
    from tests.factories import login_as

    staff_client = TestClient(client.app)
    login_as(staff_client, db, ops, settings)
    assert staff_client.get("/api/v1/admin/sandbox/sms", params={"phone": phone}).status_code == 200

    logs = captured_logs.getvalue()
    assert '"event": "request"' in logs  # the capture works
    for secret in (phone, phone[-8:], "13712340988", id_number, id_number[-8:], name, code, password):
        assert secret not in logs, f"personal data {secret!r} found in the logs"
    structlog.contextvars.clear_contextvars()
