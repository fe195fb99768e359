"""Sandbox real-name authority (实名核验 simulator) under ``/sandbox/realname/``.

It authenticates requests exactly as the gateway does (AppKey, timestamp window, nonce replay,
Content-MD5, HMAC-SHA256 signature) and answers from synthetic identities: the built-in
``SANDBOX_IDENTITIES`` plus whatever ``seed_sandbox_identities`` stored (the demo loader seeds
the demo patients and their families). A known ID number with another name answers "2", an
unknown ID number "3", a known pair with another mobile "4".

Failure injection: a mobile number starting with ``1990000`` gets HTTP 503 (the authority is
down), so the caller's 502 path can be exercised.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.integrations.realname import protocol
from ihis.integrations.realname.client import RealNameConfig
from ihis.integrations.realname.models import SandboxIdentity, SandboxRealnameRequest
from ihis.integrations.realname.protocol import Verdict
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db

router = APIRouter(prefix="/sandbox/realname", tags=["sandbox"], include_in_schema=False)

OUTAGE_PREFIX = "1990000"


@dataclass(frozen=True)
class Identity:
    name: str
    id_number: str
    phone: str


class IdentityLike(Protocol):
    """Anything with a name, an ID number and a phone (the demo's ``Person`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def id_number(self) -> str: ...
    @property
    def phone(self) -> str: ...


# Synthetic people (checksum-valid ID numbers; 139 0013 xxxx phones) always known to the sandbox.
SANDBOX_IDENTITIES: tuple[Identity, ...] = (
    Identity("王秀英", "11010519491231002X", "13900130001"),  # GB 11643's worked example; female
    Identity("李建国", "110105198005046032", "13900130002"),  # adult man
    Identity("陈静", "110105198609176049", "13900130003"),  # adult woman
    Identity("张子涵", "310104201203086073", "13900130004"),  # boy born 2012 (minor)
    Identity("刘一一", "310104202307016082", "13900130005"),  # girl born 2023 (under six)
    Identity("赵德明", "110108194801206114", "13900130006"),  # elderly man
    Identity("周晓雨", "44030519951111612X", "13900130007"),  # adult woman, X check character
)


def seed_sandbox_identities(db: Session, identities: Iterable[IdentityLike]) -> int:
    """Teach the sandbox authority these people (idempotent by ID number); returns how many were new."""
    added = 0
    now = utcnow()
    for person in identities:
        number = person.id_number.strip().upper()
        if db.scalar(select(SandboxIdentity.id).where(SandboxIdentity.id_number == number)) is not None:
            continue
        db.add(SandboxIdentity(name=person.name, id_number=number, phone=person.phone, created_at=now))
        db.flush()
        added += 1
    return added


def _known(db: Session, id_number: str) -> Identity | None:
    for person in SANDBOX_IDENTITIES:
        if person.id_number == id_number:
            return person
    row = db.scalar(select(SandboxIdentity).where(SandboxIdentity.id_number == id_number))
    return Identity(row.name, row.id_number, row.phone) if row is not None else None


def judge(db: Session, name: str, id_number: str, mobile: str) -> Verdict:
    """What the authority answers for this triple."""
    person = _known(db, id_number.strip().upper())
    if person is None:
        return Verdict.NO_RECORD
    if person.name != name.strip():
        return Verdict.NAME_ID_MISMATCH
    if person.phone != mobile.strip():
        return Verdict.MOBILE_MISMATCH
    return Verdict.MATCH


async def raw_body(request: Request) -> bytes:
    return await request.body()


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"message": reason}, status_code=status, headers={protocol.ERROR_HEADER: reason})


def _authenticate(request: Request, body: bytes, config: RealNameConfig, now_ms: int) -> JSONResponse | None:
    headers = request.headers
    if headers.get("x-ca-key") != config.app_key:
        return _refuse(403, "Invalid AppKey")
    if headers.get("x-ca-signature-method", "HmacSHA256") != protocol.SIGNATURE_METHOD:
        return _refuse(400, "Invalid Signature Method")
    try:
        stamp = int(headers.get("x-ca-timestamp", ""))
    except ValueError:
        return _refuse(400, "Invalid Timestamp")
    if abs(now_ms - stamp) > protocol.TIMESTAMP_TOLERANCE_MS:
        return _refuse(400, "Invalid Timestamp")
    if not headers.get("x-ca-nonce"):
        return _refuse(400, "Invalid Nonce")
    if headers.get("content-md5") != protocol.content_md5(body):
        return _refuse(400, "Invalid Content-MD5")
    text = protocol.string_to_sign(
        request.method, request.url.path, dict(headers), query=dict(request.query_params)
    )
    if not protocol.signature_matches(config.app_secret, text, headers.get("x-ca-signature", "")):
        return _refuse(400, "Invalid Signature")
    return None


@router.post(protocol.VERIFY_PATH)
def verify_three_factor(
    request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """Three-factor check against the synthetic identities (see the module docstring)."""
    now = utcnow()
    refused = _authenticate(
        request, body, RealNameConfig.from_settings(settings), int(now.timestamp() * 1000)
    )
    if refused is not None:
        return refused
    try:
        fields: Any = json.loads(body)
        name, id_number, mobile = (str(fields[k]) for k in ("name", "idNumber", "mobile"))
        biz_no = str(fields.get("bizNo") or "")[:64] or None
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"code": "4001", "message": "参数错误"}, status_code=400)
    outage = mobile.startswith(OUTAGE_PREFIX)
    verdict = None if outage else judge(db, name, id_number, mobile)
    order_no = f"RN{now:%Y%m%d%H%M%S}{secrets.token_hex(4).upper()}"
    try:
        with db.begin_nested():
            db.add(
                SandboxRealnameRequest(
                    nonce=request.headers["x-ca-nonce"][:64],
                    order_no=order_no,
                    biz_no=biz_no,
                    result=verdict.value if verdict else "unavailable",
                    received_at=now,
                )
            )
            db.flush()
    except IntegrityError:
        return _refuse(400, "Nonce Used")
    if verdict is None:
        return JSONResponse({"code": "5001", "message": "权威数据源暂不可用"}, status_code=503)
    return JSONResponse(
        {
            "code": protocol.CODE_SUCCESS,
            "message": "成功",
            "data": {"orderNo": order_no, "result": verdict.value, "desc": protocol.VERDICT_DESC[verdict]},
        }
    )
