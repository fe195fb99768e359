"""The audit ledger's chain: the canonical entry hash, verification, and the database guards.

Verification walks the ledger in ``seq`` order and reports the FIRST problem:

- ``inserted`` — a second entry at a position, an entry before the first position, or an entry
  that links to an earlier entry instead of its predecessor (it was slipped in);
- ``removed`` — a gap in ``seq``, or an entry whose predecessor (by ``prev_hash``) is gone;
- ``altered`` — an entry whose stored hash no longer matches its fields.

An unkeyed chain cannot reveal an attacker who rewrites every hash after a change, or who cuts
the newest entries; keep the reported head (``seq`` and ``hash``) outside the database, e.g. in the
operations log or a time-stamp, and pass it back as ``anchor`` (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.orm import Session

from ihis.platform.crypto.suites import CryptoError, hash_hex

GENESIS_HASH: Final = "0" * 64
HASHED_FIELDS: Final = (
    "seq",
    "occurred_at",
    "institution_id",
    "actor_id",
    "actor_role",
    "actor_name",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "ip",
    "user_agent",
    "outcome",
    "detail",
    "hash_alg",
    "prev_hash",
)
# How many recent hashes verification remembers to tell "inserted" links from "removed" ones.
_RECENT: Final = 10_000


def canonical_entry(row: Mapping[Any, Any]) -> bytes:
    """The bytes an entry's hash covers: its fields as sorted-key, compact UTF-8 JSON."""
    doc = {name: row[name] for name in HASHED_FIELDS}
    at: dt.datetime = row["occurred_at"]
    doc["occurred_at"] = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(row: Mapping[Any, Any]) -> str:
    """The entry's hash with its own recorded algorithm (a later suite change keeps old entries valid)."""
    return hash_hex(str(row["hash_alg"]), canonical_entry(row))


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of ``verify_chain``: ok with the count, or the first problem's kind and position."""

    ok: bool
    count: int
    kind: str | None = None  # altered | removed | inserted
    seq: int | None = None
    event_id: int | None = None
    message: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None

    def describe(self) -> str:
        """One line for the operator (``ihis audit verify``)."""
        if self.ok:
            head = f"; head seq {self.head_seq} hash {self.head_hash}" if self.head_seq else ""
            return f"audit chain OK: {self.count} entries{head}"
        where = f"seq {self.seq}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        return f"audit chain BROKEN: {self.kind} at {where}: {self.message}"


def _problem(kind: str, count: int, row: Mapping[Any, Any] | None, seq: int, message: str) -> VerifyReport:
    event_id = None if row is None else int(row["id"])
    return VerifyReport(ok=False, count=count, kind=kind, seq=seq, event_id=event_id, message=message)


def _check(
    row: Mapping[Any, Any], prev_seq: int, prev_hash: str, recent: OrderedDict[str, int], count: int
) -> VerifyReport | None:
    seq = int(row["seq"])
    if seq <= prev_seq:
        return _problem("inserted", count, row, seq, f"a second entry claims position {seq}")
    if seq > prev_seq + 1:
        missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
        return _problem("removed", count, None, prev_seq + 1, f"entries {missing} are missing")
    try:
        intact = chain_hash(row) == row["hash"]
    except CryptoError:
        intact = False
    if not intact:
        return _problem("altered", count, row, seq, "the entry's fields no longer match its hash")
    if row["prev_hash"] != prev_hash:
        if row["prev_hash"] in recent:
            earlier = recent[row["prev_hash"]]
            target = f"entry {earlier}" if earlier else "the start of the chain"
            return _problem(
                "inserted", count, row, seq, f"links to {target} instead of its predecessor {prev_seq}"
            )
        return _problem("removed", count, row, seq, f"its predecessor {prev_seq} was removed or replaced")
    return None


def verify_chain(
    db: Session, *, anchor: tuple[int, str] | None = None, batch_size: int = 1000
) -> VerifyReport:
    """Walk the ledger by ``seq``; report the first altered, removed or inserted entry.

    ``anchor`` = (seq, hash) of a head recorded earlier outside the database: the chain must still
    contain that entry unchanged, which also reveals the newest entries being cut off.
    """
    from ihis.platform.audit import AuditEvent

    table = AuditEvent.__table__
    prev_seq, prev_hash, count = 0, GENESIS_HASH, 0
    recent: OrderedDict[str, int] = OrderedDict()
    last: tuple[int, int] | None = None
    while True:
        stmt = select(table).order_by(table.c.seq, table.c.id).limit(batch_size)
        if last is not None:
            stmt = stmt.where(or_(table.c.seq > last[0], and_(table.c.seq == last[0], table.c.id > last[1])))
        rows = db.execute(stmt).mappings().all()
        for row in rows:
            problem = _check(row, prev_seq, prev_hash, recent, count)
            if problem is not None:
                return problem
            if anchor is not None and int(row["seq"]) == anchor[0] and row["hash"] != anchor[1]:
                return _problem("altered", count, row, anchor[0], "differs from the recorded anchor")
            recent[prev_hash] = prev_seq
            if len(recent) > _RECENT:
                recent.popitem(last=False)
            prev_seq, prev_hash, count = int(row["seq"]), str(row["hash"]), count + 1
            last = (prev_seq, int(row["id"]))
        if len(rows) < batch_size:
            break
    if anchor is not None and prev_seq < anchor[0]:
        return _problem(
            "removed", count, None, prev_seq + 1, f"the chain ends before anchor entry {anchor[0]}"
        )
    head = (prev_seq, prev_hash) if count else (None, None)
    return VerifyReport(ok=True, count=count, head_seq=head[0], head_hash=head[1])


_PG_GUARDS: Final = (
    """
    CREATE OR REPLACE FUNCTION ihis_audit_event_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE OR REPLACE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION ihis_audit_event_append_only()
    """,
    """
    CREATE OR REPLACE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION ihis_audit_event_append_only()
    """,
)
_SQLITE_GUARDS: Final = (
    """
    CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END
    """,
)


def install_db_guards(conn: Connection) -> None:
    """Create (idempotently) the triggers that refuse UPDATE, DELETE (and TRUNCATE) of the ledger."""
    statements: tuple[str, ...]
    if conn.dialect.name == "postgresql":
        statements = _PG_GUARDS
    elif conn.dialect.name == "sqlite":
        statements = _SQLITE_GUARDS
    else:
        raise NotImplementedError(f"no audit guards for {conn.dialect.name}")
    for statement in statements:
        # exec_driver_sql: no bind-parameter parsing of the PL/pgSQL body.
        conn.exec_driver_sql(statement)
