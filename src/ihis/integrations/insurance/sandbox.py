"""Sandbox insurance platform: the platform's signed JSON API under ``/sandbox/insurance/api``.

It checks the ``x-tif-*`` signature, timestamp window and nonce, classifies items by its
catalogue, and pre-settles and settles with the policy of ``rules`` (exact integer fen).

Catalogue (docs/logistics-and-insurance.md): a code that is not a 23-character national code
(``X``/``Z``/``T`` + 22 letters or digits) is ``unknown`` (100 % self-pay); a code listed in
``sandbox_insurance_catalogue`` (``seed_catalogue``) has that class; otherwise 中成药 (``Z``) and
中药饮片 (``T``) are 乙, and 西药 (``X``) are classed by their second character, the ATC
anatomical main group: A (alimentary tract and metabolism), B (blood), C (cardiovascular) -> 甲;
D (dermatologicals), V (various) -> 丙; any other group -> 乙.

Failure injection: an insured id (``psn_no``) ending in ``0000`` is not insured (``PSN_NOT_INSURED``).

Persons (1101): every checksum-valid 18-character resident ID number is a known insured person,
except those whose order code (顺序码, characters 15-17) is ``900`` or above: the platform finds
nobody (``PSN_NOT_FOUND``), so tests and the demo can have both. The answer is derived from the
number alone: ``psn_no`` = the region code + 14 digits of its SHA-256 (never ending in ``0000``),
``insuplc_admdvs`` = its region code, ``insutype`` 390 (城乡居民) under 18, else 310 (职工).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.integrations.insurance import rules, signing
from ihis.integrations.insurance.client import split_to_wire
from ihis.integrations.insurance.config import InsuranceConfig
from ihis.integrations.insurance.models import (
    SandboxInsuranceCatalogue,
    SandboxInsuranceNonce,
    SandboxInsuranceSettlement,
)
from ihis.integrations.insurance.protocol import (
    INFNO_CANCEL,
    INFNO_CLASSIFY,
    INFNO_PERSON,
    INFNO_PRESETTLE,
    INFNO_SETTLE,
    INSURANCE_CODE,
    ITEM_CLASSES,
    PSN_NO,
    InsuranceItemQuery,
    ItemClass,
)
from ihis.platform.clock import local_today, utcnow
from ihis.platform.http import AppSettings, Db

router = APIRouter(prefix="/sandbox/insurance", tags=["sandbox"], include_in_schema=False)

DEFAULT_CLASS_BY_GROUP: Final = {"A": "甲", "B": "甲", "C": "甲", "D": "丙", "V": "丙"}
RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
# Order codes from here up are persons the sandbox platform does not know (see the module docstring).
UNKNOWN_PERSON_ORDER_CODE: Final = 900
ADULT_AGE: Final = 18
BILL_REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NOT_INSURED_SUFFIX: Final = "0000"
MAX_ITEMS: Final = 200


class Refusal(Exception):
    """A business refusal answered as ``infcode -1`` with an ``err_code``."""

    def __init__(self, err_code: str, message: str) -> None:
        super().__init__(err_code)
        self.err_code = err_code
        self.message = message


def class_of(db: Session, code: str) -> str:
    """The sandbox catalogue's class of one code (see the module docstring)."""
    if not INSURANCE_CODE.match(code):
        return "unknown"
    listed = db.scalar(select(SandboxInsuranceCatalogue.class_).where(SandboxInsuranceCatalogue.code == code))
    if listed is not None:
        return listed
    if code[0] in "ZT":
        return "乙"
    return DEFAULT_CLASS_BY_GROUP.get(code[1], "乙")


def seed_catalogue(db: Session, classes: Mapping[str, str]) -> None:
    """List explicit classes for codes (the demo's formulary); re-seeding updates them."""
    for code, cls in classes.items():
        if not INSURANCE_CODE.match(code) or cls not in ITEM_CLASSES[:3]:
            raise ValueError(f"bad catalogue entry {code!r}: {cls!r}")
        updated = db.execute(
            update(SandboxInsuranceCatalogue).where(SandboxInsuranceCatalogue.code == code).values(class_=cls)
        ).rowcount  # type: ignore[attr-defined]
        if not updated:
            db.add(SandboxInsuranceCatalogue(code=code, class_=cls))
    db.flush()


def _classes(db: Session, items: list[InsuranceItemQuery]) -> list[ItemClass]:
    classes = []
    for item in items:
        cls = class_of(db, item.insurance_code)
        classes.append(ItemClass(item.insurance_code, cls, rules.SELF_PAY_RATIO_BP[cls]))
    return classes


def _items(data: dict[str, Any]) -> list[InsuranceItemQuery]:
    raw = data.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ITEMS:
        raise Refusal("PARAM_ERROR", "items: 1 to 200 lines")
    items = []
    for line in raw:
        if not isinstance(line, dict):
            raise Refusal("PARAM_ERROR", "items: objects expected")
        code, name, quantity, price = (
            line.get("code"),
            line.get("name"),
            line.get("quantity"),
            line.get("price_fen"),
        )
        if not (isinstance(code, str) and isinstance(name, str) and name):
            raise Refusal("PARAM_ERROR", "items: code and name required")
        if not (isinstance(quantity, int) and 1 <= quantity <= 9_999):
            raise Refusal("PARAM_ERROR", "items: quantity 1..9999")
        if not (isinstance(price, int) and 0 <= price <= 100_000_000):
            raise Refusal("PARAM_ERROR", "items: price_fen 0..100000000")
        items.append(InsuranceItemQuery(code, name, quantity, price))
    return items


def _insured(data: dict[str, Any]) -> str:
    psn_no = data.get("psn_no")
    if not isinstance(psn_no, str) or not PSN_NO.match(psn_no):
        raise Refusal("PARAM_ERROR", "psn_no invalid")
    if psn_no.endswith(NOT_INSURED_SUFFIX):
        raise Refusal("PSN_NOT_INSURED", "人员参保状态异常")
    return psn_no


def _bill_ref(data: dict[str, Any]) -> str:
    ref = data.get("bill_ref")
    if not isinstance(ref, str) or not BILL_REF.match(ref):
        raise Refusal("PARAM_ERROR", "bill_ref invalid")
    return ref


def _presettle(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    _insured(data)
    items = _items(data)
    lines = [rules.split_line(i, c) for i, c in zip(items, _classes(db, items), strict=True)]
    return split_to_wire(rules.combine(lines))


def _settlement_answer(row: SandboxInsuranceSettlement) -> dict[str, Any]:
    return {
        "bill_ref": row.bill_ref,
        "setl_id": row.setl_id,
        "status": row.status,
        "split": json.loads(row.split_json),
    }


def _settle(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    ref = _bill_ref(data)
    split = _presettle(db, data)
    digest = hashlib.sha256(
        json.dumps({"psn_no": data["psn_no"], "items": data["items"]}, sort_keys=True).encode()
    ).hexdigest()
    row = db.scalar(select(SandboxInsuranceSettlement).where(SandboxInsuranceSettlement.bill_ref == ref))
    if row is None:
        try:
            with db.begin_nested():
                row = SandboxInsuranceSettlement(
                    bill_ref=ref,
                    setl_id=f"SETL{secrets.randbelow(10**16):016d}",
                    request_digest=digest,
                    split_json=json.dumps(split, ensure_ascii=False),
                    status="settled",
                    settled_at=utcnow(),
                )
                db.add(row)
                db.flush()
        except IntegrityError:  # a concurrent settlement of the same ref
            row = db.scalar(
                select(SandboxInsuranceSettlement).where(SandboxInsuranceSettlement.bill_ref == ref)
            )
            assert row is not None
    if row.request_digest != digest:
        raise Refusal("BILL_REF_REUSED", "该单据号已结算其他内容")
    if row.status != "settled":
        raise Refusal("SETTLEMENT_CANCELLED", "该单据已撤销结算，请使用新单据号")
    return _settlement_answer(row)


def _cancel(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    ref = _bill_ref(data)
    row = db.scalar(select(SandboxInsuranceSettlement).where(SandboxInsuranceSettlement.bill_ref == ref))
    if row is None:
        raise Refusal("SETTLEMENT_NOT_FOUND", "结算记录不存在")
    db.execute(
        update(SandboxInsuranceSettlement)
        .where(SandboxInsuranceSettlement.id == row.id, SandboxInsuranceSettlement.status == "settled")
        .values(status="cancelled", cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.refresh(row)
    return _settlement_answer(row)


def _classify(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    classes = _classes(db, _items(data))
    return {
        "items": [
            {"code": c.insurance_code, "class": c.class_, "self_pay_ratio_bp": c.self_pay_ratio}
            for c in classes
        ]
    }


def _check_digit(body: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def person_of(certno: str, today: dt.date | None = None) -> dict[str, Any]:
    """The sandbox platform's 1101 answer for a resident ID number (see the module docstring)."""
    if int(certno[14:17]) >= UNKNOWN_PERSON_ORDER_CODE:
        raise Refusal("PSN_NOT_FOUND", "未查询到该人员的参保信息")
    admdvs = certno[:6]
    digits = f"{int(hashlib.sha256(certno.encode()).hexdigest(), 16) % 10**14:014d}"
    if digits.endswith(NOT_INSURED_SUFFIX):  # that suffix is the pre-settlement's failure injection
        digits = digits[:-1] + "1"
    day = today or local_today()
    birth_year = int(certno[6:10])
    age = day.year - birth_year - ((day.month, day.day) < (int(certno[10:12]), int(certno[12:14])))
    return {
        "baseinfo": {
            "psn_no": admdvs + digits,
            "psn_cert_type": "01",
            "gend": "1" if int(certno[16]) % 2 else "2",
        },
        "insuinfo": [
            {
                "insutype": "390" if age < ADULT_AGE else "310",
                "psn_insu_stas": "1",  # 参保缴费
                "insuplc_admdvs": admdvs,
            }
        ],
    }


def _person(db: Session, data: dict[str, Any]) -> dict[str, Any]:
    certno, name = data.get("certno"), data.get("psn_name")
    if data.get("psn_cert_type") != "01" or not isinstance(certno, str) or not RESIDENT_ID.match(certno):
        raise Refusal("PARAM_ERROR", "certno: 18-character resident ID number")
    if _check_digit(certno[:17]) != certno[17]:
        raise Refusal("PARAM_ERROR", "certno: check character")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 50:
        raise Refusal("PARAM_ERROR", "psn_name required")
    return person_of(certno)


HANDLERS: Final = {
    INFNO_PERSON: _person,
    INFNO_CLASSIFY: _classify,
    INFNO_PRESETTLE: _presettle,
    INFNO_SETTLE: _settle,
    INFNO_CANCEL: _cancel,
}


async def raw_body(request: Request) -> bytes:
    """The exact bytes the client signed."""
    return await request.body()


def _answer(
    infcode: int,
    output: dict[str, Any] | None = None,
    *,
    err_code: str = "",
    message: str = "",
    status: int = 200,
) -> JSONResponse:
    body: dict[str, Any] = {"infcode": infcode, "err_msg": message, "output": output or {}}
    if err_code:
        body["err_code"] = err_code
    return JSONResponse(body, status_code=status)


def _claim_nonce(db: Session, nonce: str) -> bool:
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(SandboxInsuranceNonce)
        .values(nonce=nonce, seen_at=utcnow())
        .on_conflict_do_nothing(index_elements=["nonce"])
        .returning(SandboxInsuranceNonce.id)
    )
    return db.execute(stmt).scalar_one_or_none() is not None


@router.post("/api/{infno}")
def transaction(
    infno: str, request: Request, body: Annotated[bytes, Depends(raw_body)], db: Db, settings: AppSettings
) -> JSONResponse:
    """One platform transaction (1101, 1312, 2206, 2207, 2208), signed."""
    config = InsuranceConfig.from_settings(settings)
    reason, nonce = signing.check(
        request.headers,
        request.method,
        request.url.path,
        body.decode("utf-8", errors="replace"),
        paasid=config.app_id,
        secret=config.app_secret,
    )
    if reason is None and not _claim_nonce(db, nonce):
        reason = "nonce_replayed"
    if reason is not None:
        return _answer(-1, err_code="SIGN_ERROR", message=reason, status=401)
    handler = HANDLERS.get(infno)
    if handler is None:
        return _answer(-1, err_code="INFNO_UNKNOWN", message="unknown infno", status=404)
    try:
        envelope = json.loads(body)
        if (
            not isinstance(envelope, dict)
            or envelope.get("infno") != infno
            or not isinstance(envelope.get("input"), dict)
        ):
            raise Refusal("PARAM_ERROR", "envelope: infno and input required")
        return _answer(0, handler(db, envelope["input"]))
    except ValueError:
        return _answer(-1, err_code="PARAM_ERROR", message="malformed JSON")
    except Refusal as refusal:
        return _answer(-1, err_code=refusal.err_code, message=refusal.message)
