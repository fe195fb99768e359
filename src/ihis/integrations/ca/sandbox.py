"""The sandbox hospital CA under ``/sandbox/ca/v1/...`` (sandbox mode only).

Speaks ``client.CloudCaClient``'s protocol: HMAC-authenticated JSON. It holds each signer's private
key wrapped under the PIN-derived key (``pki.wrap_key``); it never stores a PIN. Wrong PINs are
counted with guarded updates and lock signing for the configured minutes (DOMAIN §10 lockout).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.integrations.ca import authority, pki, protocol
from ihis.integrations.ca.client import CaConfig
from ihis.integrations.ca.config import signing_settings
from ihis.integrations.ca.models import SandboxCaSigner
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db
from ihis.settings import Settings

router = APIRouter(prefix="/sandbox/ca/v1", tags=["sandbox"], include_in_schema=False)
CERT_DAYS = 365 * 2
PIN_MIN, PIN_MAX = 6, 16


def _error(code: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, **extra}, status_code=status)


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


async def _authenticated_body(request: Request, settings: AppSettings) -> bytes:
    body = await request.body()
    config = CaConfig.from_settings(settings)
    h = request.headers
    timestamp = h.get(protocol.TIMESTAMP_HEADER, "")
    nonce = h.get(protocol.NONCE_HEADER, "")
    expected = protocol.request_signature(
        config.api_secret, request.method, request.url.path, timestamp, nonce, body
    )
    fresh = (
        timestamp.isdigit() and abs(int(timestamp) - utcnow().timestamp()) <= protocol.MAX_CLOCK_SKEW_SECONDS
    )
    if (
        h.get(protocol.KEY_HEADER) != config.api_key
        or not fresh
        or not nonce
        or not hmac.compare_digest(h.get(protocol.SIGNATURE_HEADER, ""), expected)
    ):
        raise _Refused(_error("signature_invalid", 401))
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise _Refused(_error("body_invalid", 400)) from None
    if not isinstance(data, dict):
        raise _Refused(_error("body_invalid", 400))
    return data


async def _payload(request: Request, settings: AppSettings) -> dict[str, Any] | JSONResponse:
    try:
        return _json(await _authenticated_body(request, settings))
    except _Refused as refused:
        return refused.response


Payload = Annotated[dict[str, Any] | JSONResponse, Depends(_payload)]


def _signer(db: Session, signer_ref: str) -> SandboxCaSigner:
    row = db.scalar(select(SandboxCaSigner).where(SandboxCaSigner.signer_ref == signer_ref))
    if row is None:
        raise _Refused(_error("signer_unknown", 404))
    return row


def _text(data: dict[str, Any], name: str, max_len: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise _Refused(_error(f"{name}_invalid", 400))
    return value.strip()


@router.post("/signers", status_code=201, response_model=None)
def enrol(payload: Payload, db: Db) -> JSONResponse | dict[str, str]:
    """Register a signer: no key and no certificate until the first PIN."""
    if isinstance(payload, JSONResponse):
        return payload
    try:
        kind = _text(payload, "kind", 16)
        if kind not in protocol.SIGNER_KINDS:
            raise _Refused(_error("kind_invalid", 400))
        row = SandboxCaSigner(
            signer_ref=pki.new_signer_ref(),
            kind=kind,
            name=_text(payload, "name", 100),
            staff_no=_text(payload, "staff_no", 64),
            institution_code=_text(payload, "institution_code", 64),
            institution_name=_text(payload, "institution_name", 200),
            status="pending_pin",
            failed_attempts=0,
            created_at=utcnow(),
        )
    except _Refused as refused:
        return refused.response
    db.add(row)
    db.flush()
    return {"signer_ref": row.signer_ref, "status": row.status}


def _pin_ok(pin: object) -> bool:
    return isinstance(pin, str) and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX


def _locked(row: SandboxCaSigner, now: dt.datetime) -> JSONResponse | None:
    if row.locked_until is not None and row.locked_until > now:
        return _error("pin_locked", 429, locked_until=row.locked_until.isoformat())
    return None


def _count_wrong_pin(db: Session, settings: Settings, row: SandboxCaSigner, now: dt.datetime) -> JSONResponse:
    conf = signing_settings(settings)
    seen = row.failed_attempts
    failed = seen + 1
    if failed >= conf.pin_max_attempts:
        until = now + dt.timedelta(minutes=conf.pin_lock_minutes)
        db.execute(
            update(SandboxCaSigner)
            .where(SandboxCaSigner.id == row.id, SandboxCaSigner.failed_attempts == seen)
            .values(failed_attempts=0, locked_until=until)
        )
        return _error("pin_locked", 429, locked_until=until.isoformat())
    db.execute(
        update(SandboxCaSigner)
        .where(SandboxCaSigner.id == row.id, SandboxCaSigner.failed_attempts == seen)
        .values(failed_attempts=failed)
    )
    return _error("pin_wrong", 403, remaining=conf.pin_max_attempts - failed)


def _certificate_answer(pem: str) -> dict[str, str]:
    cert = pki.load_cert(pem)
    return {
        "certificate_pem": pem,
        "serial_hex": format(cert.serial_number, "x"),
        "subject": pki.subject_text(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


@router.put("/signers/{signer_ref}/pin", response_model=None)
def set_pin(
    signer_ref: str, payload: Payload, db: Db, settings: AppSettings
) -> JSONResponse | dict[str, str]:
    """First PIN: make the key pair, wrap it, issue the certificate. Later: re-wrap (old PIN needed)."""
    if isinstance(payload, JSONResponse):
        return payload
    now = utcnow()
    try:
        row = _signer(db, signer_ref)
    except _Refused as refused:
        return refused.response
    new_pin, old_pin = payload.get("new_pin"), payload.get("old_pin")
    if not _pin_ok(new_pin):
        return _error("new_pin_invalid", 400)
    assert isinstance(new_pin, str)
    if row.status == "revoked":
        return _error("signer_revoked", 409)
    if row.status == "pending_pin":
        key = pki.new_key()
        root = authority.root(db)
        cert = pki.issue(
            root.key_pem,
            root.cert_pem,
            key.public_key(),
            common_name=row.name,
            organization=row.institution_name,
            staff_no=row.staff_no,
            now=now,
            days=CERT_DAYS,
        )
        pem = pki.cert_pem(cert)
        done = db.execute(
            update(SandboxCaSigner)
            .where(SandboxCaSigner.id == row.id, SandboxCaSigner.status == "pending_pin")
            .values(status="active", wrapped_key=pki.wrap_key(key, new_pin, row.signer_ref), cert_pem=pem)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return _error("pin_already_set", 409)
        return _certificate_answer(pem)
    if (locked := _locked(row, now)) is not None:
        return locked
    if not isinstance(old_pin, str) or row.wrapped_key is None:
        return _error("old_pin_required", 400)
    key_or_none = pki.unwrap_key(row.wrapped_key, old_pin, row.signer_ref)
    if key_or_none is None:
        return _count_wrong_pin(db, settings, row, now)
    db.execute(
        update(SandboxCaSigner)
        .where(SandboxCaSigner.id == row.id, SandboxCaSigner.wrapped_key == row.wrapped_key)
        .values(wrapped_key=pki.wrap_key(key_or_none, new_pin, row.signer_ref), failed_attempts=0)
    )
    assert row.cert_pem is not None
    return _certificate_answer(row.cert_pem)


@router.post("/signers/{signer_ref}/sign", response_model=None)
def sign(signer_ref: str, payload: Payload, db: Db, settings: AppSettings) -> JSONResponse | dict[str, str]:
    """Sign a digest once the PIN has opened the key."""
    if isinstance(payload, JSONResponse):
        return payload
    now = utcnow()
    try:
        row = _signer(db, signer_ref)
        digest = base64.b64decode(str(payload.get("digest", "")), validate=True)
    except _Refused as refused:
        return refused.response
    except (binascii.Error, ValueError):
        return _error("digest_invalid", 400)
    hash_name = payload.get("hash")
    if hash_name not in protocol.ALGORITHM_BY_HASH or len(digest) != 32:
        return _error("digest_invalid", 400)
    if row.status != "active" or row.wrapped_key is None or row.cert_pem is None:
        return _error("signer_revoked" if row.status == "revoked" else "pin_not_set", 409)
    if (locked := _locked(row, now)) is not None:
        return locked
    pin = payload.get("pin")
    key = pki.unwrap_key(row.wrapped_key, pin, row.signer_ref) if isinstance(pin, str) else None
    if key is None:
        return _count_wrong_pin(db, settings, row, now)
    if row.failed_attempts:
        db.execute(update(SandboxCaSigner).where(SandboxCaSigner.id == row.id).values(failed_attempts=0))
    assert isinstance(hash_name, str)
    return {
        "signature": base64.b64encode(pki.sign_digest(key, digest, hash_name)).decode(),
        "algorithm": protocol.ALGORITHM_BY_HASH[hash_name],
        "certificate_pem": row.cert_pem,
    }


@router.post("/signers/{signer_ref}/revoke", response_model=None)
def revoke(signer_ref: str, payload: Payload, db: Db) -> JSONResponse | dict[str, str]:
    """Revoke: the key is destroyed, the certificate stays on record."""
    if isinstance(payload, JSONResponse):
        return payload
    try:
        row = _signer(db, signer_ref)
    except _Refused as refused:
        return refused.response
    db.execute(
        update(SandboxCaSigner)
        .where(SandboxCaSigner.id == row.id, SandboxCaSigner.status != "revoked")
        .values(status="revoked", wrapped_key=None, revoked_at=utcnow())
    )
    return {"signer_ref": signer_ref, "status": "revoked"}


@router.get("/chain", response_model=None)
def chain(payload: Payload, db: Db) -> JSONResponse | dict[str, list[str]]:
    """The CA chain: the sandbox root only (end-entity certificates are issued by it directly)."""
    if isinstance(payload, JSONResponse):
        return payload
    return {"chain": [authority.root(db).cert_pem]}
