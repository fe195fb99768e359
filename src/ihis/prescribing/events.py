"""The prescription timeline (处方时间线): every step, who and when, never changed."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.platform.clock import utcnow
from ihis.prescribing.models import Prescription, PrescriptionEvent


def record(
    db: Session,
    rx: Prescription,
    kind: str,
    actor: Actor | None,
    detail: dict[str, Any] | None = None,
    *,
    flush: bool = True,
) -> None:
    """Append one step (``actor`` None: the system; ``flush`` False: with the caller's next flush)."""
    db.add(
        PrescriptionEvent(
            institution_id=rx.institution_id,
            prescription_id=rx.id,
            kind=kind,
            actor_id=actor.user_id if actor else None,
            actor_role=(",".join(sorted(actor.roles)) or actor.kind) if actor else "system",
            occurred_at=utcnow(),
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        )
    )
    if flush:
        db.flush()


def timeline(db: Session, rx_id: int) -> list[PrescriptionEvent]:
    return list(
        db.scalars(
            select(PrescriptionEvent)
            .where(PrescriptionEvent.prescription_id == rx_id)
            .order_by(PrescriptionEvent.id)
        )
    )
