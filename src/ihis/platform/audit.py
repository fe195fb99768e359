"""Audit ledger: append-only and hash-chained (ARCHITECTURE principle 6, DOMAIN §10, issue 2 §5).

``record`` stages an entry on the session; when the session's outermost transaction commits, a
``before_commit`` listener appends the staged entries to the chain inside that same transaction, so
an entry exists exactly when the business change it describes does. Each entry's ``hash`` is the
suite's hash (SHA-256 or SM3) of a canonical JSON of all its fields, ``prev_hash`` included.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock taken at commit time,
just before the chain head is read (held for a few milliseconds, released by the commit); on
SQLite every writing transaction already holds the database's single write lock (BEGIN IMMEDIATE).
A unique index on ``seq`` turns any failure of that serialisation into an error, never a fork.

Read-only units of work roll back, so ``Database.unit_of_work(write=False)`` hands their staged
entries to ``write_late`` once the read session is closed. ``record_independent`` is for security
events that must stay recorded although the request fails (login failure, lockout, denial).

Never put personal data (names, phones, ID numbers) into ``detail``: ids only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import structlog
from sqlalchemy import Connection, Index, String, Table, Text, event, insert, select, text
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from ihis.platform.audit_chain import GENESIS_HASH, chain_hash, install_db_guards, verify_chain
from ihis.platform.clock import utcnow
from ihis.platform.crypto import keyring
from ihis.platform.db import Base, BigId, IntPk, UtcDateTime

if TYPE_CHECKING:
    from ihis.platform.db import Database

__all__ = [
    "GENESIS_HASH",
    "SYSTEM_CONTEXT",
    "AuditContext",
    "AuditEvent",
    "install_db_guards",
    "record",
    "record_independent",
    "verify_chain",
]

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key of the chain head: ASCII "IHISAUDT" as a signed 64-bit integer.
CHAIN_LOCK_KEY: Final = 0x4948495341554454

_STAGED: Final = "ihis_audit_staged"
_INDEPENDENT: Final = "ihis_audit_independent"


@dataclass(frozen=True)
class AuditContext:
    """Who did it, from where (built by ``Actor.audit()`` or by login code for anonymous callers)."""

    actor_id: int | None
    actor_role: str
    actor_name: str | None
    institution_id: int | None
    ip: str | None
    user_agent: str | None


# Events of the system itself (key rotation, jobs): no person, no institution.
SYSTEM_CONTEXT: Final = AuditContext(
    actor_id=None, actor_role="system", actor_name="system", institution_id=None, ip=None, user_agent=None
)


class AuditEvent(Base):
    """审计日志 — one entry of the append-only, hash-chained audit ledger."""

    __tablename__ = "audit_event"
    __table_args__ = (
        # Backs "one entry per position" of the chain; a named index (not a table constraint) so
        # that tamper tests can drop it on SQLite too.
        Index("uq_audit_event_seq", "seq", unique=True),
        Index("ix_audit_event_institution_seq", "institution_id", "seq"),
        Index("ix_audit_event_actor_seq", "actor_id", "seq"),
        Index("ix_audit_event_patient_seq", "patient_id", "seq"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
    )

    id: Mapped[IntPk]
    seq: Mapped[int] = mapped_column(BigId)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # No foreign keys: the ledger must outlive anything it mentions.
    institution_id: Mapped[int | None] = mapped_column(BigId)
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_role: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(BigId)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)  # canonical JSON text, hashed as stored
    hash_alg: Mapped[str] = mapped_column(String(8))  # sha256 | sm3: the suite at append time
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def _entry(
    ctx: AuditContext,
    action: str,
    resource_type: str,
    resource_id: str | int | None,
    patient_id: int | None,
    outcome: str,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    if not action or not resource_type or not outcome:
        raise ValueError("audit action, resource_type and outcome are required")
    # Values are clipped to the column sizes here, before hashing, so the stored row hashes alike.
    return {
        "occurred_at": utcnow(),
        "institution_id": ctx.institution_id,
        "actor_id": ctx.actor_id,
        "actor_role": _clip(ctx.actor_role, 255) or "unknown",
        "actor_name": _clip(ctx.actor_name, 64),
        "action": _clip(action, 64),
        "resource_type": _clip(resource_type, 64),
        "resource_id": _clip(None if resource_id is None else str(resource_id), 64),
        "patient_id": patient_id,
        "ip": _clip(ctx.ip, 64),
        "user_agent": _clip(ctx.user_agent, 255),
        "outcome": _clip(outcome, 16),
        "detail": None
        if detail is None
        else json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str),
    }


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
    entry = _entry(ctx, action, resource_type, resource_id, patient_id, outcome, detail)
    # Remember the (innermost) transaction: a rolled-back savepoint drops only its own entries.
    owner = db.get_nested_transaction() or db.get_transaction()
    db.info.setdefault(_STAGED, []).append((owner, entry))


def record_independent(
    database: Database,
    ctx: AuditContext,
    action: str,
    *,
    resource_type: str,
    resource_id: str | int | None = None,
    patient_id: int | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    after: Session | None = None,
) -> None:
    """Record a security event in its own unit of work, whatever becomes of the caller's transaction.

    Without ``after`` it is committed at once. Pass ``after=<the request's session>`` when a writing
    unit of work is open in this request: the entry is then written right after that unit ends,
    committed or not (on SQLite a second writer would otherwise wait on the caller's write lock).
    """
    entry = _entry(ctx, action, resource_type, resource_id, patient_id, outcome, detail)
    if after is not None:
        after.info.setdefault(_INDEPENDENT, []).append(entry)
        return
    write_late(database, [entry], raising=True)


def take_staged(session: Session) -> list[dict[str, Any]]:
    """Remove and return the entries staged on ``session`` (a read unit persists them late)."""
    return [entry for _, entry in session.info.pop(_STAGED, [])]


def take_independent(session: Session) -> list[dict[str, Any]]:
    """Remove and return the entries queued with ``record_independent(..., after=session)``."""
    entries: list[dict[str, Any]] = session.info.pop(_INDEPENDENT, [])
    return entries


def write_late(database: Database, entries: list[dict[str, Any]], *, raising: bool) -> None:
    """Append ``entries`` in a short writing unit of their own (after the caller's session closed)."""
    if not entries:
        return
    try:
        with database.unit_of_work(write=True) as db:
            db.info[_STAGED] = [(None, entry) for entry in entries]
    except Exception:
        # Only the count and actions: entries may name people (actor_name).
        log.exception("audit_write_failed", count=len(entries), actions=[e["action"] for e in entries])
        if raising:
            raise


def _within(owner: SessionTransaction | None, ended: SessionTransaction) -> bool:
    node = owner
    while node is not None:
        if node is ended:
            return True
        node = node.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    staged: list[tuple[SessionTransaction | None, dict[str, Any]]] | None = session.info.get(_STAGED)
    if not staged:
        return
    if previous_transaction.parent is None:
        session.info.pop(_STAGED, None)
        return
    session.info[_STAGED] = [(o, e) for o, e in staged if not _within(o, previous_transaction)]


@event.listens_for(Session, "before_commit")
def _append_staged(session: Session) -> None:
    # A savepoint release is not the end: entries wait for the outermost commit.
    if session.in_nested_transaction() or not session.info.get(_STAGED):
        return
    session.flush()  # the business changes first, so that the chain lock is held only briefly
    entries = take_staged(session)
    if entries:
        append(session.connection(), entries)


def append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Chain ``entries`` onto the ledger's head on ``conn``, inside its open transaction."""
    table = cast(Table, AuditEvent.__table__)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = conn.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)
    hash_alg = keyring.current().suite.hash_name
    rows = []
    for entry in entries:
        seq += 1
        row = {**entry, "seq": seq, "hash_alg": hash_alg, "prev_hash": prev_hash}
        row["hash"] = prev_hash = chain_hash(row)
        rows.append(row)
    conn.execute(insert(table), rows)
