"""Factories for the formulary.

mount_formulary(app)                           # /api/v1/formulary + /sandbox/supplier, if not mounted yet
drug = make_drug(db, inst, code="X1", generic_name="阿莫西林胶囊")
pharmacy = make_pharmacy(db, inst)             # the hospital pharmacy; kind="supplier" for a partner
set_stock(db, pharmacy, drug, on_hand=5)
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import DrugFields
from ihis.formulary.models import Drug, DrugStock, Pharmacy
from ihis.formulary.proposals import publish_directly
from ihis.platform.clock import utcnow
from ihis.tenancy.models import Institution

_seq = itertools.count(1)


def mount_formulary(application: FastAPI) -> FastAPI:
    """Include the formulary router (/api/v1) and the sandbox supplier (/sandbox) unless already there."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/formulary/drugs" not in paths:
        from ihis.formulary.api import router

        application.include_router(router, prefix="/api/v1")
    if "/sandbox/supplier/v1/stock/query" not in paths:
        from ihis.integrations.supplier.sandbox import router as supplier_sandbox

        application.include_router(supplier_sandbox)
    return application


def drug_fields(**overrides: Any) -> dict[str, Any]:
    """A valid, complete field set of an ordinary western drug (JSON-ready)."""
    n = next(_seq)
    data: dict[str, Any] = {
        "code": f"T{n:05d}",
        "generic_name": "阿莫西林胶囊",
        "trade_name": "阿莫仙",
        "kind": "western",
        "form": "胶囊",
        "strength": "250mg",
        "dose_unit": "mg",
        "unit_amount": "250",
        "dispense_unit": "粒",
        "pack_size": 24,
        "package_unit": "盒",
        "approval_number": "国药准字H44021351",
        "manufacturer": "珠海联邦制药股份有限公司",
        "batch": "B250901",
        "expiry": "2027-12-31",
        "price_fen": 1090,
        "insurance_code": "XJ01CAA040E001010100001",
        "control_class": "none",
        "high_alert": False,
        "monitoring": [],
        "ingredients": ["amoxicillin"],
        "classes": ["penicillin", "beta_lactam"],
        "routes": ["po"],
        "instructions": "【适应症】敏感菌所致的感染。",
        "online": True,
    }
    data.update(overrides)
    return data


def make_drug(db: Session, inst: Institution, **overrides: Any) -> Drug:
    """A published drug (version 1, with its revision) of the institution."""
    fields = DrugFields.model_validate(drug_fields(**overrides))
    return publish_directly(db, inst.id, fields, "test factory")


def make_pharmacy(db: Session, inst: Institution, *, kind: str = "hospital", **kw: Any) -> Pharmacy:
    n = next(_seq)
    pharmacy = Pharmacy(
        institution_id=inst.id,
        code=kw.pop("code", f"P{n:04d}"),
        name=kw.pop("name", "院内药房" if kind == "hospital" else f"合作药店{n}"),
        kind=kind,
        supplier_adapter="sandbox" if kind == "supplier" else None,
        active=kw.pop("active", True),
        **kw,
    )
    db.add(pharmacy)
    db.flush()
    return pharmacy


def set_stock(db: Session, pharmacy: Pharmacy, drug: Drug, *, on_hand: int, reserved: int = 0) -> DrugStock:
    stock = DrugStock(
        institution_id=pharmacy.institution_id,
        pharmacy_id=pharmacy.id,
        drug_id=drug.id,
        on_hand=on_hand,
        reserved=reserved,
        updated_at=utcnow(),
    )
    db.add(stock)
    db.flush()
    return stock
