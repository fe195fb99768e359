"""Sandbox SMS provider: Alibaba Cloud's ``SendSms`` API served under ``/sandbox/sms/``.

It checks what the real provider checks (parameters, AccessKeyId, timestamp window, signature,
nonce replay, phone number, template and its parameters), stores each message it received in
``sandbox_sms_message`` and answers in the provider's JSON shape. Nothing leaves the process.

Failure injection by recipient number (documented in docs/patients-and-consent.md):

- ``1990000xxxx``: always ``isv.BUSINESS_LIMIT_CONTROL`` (the provider's per-number frequency
  control; permanent for that message, the client does not retry it);
- ``1990001xxxx``: the first request of each ``OutId`` gets HTTP 503 ``ServiceUnavailable``, the
  next one succeeds (exercises the client's retry);
- ``1990002xxxx``: always HTTP 503 ``ServiceUnavailable`` (an outage: the client gives up and
  the outbox retries the message later, then dead-letters it).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.integrations.sms import protocol, templates
from ihis.integrations.sms.client import SmsConfig
from ihis.integrations.sms.models import SandboxSmsMessage
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db

router = APIRouter(prefix="/sandbox/sms", tags=["sandbox"], include_in_schema=False)

HOST_ID = "dysmsapi.aliyuncs.com"
MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
ALWAYS_LIMITED_PREFIX = "1990000"
FAIL_ONCE_PREFIX = "1990001"
ALWAYS_DOWN_PREFIX = "1990002"
MAX_PHONES = 1000
_REQUIRED = (
    "AccessKeyId",
    "Action",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
)


async def request_params(request: Request) -> dict[str, str]:
    """Query-string and form parameters (the RPC API accepts either, or both)."""
    params = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _answer(code: str, message: str, status: int = 200, **extra: str) -> JSONResponse:
    body = {"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message, **extra}
    if code != protocol.CODE_OK:
        body["HostId"] = HOST_ID
    return JSONResponse(body, status_code=status)


def _check_envelope(method: str, params: dict[str, str], config: SmsConfig) -> JSONResponse | None:
    """The RPC gateway's checks, in the provider's order; None when the request is authentic."""
    for name in _REQUIRED:
        if not params.get(name):
            return _answer(
                protocol.CODE_MISSING_PARAMETER,
                f'The input parameter "{name}" that is mandatory for processing this request is not '
                "supplied.",
                400,
            )
    if params["Version"] != protocol.API_VERSION:
        return _answer("InvalidVersion", "Specified parameter Version is not valid.", 400)
    if params["Action"] != protocol.ACTION_SEND_SMS:
        return _answer(
            "InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404
        )
    if params["SignatureMethod"] != protocol.SIGNATURE_METHOD or params["SignatureVersion"] != "1.0":
        return _answer("InvalidSignatureMethod", "Specified signature method is not supported.", 400)
    if params["AccessKeyId"] != config.access_key_id:
        return _answer(protocol.CODE_ACCESS_KEY_NOT_FOUND, "Specified access key is not found.", 404)
    stamp = protocol.parse_timestamp(params["Timestamp"])
    if stamp is None:
        return _answer(
            "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400
        )
    if abs(utcnow() - stamp) > protocol.TIMESTAMP_TOLERANCE:
        return _answer(protocol.CODE_TIMESTAMP_EXPIRED, "Specified time stamp or date value is expired.", 400)
    if not protocol.signature_matches(method, params, config.access_key_secret):
        return _answer(
            protocol.CODE_SIGNATURE_MISMATCH, "Specified signature is not matched with our calculation.", 400
        )
    return None


def _check_message(
    params: dict[str, str],
) -> tuple[list[str], templates.SmsTemplate, dict[str, str]] | JSONResponse:
    phones = [p.strip() for p in params.get("PhoneNumbers", "").split(",") if p.strip()]
    if not phones:
        return _answer(
            protocol.CODE_MISSING_PARAMETER, 'The input parameter "PhoneNumbers" is not supplied.', 400
        )
    if len(phones) > MAX_PHONES or not all(MOBILE.match(p) for p in phones):
        return _answer(protocol.CODE_MOBILE_ILLEGAL, "非法手机号")
    if not params.get("SignName"):
        return _answer(protocol.CODE_SIGN_ILLEGAL, "该账号下找不到对应签名")
    template = templates.template_by_code(params.get("TemplateCode", ""))
    if template is None:
        return _answer(protocol.CODE_TEMPLATE_ILLEGAL, "该账号下找不到对应模板")
    try:
        values: Any = json.loads(params.get("TemplateParam") or "{}")
    except ValueError:
        return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
    try:
        templates.check_params(template, values)
    except templates.TemplateParamsInvalid:
        return _answer(protocol.CODE_TEMPLATE_PARAMS, "模板缺少变量")
    return [p.removeprefix("+").removeprefix("86") if len(p) > 11 else p for p in phones], template, values


def _injected_failure(db: Session, phone: str, out_id: str | None) -> tuple[str, int] | None:
    if phone.startswith(ALWAYS_LIMITED_PREFIX):
        return protocol.CODE_BUSINESS_LIMIT, 200
    if phone.startswith(ALWAYS_DOWN_PREFIX):
        return protocol.CODE_SERVICE_UNAVAILABLE, 503
    if phone.startswith(FAIL_ONCE_PREFIX):
        failed_before = db.scalar(
            select(SandboxSmsMessage.id).where(
                SandboxSmsMessage.phone == phone,
                SandboxSmsMessage.out_id == out_id,
                SandboxSmsMessage.code == protocol.CODE_SERVICE_UNAVAILABLE,
            )
        )
        if failed_before is None:
            return protocol.CODE_SERVICE_UNAVAILABLE, 503
    return None


_FAILURE_MESSAGES = {
    protocol.CODE_BUSINESS_LIMIT: "触发号码天级流控Permits:10",
    protocol.CODE_SERVICE_UNAVAILABLE: "The request has failed due to a temporary failure of the server.",
}


@router.api_route("/", methods=["GET", "POST"])
def send_sms(
    request: Request,
    params: Annotated[dict[str, str], Depends(request_params)],
    db: Db,
    settings: AppSettings,
) -> JSONResponse:
    """``SendSms``: verify, store, answer (or fail on purpose, see the module docstring)."""
    refused = _check_envelope(request.method, params, SmsConfig.from_settings(settings))
    if refused is not None:
        return refused
    checked = _check_message(params)
    if isinstance(checked, JSONResponse):
        return checked
    phones, template, values = checked
    out_id = params.get("OutId") or None
    failure = _injected_failure(db, phones[0], out_id)
    code = failure[0] if failure else protocol.CODE_OK
    biz_id = None if failure else f"{secrets.randbelow(10**15):015d}^0"
    text = f"【{params['SignName']}】{templates.render(template, values)}"
    now = utcnow()
    try:
        with db.begin_nested():
            for phone in phones:
                db.add(
                    SandboxSmsMessage(
                        phone=phone,
                        sign_name=params["SignName"],
                        template_code=template.value,
                        params=json.dumps(values, ensure_ascii=False),
                        text=text,
                        out_id=out_id,
                        biz_id=biz_id,
                        request_id=str(uuid.uuid4()).upper(),
                        nonce=params["SignatureNonce"],
                        code=code,
                        received_at=now,
                    )
                )
            db.flush()
    except IntegrityError:
        return _answer(protocol.CODE_NONCE_USED, "Specified signature nonce was used already.", 400)
    if failure:
        return _answer(code, _FAILURE_MESSAGES[code], failure[1])
    assert biz_id is not None
    return _answer(protocol.CODE_OK, "OK", BizId=biz_id)
