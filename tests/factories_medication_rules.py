"""Factories for the rule engine: drugs as the formulary describes them, drafts, patients, and
knowledge bases built from entry data (validated exactly as stored ones are).

drug = make_drug(7, "amlodipine", classes={"ccb"})
findings = evaluate(draft(line(7)), adult(), {7: drug}, kb_of(("interaction", {...})))
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import FastAPI

from ihis.formulary.facts import DrugFacts, DrugKind
from ihis.medication_rules import entries
from ihis.medication_rules.engine import Finding, PatientFacts, RxDraft, RxLine
from ihis.medication_rules.knowledge import KnowledgeBase

TODAY = dt.date(2026, 11, 22)


def make_drug(
    drug_id: int,
    ingredient: str,
    *,
    classes: set[str] | frozenset[str] = frozenset(),
    kind: DrugKind = "western",
    dose_unit: str = "mg",
    unit_amount: str = "5",
    pack_size: int = 28,
    routes: set[str] | frozenset[str] = frozenset({"po"}),
    control_class: str = "none",
    high_alert: bool = False,
    online: bool = True,
    ingredients: set[str] | None = None,
    name: str | None = None,
) -> DrugFacts:
    """A catalogue drug of one ingredient (5 mg tablets, 28 a box, oral) unless told otherwise."""
    return DrugFacts(
        id=drug_id,
        code=f"D{drug_id:04d}",
        generic_name=name or f"{ingredient}片",
        trade_name=None,
        kind=kind,
        form="片剂",
        strength=f"{unit_amount}{dose_unit}",
        dose_unit=dose_unit,
        unit_amount=Decimal(unit_amount),
        dispense_unit="片",
        pack_size=pack_size,
        package_unit="盒",
        price_fen=1000,
        control_class=control_class,
        high_alert=high_alert,
        ingredients=frozenset(ingredients if ingredients is not None else {ingredient}),
        classes=frozenset(classes),
        routes=frozenset(routes),
        online=online,
    )


def line(
    drug_id: int,
    *,
    dose: str = "5",
    dose_unit: str = "mg",
    frequency: str = "qd",
    route: str = "po",
    days: int = 7,
    quantity: int | None = None,
) -> RxLine:
    """A line; quantity defaults to what dose x frequency x days needs of 28 x 5 mg boxes (1)."""
    return RxLine(
        drug_id=drug_id,
        dose=Decimal(dose),
        dose_unit=dose_unit,
        frequency=frequency,
        route=route,
        days=days,
        quantity=1 if quantity is None else quantity,
    )


def draft(
    *lines: RxLine,
    kind: str = "western_patent",
    diagnoses: tuple[str, ...] = ("I10.x00",),
    validity_days: int = 1,
    course: str = "ordinary",
    extension_reason: str | None = None,
) -> RxDraft:
    return RxDraft(
        kind=kind,  # type: ignore[arg-type]
        lines=tuple(lines),
        diagnosis_codes=diagnoses,
        validity_days=validity_days,
        course=course,  # type: ignore[arg-type]
        extension_reason=extension_reason,
    )


def born(years: int, months: int = 0, *, today: dt.date = TODAY) -> dt.date:
    """The birth date of someone exactly ``years`` y ``months`` mo old on ``today``."""
    total = today.year * 12 + (today.month - 1) - (years * 12 + months)
    return dt.date(total // 12, total % 12 + 1, today.day)


def patient(
    years: int = 45,
    months: int = 0,
    *,
    allergies: set[str] | frozenset[str] = frozenset(),
    pregnant: bool | None = None,
    lactating: bool | None = None,
    limited_mobility: bool = False,
    birth_date: dt.date | None = None,
) -> PatientFacts:
    return PatientFacts(
        birth_date=birth_date or born(years, months),
        today=TODAY,
        sex="2" if pregnant or lactating else "1",
        allergy_classes=frozenset(allergies),
        pregnant=pregnant,
        lactating=lactating,
        limited_mobility=limited_mobility,
    )


def kb_of(*items: tuple[str, dict[str, Any]], version: int = 1) -> KnowledgeBase:
    """A knowledge base of these entries (kind, data), validated as the maintenance API does."""
    return entries.build(version, [(kind, entries.parse(kind, data)) for kind, data in items])


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    """The single finding of ``code`` (fails if there is none or several)."""
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, f"expected one {code}, got {[f.code for f in findings]}"
    return found[0]


def mount_medication_rules(application: FastAPI) -> FastAPI:
    """Include the knowledge-base router under /api/v1 unless the application already has it."""
    paths = {getattr(r, "path", "") for r in application.routes}
    if "/api/v1/rx-knowledge" not in paths:
        from ihis.medication_rules.api import router

        application.include_router(router, prefix="/api/v1")
    return application
