"""Auditor API (mounted under /api/v1): search, export and verify the audit ledger.

Read-only by design: the ledger has no endpoint that changes or deletes an entry, and only the
auditor role holds ``audit.read`` / ``audit.export`` (separation of duties, GB/T 22239 level 3).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ihis.auditing import service
from ihis.auditing.schemas import AuditEventOut, AuditEventPage, ChainStatusOut
from ihis.auditing.service import AuditFilter
from ihis.identity.access import Actor, Permission, require
from ihis.platform.clock import HOSPITAL_TZ, utcnow
from ihis.platform.errors import InvalidInput
from ihis.platform.http import ReadDb

router = APIRouter(tags=["audit"])

AuditReader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]
AuditExporter = Annotated[Actor, Depends(require(Permission.AUDIT_READ, Permission.AUDIT_EXPORT))]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # The console sends wall-clock times of the hospital; explicit offsets are kept as given.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=HOSPITAL_TZ)


def audit_filter(
    actor_id: Annotated[int | None, Query(ge=1)] = None,
    actor_name: Annotated[
        str | None, Query(min_length=1, max_length=64, description="part of a staff member's name")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+\*?$", description="exact, or a prefix ending in *"),
    ] = None,
    resource_type: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] = None,
    patient_id: Annotated[int | None, Query(ge=1)] = None,
    outcome: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z_]+$")] = None,
    occurred_from: Annotated[
        dt.datetime | None, Query(alias="from", description="inclusive; without an offset: Beijing time")
    ] = None,
    occurred_to: Annotated[
        dt.datetime | None, Query(alias="to", description="exclusive; without an offset: Beijing time")
    ] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditFilter:
    """Parse the ledger filters; a bad value names its query field."""
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise InvalidInput.field(
                "query.ip", "ip_invalid", "IP 地址格式不正确", "Invalid IP address"
            ) from None
    start, end = _aware(occurred_from), _aware(occurred_to)
    if start is not None and end is not None and start >= end:
        raise InvalidInput.field(
            "query.to", "range_invalid", "结束时间须晚于开始时间", "'to' must be after 'from'"
        )
    return AuditFilter(
        actor_id=actor_id,
        actor_name=(actor_name.strip() or None) if actor_name else None,
        action=action,
        resource_type=resource_type,
        patient_id=patient_id,
        outcome=outcome,
        occurred_from=start,
        occurred_to=end,
        ip=ip,
    )


Filters = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/audit/events")
def list_audit_events(
    actor: AuditReader,
    db: ReadDb,
    filters: Filters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditEventPage:
    """Search the ledger of the auditor's institution, newest first."""
    rows, total = service.search(db, actor, filters, page=page, page_size=page_size)
    return AuditEventPage(
        items=[AuditEventOut.of(e) for e in rows], total=total, page=page, page_size=page_size
    )


@router.get(
    "/audit/events/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, UTF-8 with BOM (opens in Excel)"}},
)
def export_audit_events(actor: AuditExporter, db: ReadDb, filters: Filters) -> Response:
    """The entries matching the filters as a CSV file (at most ``EXPORT_MAX_ROWS``)."""
    body, _ = service.export_csv(db, actor, filters)
    stamp = utcnow().astimezone(HOSPITAL_TZ).strftime("%Y%m%d-%H%M%S")
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-events-{stamp}.csv"'},
    )


@router.get("/audit/verify")
def verify_audit_chain(actor: AuditReader, db: ReadDb) -> ChainStatusOut:
    """Walk the hash chain and report whether it is intact (else its first problem)."""
    return ChainStatusOut.of(service.chain_status(db, actor), utcnow())
