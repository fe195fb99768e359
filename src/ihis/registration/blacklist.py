"""The no-show blacklist (BJ 5.6.9; DOMAIN §3): N no-shows within the window block booking for D
days; the patient may appeal; operations review appeals and lift blocks. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from ihis.identity.access import Actor
from ihis.identity.models import UserAccount
from ihis.platform import audit
from ihis.platform.audit import AuditContext
from ihis.platform.clock import utcnow
from ihis.platform.errors import Conflict, InvalidInput, NotFound
from ihis.platform.masking import mask_name, mask_phone
from ihis.registration.models import (
    APPEAL_APPROVED,
    APPEAL_PENDING,
    APPEAL_REJECTED,
    BLOCK_ACTIVE,
    BLOCK_EXPIRED,
    BLOCK_LIFTED,
    NO_SHOW,
    BlockAppeal,
    BookingBlock,
    Registration,
)
from ihis.settings import Settings

RESOURCE = "booking_block"


def job_context(institution_id: int | None, job: str) -> AuditContext:
    """Who acted when a job did: the system, inside the institution the rows belong to."""
    return AuditContext(
        actor_id=None,
        actor_role="system",
        actor_name=job,
        institution_id=institution_id,
        ip=None,
        user_agent=None,
    )


def _rowcount(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def _active(institution_id: int, account_id: int, now: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        BookingBlock.institution_id == institution_id,
        BookingBlock.account_id == account_id,
        BookingBlock.status == BLOCK_ACTIVE,
        BookingBlock.ends_at > now,
    ]


def active_block(db: Session, institution_id: int, account_id: int, now: dt.datetime) -> BookingBlock | None:
    """The block barring this account from booking now, if any (an elapsed one no longer counts)."""
    return db.scalar(select(BookingBlock).where(*_active(institution_id, account_id, now)))


def block_if_due(
    db: Session, institution_id: int, account_id: int, now: dt.datetime, settings: Settings
) -> BookingBlock | None:
    """After a no-show: block the account when it has N no-shows in the window and no active block."""
    since = now - dt.timedelta(days=settings.no_show_window_days)
    already = db.scalar(
        select(BookingBlock.id).where(
            BookingBlock.institution_id == institution_id,
            BookingBlock.account_id == account_id,
            BookingBlock.status == BLOCK_ACTIVE,
        )
    )
    if already is not None:
        return None
    # Only no-shows after the last block ended count again: one set of no-shows blocks once.
    last_end = db.scalar(
        select(func.max(func.coalesce(BookingBlock.lifted_at, BookingBlock.ends_at))).where(
            BookingBlock.institution_id == institution_id, BookingBlock.account_id == account_id
        )
    )
    counted_since = max(since, last_end) if last_end is not None else since
    ids = list(
        db.scalars(
            select(Registration.id)
            .where(
                Registration.institution_id == institution_id,
                Registration.account_id == account_id,
                Registration.status == NO_SHOW,
                Registration.no_show_at > counted_since,
            )
            .order_by(Registration.id)
        )
    )
    if len(ids) < settings.no_show_limit:
        return None
    block = BookingBlock(
        institution_id=institution_id,
        account_id=account_id,
        reason="no_show",
        no_show_count=len(ids),
        registration_ids=json.dumps(ids),
        started_at=now,
        ends_at=now + dt.timedelta(days=settings.booking_block_days),
        status=BLOCK_ACTIVE,
    )
    try:
        with db.begin_nested():
            db.add(block)
            db.flush()
    except IntegrityError:
        return None  # a concurrent run blocked the account first
    audit.record(
        db,
        job_context(institution_id, "no-show-job"),
        "booking_block.create",
        resource_type=RESOURCE,
        resource_id=block.id,
        detail={"account_id": account_id, "no_shows": ids, "ends_at": block.ends_at.isoformat()},
    )
    return block


def expire_blocks(db: Session, now: dt.datetime) -> int:
    """Mark elapsed blocks expired (the check already ignores them; this keeps the list honest)."""
    rows = db.execute(
        select(BookingBlock.id, BookingBlock.institution_id).where(
            BookingBlock.status == BLOCK_ACTIVE, BookingBlock.ends_at <= now
        )
    ).all()
    expired = 0
    for block_id, institution_id in rows:
        moved = _rowcount(
            db.execute(
                update(BookingBlock)
                .where(BookingBlock.id == block_id, BookingBlock.status == BLOCK_ACTIVE)
                .values(status=BLOCK_EXPIRED, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if moved:
            expired += 1
            audit.record(
                db,
                job_context(institution_id, "no-show-job"),
                "booking_block.expire",
                resource_type=RESOURCE,
                resource_id=block_id,
            )
    return expired


# --- the patient's side ---------------------------------------------------------------------------


def my_block(db: Session, actor: Actor) -> tuple[BookingBlock | None, list[BlockAppeal]]:
    """The caller's current block (if any) and their appeals, newest first."""
    block = active_block(db, actor.institution_id, actor.user_id, utcnow())
    appeals = list(
        db.scalars(
            select(BlockAppeal)
            .where(
                BlockAppeal.institution_id == actor.institution_id, BlockAppeal.account_id == actor.user_id
            )
            .order_by(BlockAppeal.id.desc())
        )
    )
    return block, appeals


def appeal(db: Session, actor: Actor, reason: str) -> BlockAppeal:
    """The patient appeals their active block (one pending appeal at a time)."""
    text = reason.strip()
    if not 5 <= len(text) <= 500:
        raise InvalidInput.field(
            "body.reason", "reason_length", "申诉理由需5至500字", "The reason must be 5-500 characters"
        )
    block = active_block(db, actor.institution_id, actor.user_id, utcnow())
    if block is None:
        raise Conflict("当前没有预约限制", "You are not blocked from booking")
    row = BlockAppeal(
        institution_id=actor.institution_id,
        block_id=block.id,
        account_id=actor.user_id,
        reason=text,
        status=APPEAL_PENDING,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        raise Conflict("已有申诉正在审核", "An appeal is already under review") from None
    audit.record(
        db,
        actor.audit(),
        "booking_block.appeal",
        resource_type=RESOURCE,
        resource_id=block.id,
        detail={"appeal_id": row.id},
    )
    return row


# --- operations -------------------------------------------------------------------------------------


def list_blocks(
    db: Session, actor: Actor, status: str | None, *, offset: int, limit: int
) -> tuple[list[BookingBlock], int]:
    """Blocks of the institution, newest first."""
    conditions: list[ColumnElement[bool]] = [BookingBlock.institution_id == actor.institution_id]
    if status:
        conditions.append(BookingBlock.status == status)
    total = db.scalar(select(func.count()).select_from(BookingBlock).where(*conditions)) or 0
    rows = db.scalars(
        select(BookingBlock)
        .where(*conditions)
        .order_by(BookingBlock.started_at.desc(), BookingBlock.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


def pending_appeals(db: Session, block_ids: list[int]) -> dict[int, BlockAppeal]:
    if not block_ids:
        return {}
    rows = db.scalars(
        select(BlockAppeal).where(BlockAppeal.block_id.in_(block_ids), BlockAppeal.status == APPEAL_PENDING)
    )
    return {row.block_id: row for row in rows}


def _block(db: Session, actor: Actor, block_id: int) -> BookingBlock:
    block = db.scalar(
        select(BookingBlock).where(
            BookingBlock.id == block_id, BookingBlock.institution_id == actor.institution_id
        )
    )
    if block is None:
        raise NotFound("黑名单记录不存在", "Block not found")
    return block


def _lift(db: Session, actor: Actor, block_id: int, reason: str) -> bool:
    now = utcnow()
    return bool(
        _rowcount(
            db.execute(
                update(BookingBlock)
                .where(
                    BookingBlock.id == block_id,
                    BookingBlock.institution_id == actor.institution_id,
                    BookingBlock.status == BLOCK_ACTIVE,
                )
                .values(
                    status=BLOCK_LIFTED,
                    lifted_by=actor.user_id,
                    lifted_at=now,
                    lift_reason=reason,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        )
    )


def _reason(value: str, field: str) -> str:
    text = value.strip()
    if not 2 <= len(text) <= 200:
        raise InvalidInput.field(
            field, "reason_length", "请填写2至200字的理由", "Give a reason of 2-200 characters"
        )
    return text


def lift(db: Session, actor: Actor, block_id: int, reason: str) -> BookingBlock:
    """Operations lift an active block by hand (解除黑名单), with a reason."""
    text = _reason(reason, "body.reason")
    _block(db, actor, block_id)
    if not _lift(db, actor, block_id, text):
        raise Conflict("该记录已解除或已到期", "The block is no longer active")
    audit.record(
        db,
        actor.audit(),
        "booking_block.lift",
        resource_type=RESOURCE,
        resource_id=block_id,
        detail={"reason": text},
    )
    return _block(db, actor, block_id)


def decide_appeal(db: Session, actor: Actor, appeal_id: int, approve: bool, note: str) -> BlockAppeal:
    """Approve (lifts the block) or reject an appeal, with a note; once only."""
    text = _reason(note, "body.note")
    row = db.scalar(
        select(BlockAppeal).where(
            BlockAppeal.id == appeal_id, BlockAppeal.institution_id == actor.institution_id
        )
    )
    if row is None:
        raise NotFound("申诉不存在", "Appeal not found")
    now = utcnow()
    decided = _rowcount(
        db.execute(
            update(BlockAppeal)
            .where(BlockAppeal.id == appeal_id, BlockAppeal.status == APPEAL_PENDING)
            .values(
                status=APPEAL_APPROVED if approve else APPEAL_REJECTED,
                decided_by=actor.user_id,
                decided_at=now,
                decision_note=text,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if not decided:
        raise Conflict("该申诉已处理", "The appeal was already decided")
    if approve:
        _lift(db, actor, row.block_id, f"申诉通过：{text}"[:200])
    audit.record(
        db,
        actor.audit(),
        "booking_block.appeal_decide",
        resource_type=RESOURCE,
        resource_id=row.block_id,
        detail={"appeal_id": appeal_id, "approved": approve, "note": text},
    )
    db.refresh(row)
    return row


def account_briefs(db: Session, account_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
    """Masked name and phone of patient accounts, for the operations list."""
    if not account_ids:
        return {}
    rows = db.scalars(
        select(UserAccount).options(undefer(UserAccount.phone)).where(UserAccount.id.in_(set(account_ids)))
    )
    return {a.id: (mask_name(a.display_name), mask_phone(a.phone)) for a in rows}
