"""Sandbox partner supplier under ``/sandbox/supplier/`` (demo and tests only).

It authenticates requests exactly as ``protocol`` says (app id, timestamp window, nonce replay,
HMAC-SHA256 signature over the body's hash), answers stock queries from its own
``sandbox_supplier_stock`` rows, and accepts orders idempotently by our ``order_ref`` (a repeat
answers the first acceptance and takes no stock twice). ``seed_supplier_stock`` sets its stock.

Failure injection: a stock query naming the code ``OUTAGE_CODE`` answers 503 (the supplier is
down), so the client's retry and 502 paths can be exercised.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import CursorResult, Executable, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.integrations.supplier import protocol
from ihis.integrations.supplier.client import SupplierConfig
from ihis.integrations.supplier.models import SandboxSupplierNonce, SandboxSupplierOrder, SandboxSupplierStock
from ihis.platform.clock import utcnow
from ihis.platform.http import AppSettings, Db

router = APIRouter(prefix="/sandbox/supplier", tags=["sandbox"], include_in_schema=False)

OUTAGE_CODE = "SANDBOX-OUTAGE"


def seed_supplier_stock(db: Session, app_id: str, stock: Mapping[str, int]) -> None:
    """Set the sandbox supplier's stock of these drug codes (idempotent)."""
    for code, quantity in stock.items():
        row = db.scalar(
            select(SandboxSupplierStock).where(
                SandboxSupplierStock.app_id == app_id, SandboxSupplierStock.drug_code == code
            )
        )
        if row is None:
            db.add(SandboxSupplierStock(app_id=app_id, drug_code=code, quantity=quantity))
        else:
            row.quantity = quantity
    db.flush()


def _moved(db: Session, statement: Executable) -> int:
    result: Any = db.execute(statement)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def raw_body(request: Request) -> bytes:
    return await request.body()


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _authenticate(request: Request, body: bytes, db: Session, config: SupplierConfig) -> JSONResponse | None:
    headers = request.headers
    if headers.get(protocol.APP_ID_HEADER) != config.app_id:
        return _refuse(401, "APP_ID_INVALID", "unknown app id")
    stamp = headers.get(protocol.TIMESTAMP_HEADER, "")
    if (
        not stamp.isdigit()
        or abs(int(utcnow().timestamp()) - int(stamp)) > protocol.TIMESTAMP_TOLERANCE_SECONDS
    ):
        return _refuse(401, "TIMESTAMP_INVALID", "timestamp out of window")
    nonce = headers.get(protocol.NONCE_HEADER, "")
    if not 8 <= len(nonce) <= 64:
        return _refuse(401, "NONCE_INVALID", "nonce missing")
    text = protocol.string_to_sign(request.method, request.url.path, stamp, nonce, body)
    if not protocol.signature_matches(config.app_secret, text, headers.get(protocol.SIGNATURE_HEADER, "")):
        return _refuse(401, "SIGN_INVALID", "signature mismatch")
    try:
        with db.begin_nested():
            db.add(SandboxSupplierNonce(nonce=nonce, received_at=utcnow()))
            db.flush()
    except IntegrityError:
        return _refuse(401, "NONCE_USED", "nonce replayed")
    return None


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"code": protocol.CODE_OK, "message": "ok", "data": data})


def _bad_request() -> JSONResponse:
    return _refuse(400, "PARAM_INVALID", "bad parameters")


@router.post(protocol.STOCK_PATH)
def query_stock(
    request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """Stock of the codes asked for (codes the supplier does not carry are left out)."""
    config = SupplierConfig.for_pharmacy(settings, None, None)
    refused = _authenticate(request, body, db, config)
    if refused is not None:
        return refused
    try:
        codes = [str(c) for c in json.loads(body)["drug_codes"]][: protocol.MAX_CODES]
    except (ValueError, KeyError, TypeError):
        return _bad_request()
    if OUTAGE_CODE in codes:
        return _refuse(503, "SYSTEM_BUSY", "supplier unavailable")
    rows = db.scalars(
        select(SandboxSupplierStock).where(
            SandboxSupplierStock.app_id == config.app_id, SandboxSupplierStock.drug_code.in_(codes)
        )
    )
    return _ok({"items": [{"drug_code": r.drug_code, "quantity": r.quantity} for r in rows]})


def _order_data(order: SandboxSupplierOrder) -> dict[str, Any]:
    return {
        "order_ref": order.order_ref,
        "supplier_order_no": order.supplier_order_no,
        "status": order.status,
    }


@router.post(protocol.ORDERS_PATH)
def push_order(
    request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """Accept an order once per ``order_ref``, taking the supplier's stock with guarded updates."""
    config = SupplierConfig.for_pharmacy(settings, None, None)
    refused = _authenticate(request, body, db, config)
    if refused is not None:
        return refused
    try:
        fields = json.loads(body)
        ref = str(fields["order_ref"])[:64]
        lines: list[dict[str, Any]] = [
            {"drug_code": str(x["drug_code"]), "quantity": int(x["quantity"])} for x in fields["lines"]
        ]
    except (ValueError, KeyError, TypeError):
        return _bad_request()
    if not ref or not lines or any(line["quantity"] <= 0 for line in lines):
        return _bad_request()
    query = select(SandboxSupplierOrder).where(
        SandboxSupplierOrder.app_id == config.app_id, SandboxSupplierOrder.order_ref == ref
    )
    existing = db.scalar(query)
    if existing is not None:
        return _ok(_order_data(existing))
    try:
        with db.begin_nested():
            for line in lines:
                taken = _moved(
                    db,
                    update(SandboxSupplierStock)
                    .where(
                        SandboxSupplierStock.app_id == config.app_id,
                        SandboxSupplierStock.drug_code == line["drug_code"],
                        SandboxSupplierStock.quantity >= line["quantity"],
                    )
                    .values(quantity=SandboxSupplierStock.quantity - line["quantity"]),
                )
                if taken != 1:
                    raise _Short(str(line["drug_code"]))
            order = SandboxSupplierOrder(
                app_id=config.app_id,
                order_ref=ref,
                supplier_order_no=f"SO{utcnow():%Y%m%d%H%M%S}{secrets.token_hex(3).upper()}",
                lines=lines,
                status="accepted",
                created_at=utcnow(),
            )
            db.add(order)
            db.flush()
    except _Short as short:
        return JSONResponse(
            {"code": protocol.CODE_STOCK_SHORT, "message": "stock short", "drug_code": short.code},
            status_code=409,
        )
    except IntegrityError:  # the same ref accepted concurrently: answer that acceptance
        found = db.scalar(query)
        return _ok(_order_data(found)) if found is not None else _bad_request()
    return _ok(_order_data(order))


class _Short(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@router.get(protocol.ORDERS_PATH + "/{order_ref}")
def get_order(
    order_ref: str, request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """The status of an accepted order."""
    config = SupplierConfig.for_pharmacy(settings, None, None)
    refused = _authenticate(request, body, db, config)
    if refused is not None:
        return refused
    order = db.scalar(
        select(SandboxSupplierOrder).where(
            SandboxSupplierOrder.app_id == config.app_id, SandboxSupplierOrder.order_ref == order_ref
        )
    )
    if order is None:
        return _refuse(404, "ORDER_NOT_FOUND", "no such order")
    return _ok(_order_data(order))
