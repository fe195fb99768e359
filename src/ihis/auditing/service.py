"""The auditor's work on the ledger: search, export, verify (GB/T 22239 level 3: audit records are
reviewed by a separate auditor; the auditor's own actions are audited too)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import asdict, dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from ihis.auditing.schemas import shown_actor_name
from ihis.identity.access import Actor
from ihis.platform import audit
from ihis.platform.audit import AuditEvent
from ihis.platform.audit_chain import VerifyReport, verify_chain
from ihis.platform.clock import HOSPITAL_TZ
from ihis.platform.errors import InvalidInput

EXPORT_MAX_ROWS: Final = 50_000
CSV_COLUMNS: Final = (
    ("seq", "序号"),
    ("occurred_at", "时间（北京时间）"),
    ("institution_id", "机构ID"),
    ("actor_id", "操作人ID"),
    ("actor_role", "角色"),
    ("actor_name", "操作人"),
    ("action", "操作"),
    ("resource_type", "对象类型"),
    ("resource_id", "对象ID"),
    ("patient_id", "患者ID"),
    ("ip", "IP"),
    ("user_agent", "终端"),
    ("outcome", "结果"),
    ("detail", "详情"),
    ("hash", "哈希"),
)
# Cells starting with these are formulas to Excel; prefix them so an exported value never runs.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """Search criteria; every one optional. ``action`` ending in ``*`` matches a prefix."""

    actor_id: int | None = None
    actor_name: str | None = None
    action: str | None = None
    resource_type: str | None = None
    patient_id: int | None = None
    outcome: str | None = None
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None
    ip: str | None = None

    def as_detail(self) -> dict[str, Any]:
        """The filters actually used, for the auditor's own audit entry."""
        return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in asdict(self).items() if v}


def _conditions(actor: Actor, f: AuditFilter) -> list[ColumnElement[bool]]:
    # The auditor's own institution, plus platform-level entries that belong to none.
    conds: list[ColumnElement[bool]] = [
        or_(AuditEvent.institution_id == actor.institution_id, AuditEvent.institution_id.is_(None))
    ]
    if f.actor_id is not None:
        conds.append(AuditEvent.actor_id == f.actor_id)
    if f.actor_name:
        # Patients' names are masked in results, so they are not searchable by name either.
        conds.append(AuditEvent.actor_role != "patient")
        conds.append(func.lower(AuditEvent.actor_name).contains(f.actor_name.lower(), autoescape=True))
    if f.action:
        if f.action.endswith("*"):
            conds.append(AuditEvent.action.startswith(f.action[:-1], autoescape=True))
        else:
            conds.append(AuditEvent.action == f.action)
    if f.resource_type:
        conds.append(AuditEvent.resource_type == f.resource_type)
    if f.patient_id is not None:
        conds.append(AuditEvent.patient_id == f.patient_id)
    if f.outcome:
        conds.append(AuditEvent.outcome == f.outcome)
    if f.occurred_from is not None:
        conds.append(AuditEvent.occurred_at >= f.occurred_from)
    if f.occurred_to is not None:
        conds.append(AuditEvent.occurred_at < f.occurred_to)
    if f.ip:
        conds.append(AuditEvent.ip == f.ip)
    return conds


def _newest_first(actor: Actor, f: AuditFilter) -> Select[AuditEvent]:
    return (
        select(AuditEvent).where(*_conditions(actor, f)).order_by(AuditEvent.seq.desc(), AuditEvent.id.desc())
    )


def count(db: Session, actor: Actor, f: AuditFilter) -> int:
    """How many entries visible to ``actor`` match ``f``."""
    total = db.scalar(select(func.count()).select_from(AuditEvent).where(*_conditions(actor, f)))
    return int(total or 0)


def search(
    db: Session, actor: Actor, f: AuditFilter, *, page: int, page_size: int
) -> tuple[list[AuditEvent], int]:
    """One page of matching entries, newest first, and the total; the search itself is audited."""
    total = count(db, actor, f)
    rows = list(db.scalars(_newest_first(actor, f).offset((page - 1) * page_size).limit(page_size)))
    audit.record(
        db, actor.audit(), "audit.search", resource_type="audit_event", detail={**f.as_detail(), "page": page}
    )
    return rows, total


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def export_csv(db: Session, actor: Actor, f: AuditFilter) -> tuple[bytes, int]:
    """Matching entries as CSV (UTF-8 with BOM so that Excel shows Chinese); the export is audited."""
    total = count(db, actor, f)
    if total > EXPORT_MAX_ROWS:
        raise InvalidInput.field(
            "query.from",
            "export_too_large",
            f"导出条数 {total} 超过上限 {EXPORT_MAX_ROWS}，请缩小时间范围",
            f"{total} entries exceed the export limit of {EXPORT_MAX_ROWS}; narrow the time range",
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in CSV_COLUMNS])
    written = 0
    for event in db.scalars(_newest_first(actor, f).execution_options(yield_per=1000)):
        values = {name: getattr(event, name) for name, _ in CSV_COLUMNS}
        values["actor_name"] = shown_actor_name(event)
        writer.writerow([_cell(values[name]) for name, _ in CSV_COLUMNS])
        written += 1
    audit.record(
        db,
        actor.audit(),
        "audit.export",
        resource_type="audit_event",
        detail={**f.as_detail(), "rows": written},
    )
    return out.getvalue().encode("utf-8-sig"), written


def chain_status(db: Session, actor: Actor) -> VerifyReport:
    """Verify the whole chain (it spans every institution); the check is audited."""
    report = verify_chain(db)
    audit.record(
        db,
        actor.audit(),
        "audit.verify",
        resource_type="audit_event",
        outcome="success" if report.ok else "failure",
        detail={"ok": report.ok, "count": report.count, "kind": report.kind, "seq": report.seq},
    )
    return report
