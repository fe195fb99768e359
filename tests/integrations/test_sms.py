"""SMS adapter: Alibaba Cloud SendSms signing, the sandbox provider's checks and failure injection,
delivery through the outbox after commit, and the sandbox console."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.integrations.sms import jobs as sms_jobs
from ihis.integrations.sms import protocol
from ihis.integrations.sms.client import DEV_ACCESS_KEY_ID, DEV_ACCESS_KEY_SECRET, AliyunSmsClient, SmsConfig
from ihis.integrations.sms.protocol import SmsRejected, SmsUnavailable
from ihis.integrations.sms.service import TOPIC, queue_sms
from ihis.integrations.sms.templates import SmsTemplate, TemplateParamsInvalid, render
from ihis.platform.outbox import OutboxMessage
from ihis.settings import Settings
from tests.factories import login_as, make_institution, make_staff
from tests.factories_patient import new_phone, sandbox_messages


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sms_jobs, "CLIENT_BACKOFF_SECONDS", 0.0)
    yield


def _client(
    http: TestClient, *, key: str = DEV_ACCESS_KEY_ID, secret: str = DEV_ACCESS_KEY_SECRET
) -> AliyunSmsClient:
    config = SmsConfig("http://testserver/sandbox/sms", key, secret, "互联网医院")
    return AliyunSmsClient(http, config, attempts=3, backoff_seconds=0.0)


# --- the signature ---------------------------------------------------------------------------


def test_signature_matches_the_providers_published_example() -> None:
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert protocol.signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_percent_encoding_follows_rfc3986_as_the_provider_specifies() -> None:
    assert protocol.percent_encode("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert protocol.percent_encode("短信") == "%E7%9F%AD%E4%BF%A1"


def test_each_attempt_is_signed_with_a_fresh_nonce(client: TestClient) -> None:
    sms = _client(client)
    a = sms.signed_params("13900000001", "SMS_IHIS_LOGIN_CODE", {"code": "123456"}, "o1")
    b = sms.signed_params("13900000001", "SMS_IHIS_LOGIN_CODE", {"code": "123456"}, "o1")
    assert a["SignatureNonce"] != b["SignatureNonce"]
    assert protocol.signature_matches("POST", a, DEV_ACCESS_KEY_SECRET)


# --- the sandbox provider --------------------------------------------------------------------


def test_sandbox_accepts_a_signed_request_and_stores_the_rendered_text(
    client: TestClient, db: Session
) -> None:
    phone = new_phone()
    receipt = _client(client).send(phone, "SMS_IHIS_LOGIN_CODE", {"code": "654321"}, out_id="out-1")
    assert receipt.biz_id.endswith("^0") and receipt.request_id
    [row] = sandbox_messages(db, phone)
    assert row.code == "OK" and row.out_id == "out-1" and row.biz_id == receipt.biz_id
    assert row.text == "【互联网医院】" + render(SmsTemplate.LOGIN_CODE, {"code": "654321"})
    assert json.loads(row.params) == {"code": "654321"}


def test_sandbox_rejects_a_wrong_signature(client: TestClient, db: Session) -> None:
    phone = new_phone()
    with pytest.raises(SmsRejected) as caught:
        _client(client, secret="not-the-secret").send(phone, "SMS_IHIS_LOGIN_CODE", {"code": "1"}, out_id="x")
    assert caught.value.code == protocol.CODE_SIGNATURE_MISMATCH and caught.value.http_status == 400
    assert sandbox_messages(db, phone) == []


def test_sandbox_rejects_tampered_parameters(client: TestClient, db: Session) -> None:
    params = _client(client).signed_params(new_phone(), "SMS_IHIS_LOGIN_CODE", {"code": "111111"}, "o")
    params["TemplateParam"] = '{"code":"999999"}'
    r = client.post("/sandbox/sms/", data=params)
    assert r.status_code == 400 and r.json()["Code"] == "SignatureDoesNotMatch"


def test_sandbox_rejects_an_unknown_access_key(client: TestClient) -> None:
    with pytest.raises(SmsRejected) as caught:
        _client(client, key="LTAIunknown").send(new_phone(), "SMS_IHIS_LOGIN_CODE", {"code": "1"}, out_id="x")
    assert caught.value.code == protocol.CODE_ACCESS_KEY_NOT_FOUND


def test_sandbox_rejects_a_replayed_nonce(client: TestClient) -> None:
    params = _client(client).signed_params(new_phone(), "SMS_IHIS_LOGIN_CODE", {"code": "111111"}, "o")
    assert client.post("/sandbox/sms/", data=params).json()["Code"] == "OK"
    replay = client.post("/sandbox/sms/", data=params)
    assert replay.status_code == 400 and replay.json()["Code"] == protocol.CODE_NONCE_USED


def test_sandbox_rejects_a_stale_timestamp(client: TestClient) -> None:
    sms = _client(client)
    params = sms.signed_params(new_phone(), "SMS_IHIS_LOGIN_CODE", {"code": "111111"}, "o")
    params["Timestamp"] = "2017-07-12T02:42:19Z"
    params["Signature"] = protocol.signature("POST", params, DEV_ACCESS_KEY_SECRET)
    r = client.post("/sandbox/sms/", data=params)
    assert r.status_code == 400 and r.json()["Code"] == protocol.CODE_TIMESTAMP_EXPIRED


def test_sandbox_reports_missing_parameters_and_accepts_get(client: TestClient) -> None:
    r = client.get("/sandbox/sms/", params={"Action": "SendSms"})
    assert r.status_code == 400 and r.json()["Code"] == "MissingParameter"
    sms = _client(client)
    params = sms.signed_params(new_phone(), "SMS_IHIS_LOGIN_CODE", {"code": "111111"}, "o")
    params["Signature"] = protocol.signature("GET", params, DEV_ACCESS_KEY_SECRET)
    assert client.get("/sandbox/sms/", params=params).json()["Code"] == "OK"


@pytest.mark.parametrize(
    ("phone", "template", "params", "code"),
    [
        ("12345", "SMS_IHIS_LOGIN_CODE", {"code": "1"}, protocol.CODE_MOBILE_ILLEGAL),
        ("13900000001", "SMS_UNKNOWN", {"code": "1"}, protocol.CODE_TEMPLATE_ILLEGAL),
        ("13900000001", "SMS_IHIS_LOGIN_CODE", {}, protocol.CODE_TEMPLATE_PARAMS),
    ],
)
def test_sandbox_refuses_bad_messages_like_the_provider(
    client: TestClient, phone: str, template: str, params: dict[str, str], code: str
) -> None:
    with pytest.raises(SmsRejected) as caught:
        _client(client).send(phone, template, params, out_id="x")
    assert caught.value.code == code


def test_business_limit_injection_is_a_permanent_refusal(client: TestClient, db: Session) -> None:
    phone = "19900001234"
    with pytest.raises(SmsRejected) as caught:
        _client(client).send(phone, "SMS_IHIS_LOGIN_CODE", {"code": "123456"}, out_id="x")
    assert caught.value.code == protocol.CODE_BUSINESS_LIMIT
    assert [m.code for m in sandbox_messages(db, phone)] == [protocol.CODE_BUSINESS_LIMIT]  # not retried


def test_provider_failure_is_retried_and_then_succeeds(client: TestClient, db: Session) -> None:
    phone = "19900011234"
    receipt = _client(client).send(phone, "SMS_IHIS_LOGIN_CODE", {"code": "123456"}, out_id="retry-me")
    assert receipt.biz_id
    assert [m.code for m in sandbox_messages(db, phone)] == ["ServiceUnavailable", "OK"]


def test_provider_outage_gives_up_after_the_attempts(client: TestClient, db: Session) -> None:
    phone = "19900021234"
    with pytest.raises(SmsUnavailable):
        _client(client).send(phone, "SMS_IHIS_LOGIN_CODE", {"code": "123456"}, out_id="x")
    assert [m.code for m in sandbox_messages(db, phone)] == ["ServiceUnavailable"] * 3


# --- queue_sms and the outbox ----------------------------------------------------------------


def test_queued_sms_is_delivered_after_commit_and_stored_encrypted(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    phone = new_phone()
    queue_sms(db, inst.id, phone, "qualification_approved", {"name": "张医生"})
    row = db.scalar(select(OutboxMessage).where(OutboxMessage.topic == TOPIC))
    assert row is not None and phone not in row.payload and "张医生" not in row.payload
    assert sandbox_messages(db, phone) == []  # nothing before commit
    db.commit()
    [message] = sandbox_messages(db, phone)
    assert message.template_code == SmsTemplate.QUALIFICATION_APPROVED.value and "张医生您好" in message.text
    db.refresh(row)
    assert row.status == "done"


def test_queued_sms_is_dropped_with_a_rolled_back_transaction(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    db.commit()
    phone = new_phone()
    with db.begin_nested():
        queue_sms(db, inst.id, phone, SmsTemplate.NOTICE, {"content": "测试通知"})
        db.rollback()
    db.commit()
    assert sandbox_messages(db, phone) == []


def test_queue_sms_refuses_parameters_that_do_not_fit_the_template(db: Session) -> None:
    with pytest.raises(TemplateParamsInvalid):
        queue_sms(db, 1, new_phone(), SmsTemplate.QUALIFICATION_REJECTED, {"name": "张医生"})
    with pytest.raises(TemplateParamsInvalid):
        queue_sms(db, 1, new_phone(), SmsTemplate.LOGIN_CODE, {"code": "1" * 36})


def test_outbox_delivery_retries_a_provider_blip_inside_one_attempt(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    phone = "19900015678"
    queue_sms(db, inst.id, phone, SmsTemplate.NOTICE, {"content": "复诊提醒"})
    db.commit()
    assert [m.code for m in sandbox_messages(db, phone)] == ["ServiceUnavailable", "OK"]
    row = db.scalar(
        select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id.desc())
    )
    assert row is not None and row.status == "done" and row.attempts == 1


def test_outbox_keeps_a_message_for_later_when_the_provider_is_down(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    phone = "19900025678"
    queue_sms(db, inst.id, phone, SmsTemplate.NOTICE, {"content": "复诊提醒"})
    db.commit()
    row = db.scalar(
        select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id.desc())
    )
    assert row is not None
    db.refresh(row)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error is not None and "SmsUnavailable" in row.last_error and phone not in row.last_error


def test_outbox_drops_a_permanently_refused_message(client: TestClient, db: Session) -> None:
    inst = make_institution(db)
    phone = "19900005678"
    queue_sms(db, inst.id, phone, SmsTemplate.NOTICE, {"content": "复诊提醒"})
    db.commit()
    row = db.scalar(
        select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id.desc())
    )
    assert row is not None
    db.refresh(row)
    assert row.status == "done"
    assert [m.code for m in sandbox_messages(db, phone)] == [protocol.CODE_BUSINESS_LIMIT]


def test_production_settings_without_credentials_do_not_send(settings: Settings) -> None:
    from ihis.integrations.sms.client import SmsNotConfigured

    with pytest.raises(SmsNotConfigured):
        SmsConfig.from_settings(settings.model_copy(update={"sandbox": False}))
    configured = settings.model_copy(
        update={
            "sandbox": False,
            "sms_api_url": "https://dysmsapi.aliyuncs.com",
            "sms_api_key": SecretStr("LTAIreal"),
            "sms_api_secret": SecretStr("real-secret"),
        }
    )
    assert SmsConfig.from_settings(configured).endpoint == "https://dysmsapi.aliyuncs.com"


def test_no_phone_or_code_reaches_the_logs(
    client: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    inst = make_institution(db)
    db.commit()
    phone = new_phone()
    client.post(
        "/api/v1/auth/sms-codes", json={"phone": phone, "purpose": "register", "institution_code": inst.code}
    )
    [message] = sandbox_messages(db, phone)
    code = message.text.split("验证码为")[1][:6]
    logged = caplog.text + "\n".join(str(r.msg) for r in caplog.records)
    assert "sms_sent" in logged
    assert phone not in logged and code not in logged


# --- the console -----------------------------------------------------------------------------


def test_console_lists_sandbox_messages_for_operations_and_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    inst = make_institution(db)
    phone, other = new_phone(), new_phone()
    for p in (phone, other):
        queue_sms(db, inst.id, p, SmsTemplate.NOTICE, {"content": "您好"})
    db.commit()
    for role in ("operations", "it_admin"):
        login_as(client, db, make_staff(db, inst, roles=[role]), settings)
        r = client.get("/api/v1/admin/sandbox/sms", params={"phone": phone})
        assert r.status_code == 200
        assert [m["phone"] for m in r.json()] == [phone]
        assert r.json()[0]["text"] == "【互联网医院】您好"
    everything = client.get("/api/v1/admin/sandbox/sms", params={"limit": 2}).json()
    assert [m["phone"] for m in everything] == [other, phone]


def test_console_refuses_anonymous_and_other_roles(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    assert anon.get("/api/v1/admin/sandbox/sms").status_code == 401
    inst = make_institution(db)
    for role in ("doctor", "auditor"):
        login_as(client, db, make_staff(db, inst, roles=[role]), settings)
        assert client.get("/api/v1/admin/sandbox/sms").status_code == 403
    from tests.factories import make_patient

    login_as(client, db, make_patient(db, inst), settings)
    assert client.get("/api/v1/admin/sandbox/sms").status_code == 403


def test_console_validates_its_query(client: TestClient, db: Session, settings: Settings) -> None:
    inst = make_institution(db)
    login_as(client, db, make_staff(db, inst, roles=["operations"]), settings)
    r = client.get("/api/v1/admin/sandbox/sms", params={"phone": "abc", "limit": 0})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"query.phone", "query.limit"}


def test_console_and_sandboxes_do_not_exist_outside_sandbox_mode(settings: Settings, database) -> None:  # type: ignore[no-untyped-def]
    from ihis.app import create_app

    app = create_app(settings.model_copy(update={"sandbox": False}), database=database)
    with TestClient(app) as c:
        assert c.get("/api/v1/admin/sandbox/sms").status_code == 404
        assert c.post("/sandbox/sms/", data={}).status_code == 404
        assert c.post("/sandbox/realname/v1/identity/three-factor", content=b"{}").status_code == 404


def test_console_outbox_shows_the_verification_code_of_a_code_message(
    client: TestClient, anon: TestClient, db: Session, settings: Settings
) -> None:
    """Demo users and the browser tests read codes here; the provider answer is a separate field."""
    inst = make_institution(db)
    ops = make_staff(db, inst, roles=["operations"])
    db.commit()
    sent = anon.post(
        "/api/v1/auth/sms-codes",
        json={"phone": "13900001234", "purpose": "register"},
        headers={"X-IHIS-Institution": inst.code},
    )
    assert sent.status_code in (200, 202), sent.text
    login_as(client, db, ops, settings)
    rows = client.get("/api/v1/admin/sandbox/sms", params={"phone": "13900001234"}).json()
    assert rows and rows[0]["code"] == "OK"
    code = rows[0]["verification_code"]
    assert code is not None and len(code) == 6 and code.isdigit() and code in rows[0]["text"]
