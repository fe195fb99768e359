"""Pharmacies (药房): the hospital pharmacy and partner suppliers, created and edited by stock managers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.formulary.models import Pharmacy
from ihis.formulary.stock import get_pharmacy
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.errors import InvalidInput
from ihis.settings import Settings

EDITABLE = ("name", "address", "active", "supplier_url", "supplier_app_id")


def _check_url(settings: Settings, url: str | None, field: str) -> None:
    # The signed supplier calls leave the hospital: TLS only, except in the sandbox.
    if url and not settings.sandbox and not url.startswith("https://"):
        raise InvalidInput.field(
            field, "https_required", "合作药房地址须为 https", "The supplier URL must be https"
        )


def list_pharmacies(db: Session, institution_id: int) -> list[Pharmacy]:
    """The institution's pharmacies, the hospital pharmacy first."""
    query = (
        select(Pharmacy).where(Pharmacy.institution_id == institution_id).order_by(Pharmacy.kind, Pharmacy.id)
    )
    return list(db.scalars(query))


def create_pharmacy(db: Session, actor: Actor, settings: Settings, values: dict[str, Any]) -> Pharmacy:
    """Add a pharmacy; a supplier gets the supplier adapter (its secret stays in settings)."""
    _check_url(settings, values.get("supplier_url"), "body.supplier_url")
    if values["kind"] == "hospital" and (values.get("supplier_url") or values.get("supplier_app_id")):
        raise InvalidInput.field(
            "body.supplier_url",
            "not_supplier",
            "院内药房无需供应商接口",
            "A hospital pharmacy has no supplier link",
        )
    pharmacy = Pharmacy(
        institution_id=actor.institution_id,
        supplier_adapter="http" if values["kind"] == "supplier" else None,
        active=True,
        **values,
    )
    db.add(pharmacy)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        raise InvalidInput.field(
            "body.code", "code_taken", "药房编码已存在", "Pharmacy code already in use"
        ) from exc
    audit.record(
        db, actor.audit(), "formulary.pharmacy.create", resource_type="pharmacy", resource_id=pharmacy.id,
        detail={"code": pharmacy.code, "kind": pharmacy.kind},
    )  # fmt: skip
    return pharmacy


def update_pharmacy(
    db: Session, actor: Actor, settings: Settings, pharmacy_id: int, changes: dict[str, Any]
) -> Pharmacy:
    """Edit a pharmacy's name, address, active flag or supplier link."""
    pharmacy = get_pharmacy(db, actor.institution_id, pharmacy_id)
    _check_url(settings, changes.get("supplier_url"), "body.supplier_url")
    if pharmacy.kind == "hospital" and (changes.get("supplier_url") or changes.get("supplier_app_id")):
        raise InvalidInput.field(
            "body.supplier_url",
            "not_supplier",
            "院内药房无需供应商接口",
            "A hospital pharmacy has no supplier link",
        )
    for name, value in changes.items():
        if name in EDITABLE and not (value is None and name in ("name", "active")):  # NOT NULL columns
            setattr(pharmacy, name, value)
    db.flush()
    audit.record(
        db, actor.audit(), "formulary.pharmacy.update", resource_type="pharmacy", resource_id=pharmacy.id,
        detail={"fields": sorted(changes)},
    )  # fmt: skip
    return pharmacy
