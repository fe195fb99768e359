"""Audit ledger (append-only, hash-chained). INTERFACE — being implemented by the audit helper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class AuditContext:
    """Who did it, from where (built by ``Actor.audit()`` or by login code for anonymous callers)."""

    actor_id: int | None
    actor_role: str
    actor_name: str | None
    institution_id: int | None
    ip: str | None
    user_agent: str | None


def record(
    db: Session,
    ctx: AuditContext,
    action: str,
    *,
    resource_type: str,
    resource_id: str | int | None = None,
    patient_id: int | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record one audit event in the current unit of work (committed with it)."""
    db.info.setdefault("ihis_audit_pending", []).append(
        dict(ctx=ctx, action=action, resource_type=resource_type, resource_id=resource_id,
             patient_id=patient_id, outcome=outcome, detail=detail)
    )
