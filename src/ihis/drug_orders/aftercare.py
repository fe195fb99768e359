"""After sign-off: medication guidance from the prescription and the catalogue's instructions,
adherence and renewal reminders (scheduled notifications), adverse-reaction reports for quality staff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.drug_orders import lifecycle, ordering
from ihis.drug_orders.models import SIGNED_OFF, AdverseReaction, DrugOrder
from ihis.drug_orders.payment import patient_name
from ihis.formulary.models import Drug
from ihis.identity.access import Actor
from ihis.notifications.service import schedule_reminder
from ihis.notifications.templates import Event
from ihis.platform import audit
from ihis.platform.clock import HOSPITAL_TZ, local_today, utcnow
from ihis.platform.errors import Conflict, InvalidInput

SEVERITIES = ("mild", "moderate", "severe")
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


def reactions_for_quality(db: Session, actor: Actor) -> list[tuple[AdverseReaction, DrugOrder]]:
    """Reports of the institution, newest first (the read is audited by the caller)."""
    rows = db.execute(
        select(AdverseReaction, DrugOrder)
        .join(DrugOrder, DrugOrder.id == AdverseReaction.order_id)
        .where(AdverseReaction.institution_id == actor.institution_id)
        .order_by(AdverseReaction.id.desc())
        .limit(200)
    )
    return [(report, order) for report, order in rows]
