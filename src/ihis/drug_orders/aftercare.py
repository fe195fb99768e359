"""After sign-off: medication guidance from the prescription and the catalogue's instructions,
adherence and renewal reminders (scheduled notifications), adverse-reaction reports for quality staff
and their handling (reviewed, then reported to the national ADR monitoring system)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle, ordering
from ihis.drug_orders.models import (
    ADR_NEW,
    ADR_REPORTED,
    ADR_REVIEWED,
    ADR_STATUSES,
    SIGNED_OFF,
    AdverseReaction,
    DrugOrder,
)
from ihis.drug_orders.payment import patient_name
from ihis.formulary.models import Drug
from ihis.identity.access import Actor
from ihis.notifications.service import schedule_reminder
from ihis.notifications.templates import Event
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound

SEVERITIES = ("mild", "moderate", "severe")
# The national monitoring system's report number (国家药品不良反应监测系统报告编码): letters, digits, "-".
NATIONAL_REPORT_NO = re.compile(r"^[A-Za-z0-9-]{1,64}$")
NOTE_MAX = 2000
REMINDER_HOUR = 9  # local morning
RENEWAL_LEAD_DAYS = 2  # remind this many days before the last line runs out


def guidance(db: Session, order: DrugOrder) -> list[dict[str, Any]]:
    """用药指导: each drug with its usage as prescribed and the instructions (说明书) of the catalogue."""
    lines = ordering.lines_of(db, order.id)
    texts: dict[int, str | None] = dict(
        db.execute(
            select(Drug.id, Drug.instructions).where(
                Drug.institution_id == order.institution_id, Drug.id.in_([line.drug_id for line in lines])
            )
        ).all()
    )
    return [
        {"drug_name": line.drug_name, "usage": line.usage, "instructions": texts.get(line.drug_id) or ""}
        for line in lines
    ]


def _morning(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=HOSPITAL_TZ)


def schedule_reminders(db: Session, order: DrugOrder) -> None:
    """Adherence reminder the next morning; renewal reminder before the longest line runs out."""
    lines = ordering.lines_of(db, order.id)
    if not lines:
        return
    names = "、".join(dict.fromkeys(line.drug_name for line in lines))[:120]
    variables = {"patient_name": patient_name(db, order), "number": order.number, "drug_names": names}
    today = local_today()
    common: dict[str, Any] = {
        "institution_id": order.institution_id,
        "recipient_account_id": order.account_id,
        "variables": variables,
        "link": lifecycle.link(order),
    }
    schedule_reminder(
        db, event=Event.MEDICATION_REMINDER, at=_morning(today + dt.timedelta(days=1)), **common
    )
    days = max(_days(line.usage) for line in lines)
    if days > RENEWAL_LEAD_DAYS + 1:
        at = _morning(today + dt.timedelta(days=days - RENEWAL_LEAD_DAYS))
        schedule_reminder(db, event=Event.RENEWAL_REMINDER, at=at, **common)


def _days(usage: str) -> int:
    last = usage.rsplit(" ", 1)[-1].removesuffix("天")
    return int(last) if last.isdigit() else 0


def report_reaction(
    db: Session, actor: Actor, order_id: int, *, description: str, onset_date: dt.date, severity: str
) -> AdverseReaction:
    """药品不良反应: the patient reports one on a signed-off order; quality staff see it."""
    text = description.strip()
    if not 5 <= len(text) <= 2000:
        raise InvalidInput.field(
            "body.description",
            "description_invalid",
            "请描述不良反应（5-2000字）",
            "Describe it (5-2000 characters)",
        )
    if onset_date > local_today():
        raise InvalidInput.field(
            "body.onset_date", "onset_in_future", "发生日期不能晚于今天", "Onset is in the future"
        )
    if severity not in SEVERITIES:
        raise InvalidInput.field("body.severity", "severity_invalid", "严重程度不正确", "Unknown severity")
    order = ordering.own_order(db, actor, order_id)
    if order.status != SIGNED_OFF:
        raise Conflict("签收后才能上报不良反应", "Report an adverse reaction after sign-off")
    row = AdverseReaction(
        institution_id=order.institution_id,
        order_id=order.id,
        account_id=order.account_id,
        visitor_id=order.visitor_id,
        description=text,
        onset_date=onset_date,
        severity=severity,
        reported_at=utcnow(),
    )
    db.add(row)
    db.flush()
    lifecycle.record_event(db, order, "adverse_reaction_reported", actor, {"report_id": row.id})
    audit.record(
        db,
        actor.audit(),
        "drug_order.adverse_reaction",
        resource_type="adverse_reaction_report",
        resource_id=row.id,
        patient_id=order.visitor_id,
        detail={"order_id": order.id, "severity": severity},
    )
    return row


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=HOSPITAL_TZ)


def reactions_for_quality(
    db: Session,
    actor: Actor,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    severity: str | None = None,
    status: str | None = None,
) -> list[tuple[AdverseReaction, DrugOrder]]:
    """Reports of the institution, newest first, by hospital date of reporting, severity and handling
    status (the read is audited by the caller)."""
    if severity is not None and severity not in SEVERITIES:
        raise InvalidInput.field("query.severity", "severity_invalid", "严重程度不正确", "Unknown severity")
    if status is not None and status not in ADR_STATUSES:
        raise InvalidInput.field("query.status", "status_invalid", "处理状态不正确", "Unknown status")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput.field(
            "query.date_to", "range_invalid", "结束日期不能早于开始日期", "The end date is before the start"
        )
    query = (
        select(AdverseReaction, DrugOrder)
        .join(DrugOrder, DrugOrder.id == AdverseReaction.order_id)
        .where(AdverseReaction.institution_id == actor.institution_id)
    )
    if date_from is not None:
        query = query.where(AdverseReaction.reported_at >= _day_start(date_from))
    if date_to is not None:
        query = query.where(AdverseReaction.reported_at < _day_start(date_to + dt.timedelta(days=1)))
    if severity is not None:
        query = query.where(AdverseReaction.severity == severity)
    if status is not None:
        query = query.where(AdverseReaction.status == status)
    rows = db.execute(query.order_by(AdverseReaction.id.desc()).limit(200))
    return [(report, order) for report, order in rows]


def reaction_for_quality(db: Session, actor: Actor, report_id: int) -> tuple[AdverseReaction, DrugOrder]:
    """One report of the institution (another institution's is 404)."""
    row = db.execute(
        select(AdverseReaction, DrugOrder)
        .join(DrugOrder, DrugOrder.id == AdverseReaction.order_id)
        .where(AdverseReaction.id == report_id, AdverseReaction.institution_id == actor.institution_id)
    ).first()
    if row is None:
        raise NotFound("不良反应报告不存在", "Adverse-reaction report not found")
    return row[0], row[1]


class ReportChanged(Conflict):
    code = "adverse_reaction_state_changed"

    def __init__(self, status: str) -> None:
        super().__init__(
            "报告的处理状态已变化，不能进行此操作",
            "The report is not in a state that allows this",
            extra={"report_status": status},  # not "status": that is the HTTP status (RFC 9457)
        )


def _note(value: str, field: str) -> str:
    text = value.strip()
    if not 2 <= len(text) <= NOTE_MAX:
        raise InvalidInput.field(
            field,
            "note_invalid",
            f"请填写处理意见（2-{NOTE_MAX}字）",
            f"Write a note (2-{NOTE_MAX} characters)",
        )
    return text


def _advance(
    db: Session, actor: Actor, report_id: int, source: str, target: str, **values: Any
) -> tuple[AdverseReaction, DrugOrder]:
    """Guarded ``UPDATE ... WHERE id AND institution AND status = :source``: a second or concurrent
    call finds the report moved on and gets 409 (another institution's report stays 404)."""
    result = db.execute(
        update(AdverseReaction)
        .where(
            AdverseReaction.id == report_id,
            AdverseReaction.institution_id == actor.institution_id,
            AdverseReaction.status == source,
        )
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    report, order = reaction_for_quality(db, actor, report_id)
    db.refresh(report)
    if not result.rowcount:  # type: ignore[attr-defined]
        raise ReportChanged(report.status)
    return report, order


def review(db: Session, actor: Actor, report_id: int, note: str) -> tuple[AdverseReaction, DrugOrder]:
    """评价: quality staff assess a new report and record their note (``new -> reviewed``)."""
    text = _note(note, "body.note")
    report, order = _advance(
        db,
        actor,
        report_id,
        ADR_NEW,
        ADR_REVIEWED,
        reviewed_by=actor.user_id,
        reviewed_at=utcnow(),
        review_note=text,
    )
    audit.record(
        db,
        actor.audit(),
        "adverse_reaction.review",
        resource_type="adverse_reaction_report",
        resource_id=report.id,
        patient_id=order.visitor_id,
        detail={"order_id": order.id, "to": ADR_REVIEWED},
    )
    return report, order


def report_nationally(
    db: Session, actor: Actor, report_id: int, report_no: str, note: str | None
) -> tuple[AdverseReaction, DrugOrder]:
    """上报: a reviewed report was filed with the national ADR monitoring system under its number
    (``reviewed -> reported``); an optional note is appended to the review note."""
    number = report_no.strip()
    if not NATIONAL_REPORT_NO.fullmatch(number):
        raise InvalidInput.field(
            "body.report_no",
            "report_no_invalid",
            "上报编号为1-64位字母、数字或“-”",
            "The report number has 1-64 letters, digits or '-'",
        )
    extra = _note(note, "body.note") if note is not None and note.strip() else None
    current = reaction_for_quality(db, actor, report_id)[0]
    values: dict[str, Any] = {
        "national_report_no": number,
        "national_reported_by": actor.user_id,
        "national_reported_at": utcnow(),
    }
    if extra is not None:
        # One encrypted note column: the report's note follows the review's (the guard below keeps
        # this read-then-write safe: only the call that moves the report writes it).
        values["review_note"] = f"{current.review_note or ''}\n\n{extra}".strip()
    report, order = _advance(db, actor, report_id, ADR_REVIEWED, ADR_REPORTED, **values)
    audit.record(
        db,
        actor.audit(),
        "adverse_reaction.national_report",
        resource_type="adverse_reaction_report",
        resource_id=report.id,
        patient_id=order.visitor_id,
        detail={"order_id": order.id, "to": ADR_REPORTED, "report_no": number},
    )
    return report, order
