"""The order's moves: one guarded ``UPDATE ... WHERE id = :id AND status IN (:from)`` each (ARCHITECTURE
principle 2), a timeline row and an audit entry per move that happened; a lost race changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ihis.drug_orders.models import DrugOrder, DrugOrderEvent
from ihis.identity.access import Actor
from ihis.notifications.channels import Link
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, NotFound

RESOURCE = "drug_order"
PATIENT_ROUTE = "/drug-orders/{id}"


class OrderChanged(Conflict):
    code = "order_state_changed"

    def __init__(self, status: str | None = None) -> None:
        super().__init__(
            "订单状态已变化，不能进行此操作",
            "The order is not in a state that allows this",
            extra={"order_status": status} if status else None,
        )


def system_context(institution_id: int, source: str) -> AuditContext:
    """The audit actor of a job or an outbox handler."""
    return AuditContext(
        actor_id=None,
        actor_role="system",
        actor_name=source,
        institution_id=institution_id,
        ip=None,
        user_agent=None,
    )


def load(db: Session, order_id: int) -> DrugOrder:
    """The order as stored now (never a stale identity-map copy)."""
    order = db.get(DrugOrder, order_id, populate_existing=True)
    if order is None:
        raise NotFound("订单不存在", "Order not found")
    return order


def scoped(db: Session, institution_id: int, order_id: int) -> DrugOrder:
    """An order of this institution, else 404 (another institution's rows are invisible)."""
    order = db.scalar(
        select(DrugOrder)
        .where(DrugOrder.id == order_id, DrugOrder.institution_id == institution_id)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("订单不存在", "Order not found")
    return order


def move(
    db: Session,
    order: DrugOrder,
    sources: Iterable[str],
    target: str,
    *,
    kind: str,
    actor: Actor | None,
    ctx: AuditContext | None = None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Guarded transition with its timeline row and audit entry; True if this call made it."""
    now = utcnow()
    result = db.execute(
        update(DrugOrder)
        .where(DrugOrder.id == order.id, DrugOrder.status.in_(tuple(sources)))
        .values(status=target, version=DrugOrder.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    record_event(db, order, kind, actor, detail)
    context = actor.audit() if actor is not None else ctx
    assert context is not None, "a move is done by someone: an actor or a system context"
    audit.record(
        db,
        context,
        f"drug_order.{kind}",
        resource_type=RESOURCE,
        resource_id=order.id,
        patient_id=order.visitor_id,
        detail={"to": target, **(detail or {})},
    )
    db.refresh(order)
    return True


def must_move(
    db: Session, order: DrugOrder, sources: Iterable[str], target: str, *, kind: str, actor: Actor, **kw: Any
) -> None:
    """A move asked for by a person: 409 when the order is elsewhere."""
    if not move(db, order, sources, target, kind=kind, actor=actor, **kw):
        raise OrderChanged(load(db, order.id).status)


def record_event(
    db: Session, order: DrugOrder, kind: str, actor: Actor | None, detail: dict[str, Any] | None = None
) -> None:
    """Append one timeline step (``actor`` None: the system)."""
    db.add(
        DrugOrderEvent(
            institution_id=order.institution_id,
            order_id=order.id,
            kind=kind,
            actor_id=actor.user_id if actor else None,
            actor_role=(",".join(sorted(actor.roles)) or actor.kind) if actor else "system",
            occurred_at=utcnow(),
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        )
    )
    db.flush()


def timeline(db: Session, order_id: int) -> list[DrugOrderEvent]:
    return list(
        db.scalars(
            select(DrugOrderEvent).where(DrugOrderEvent.order_id == order_id).order_by(DrugOrderEvent.id)
        )
    )


def link(order: DrugOrder) -> Link:
    return Link(RESOURCE, order.id, PATIENT_ROUTE.format(id=order.id))


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"
