"""Auditor API shapes: ledger entries, a page of them, and the chain's status."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ihis.platform.audit import AuditEvent
from ihis.platform.audit_chain import VerifyReport
from ihis.platform.masking import mask_name


def shown_actor_name(event: AuditEvent) -> str | None:
    """Staff names as recorded; a patient's own name masked (DOMAIN §10), auditors see ids."""
    return mask_name(event.actor_name) if event.actor_role == "patient" else event.actor_name


class AuditEventOut(BaseModel):
    """One ledger entry as the auditor sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    occurred_at: dt.datetime
    institution_id: int | None
    actor_id: int | None
    actor_role: str
    actor_name: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: int | None
    ip: str | None
    user_agent: str | None
    outcome: str
    detail: dict[str, Any] | list[Any] | None = None
    hash: str

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            id=event.id,
            seq=event.seq,
            occurred_at=event.occurred_at,
            institution_id=event.institution_id,
            actor_id=event.actor_id,
            actor_role=event.actor_role,
            actor_name=shown_actor_name(event),
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            patient_id=event.patient_id,
            ip=event.ip,
            user_agent=event.user_agent,
            outcome=event.outcome,
            detail=json.loads(event.detail) if event.detail else None,
            hash=event.hash,
        )


class AuditEventPage(BaseModel):
    """A page of entries, newest first."""

    items: list[AuditEventOut]
    total: int = Field(description="entries matching the filters")
    page: int
    page_size: int


class ChainStatusOut(BaseModel):
    """Whether the hash chain is intact; otherwise the first problem found."""

    ok: bool
    count: int = Field(description="entries verified before stopping")
    kind: Literal["altered", "removed", "inserted"] | None = None
    seq: int | None = None
    event_id: int | None = None
    message: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    checked_at: dt.datetime

    @classmethod
    def of(cls, report: VerifyReport, checked_at: dt.datetime) -> ChainStatusOut:
        return cls(
            ok=report.ok,
            count=report.count,
            kind=report.kind,
            seq=report.seq,
            event_id=report.event_id,
            message=report.message,
            head_seq=report.head_seq,
            head_hash=report.head_hash,
            checked_at=checked_at,
        )
