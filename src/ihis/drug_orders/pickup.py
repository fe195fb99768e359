"""Sign-off (签收, BJ 5.3.10): a 6-digit single-use pickup code, attempt-limited, or an ID check recorded
by staff; the result closes the order."""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from ihis.drug_orders import aftercare, lifecycle
from ihis.drug_orders.lifecycle import OrderChanged
from ihis.drug_orders.models import DELIVERED, HANDED_OVER, READY_FOR_PICKUP, SIGNED_OFF, DrugOrder
from ihis.identity.access import Actor
from ihis.identity.models import Visitor
from ihis.platform import audit
from ihis.platform.clock import utcnow
from ihis.platform.crypto.fields import blind_index
from ihis.platform.db import Database
from ihis.platform.errors import IhisError, InvalidInput, RateLimited

MAX_ATTEMPTS: Final = 5
PURPOSE: Final = "drug_order_pickup"
SIGNABLE: Final = (READY_FOR_PICKUP, HANDED_OVER, DELIVERED)


def _digest(order_id: int, code: str) -> str:
    return blind_index(f"{order_id}:{code}", PURPOSE)


def new_code(order_id: int) -> tuple[str, str]:
    """(code, hash): six random digits from the OS generator and their keyed hash."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    return code, _digest(order_id, code)


class PickupLocked(RateLimited):
    code = "pickup_code_locked"

    def __init__(self) -> None:
        super().__init__(
            3600,
            "取药码错误次数过多，已锁定，请核验身份证件签收",
            "Too many wrong pickup codes: locked; sign off with an ID check",
        )


def _wrong(order: DrugOrder, field: str) -> InvalidInput:
    left = max(MAX_ATTEMPTS - order.pickup_attempts, 0)
    return InvalidInput.field(
        field,
        "pickup_code_wrong",
        f"核验不通过，还可尝试{left}次",
        f"Verification failed; {left} attempts left",
    )


def sign_off(
    database: Database,
    actor: Actor,
    order_id: int,
    *,
    code: str | None,
    id_check: bool,
    id_last4: str | None,
) -> int:
    """Verify the code (or the ID check) and close the order; a wrong answer is counted and kept even
    though the request fails (its own unit commits first), 5 wrong -> locked (429)."""
    failure: IhisError | None = None
    with database.unit_of_work() as db:
        order = lifecycle.scoped(db, actor.institution_id, order_id)
        if order.status not in SIGNABLE:
            raise OrderChanged(order.status)
        if order.pickup_attempts >= MAX_ATTEMPTS:
            raise PickupLocked()
        if id_check:
            field = "body.id_last4"
            ok = _id_matches(db, order, id_last4 or "")
            method = "id_check"
        else:
            field = "body.code"
            ok = order.pickup_code_hash is not None and hmac.compare_digest(
                order.pickup_code_hash, _digest(order.id, code or "")
            )
            method = "code"
        if ok:
            lifecycle.must_move(
                db,
                order,
                SIGNABLE,
                SIGNED_OFF,
                kind="signed_off",
                actor=actor,
                detail={"method": method},
                signoff_method=method,
                signed_off_at=utcnow(),
                pickup_code_hash=None,  # single use
                pickup_code=None,
            )
            aftercare.schedule_reminders(db, order)
            return order.id
        failure = _count_wrong(db, actor, order, field, method)
    raise failure


def _count_wrong(db: Session, actor: Actor, order: DrugOrder, field: str, method: str) -> IhisError:
    db.execute(
        update(DrugOrder)
        .where(DrugOrder.id == order.id, DrugOrder.pickup_attempts < MAX_ATTEMPTS)
        .values(pickup_attempts=DrugOrder.pickup_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.refresh(order)
    audit.record(
        db,
        actor.audit(),
        "drug_order.sign_off_failed",
        resource_type=lifecycle.RESOURCE,
        resource_id=order.id,
        patient_id=order.visitor_id,
        outcome="denied",
        detail={"method": method, "attempts": order.pickup_attempts},
    )
    lifecycle.record_event(db, order, "sign_off_failed", actor, {"method": method})
    if order.pickup_attempts >= MAX_ATTEMPTS:
        return PickupLocked()
    return _wrong(order, field)


def _id_matches(db: Session, order: DrugOrder, last4: str) -> bool:
    """The last four characters of the visitor's ID number, as the staff member read them off the card."""
    visitor = db.get(Visitor, order.visitor_id)
    if visitor is None or len(last4) != 4:
        return False
    return hmac.compare_digest(visitor.id_number[-4:].upper(), last4.upper())
