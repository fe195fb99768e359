"""The ledger refuses changes, and ``verify_chain`` finds the first altered, removed or inserted entry.

To tamper, a test switches the guard off inside its own (rolled-back) transaction, as someone with
the table owner's rights could.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditContext, AuditEvent, record, verify_chain
from ihis.platform.audit_chain import HASHED_FIELDS, chain_hash

CTX = AuditContext(
    actor_id=3, actor_role="nurse", actor_name="护士甲", institution_id=1, ip="10.1.1.1", user_agent="ua"
)
TABLE = AuditEvent.__table__


def _ledger_of_five(db: Session) -> list[AuditEvent]:
    for n in range(5):
        record(db, CTX, f"visitor.read.{n}", resource_type="visitor", resource_id=n, patient_id=100 + n)
        db.commit()
    rows = list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(5)))
    return rows[::-1]


def _switch_guards_off(db: Session) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_event_no_update"))
        db.execute(text("DROP TRIGGER audit_event_no_delete"))


def _row(event: AuditEvent, **changes: Any) -> dict[str, Any]:
    row = {name: getattr(event, name) for name in HASHED_FIELDS} | changes
    row["hash"] = changes.get("hash", chain_hash(row))
    return row


def test_update_and_delete_of_entries_are_refused(db: Session) -> None:
    rows = _ledger_of_five(db)
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(update(AuditEvent).where(AuditEvent.id == rows[2].id).values(outcome="failure"))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(delete(AuditEvent).where(AuditEvent.id == rows[2].id))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("TRUNCATE audit_event"))
        else:
            db.execute(text("DELETE FROM audit_event"))  # SQLite's truncate path
    assert verify_chain(db).ok
    assert db.scalar(select(AuditEvent.outcome).where(AuditEvent.id == rows[2].id)) == "success"


def test_installing_the_guards_twice_is_harmless(db: Session) -> None:
    from ihis.platform import db_extras

    db_extras.install(db.connection())
    db_extras.install(db.connection())
    rows = _ledger_of_five(db)
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(delete(AuditEvent).where(AuditEvent.id == rows[0].id))


def test_verify_reports_an_edited_entry_as_altered(db: Session) -> None:
    rows = _ledger_of_five(db)
    _switch_guards_off(db)
    db.execute(update(AuditEvent).where(AuditEvent.id == rows[2].id).values(outcome="failure"))
    report = verify_chain(db)
    assert (report.ok, report.kind, report.seq, report.event_id) == (
        False,
        "altered",
        rows[2].seq,
        rows[2].id,
    )
    assert report.count == rows[2].seq - 1
    assert "altered" in report.describe() and f"seq {rows[2].seq}" in report.describe()


def test_verify_reports_an_edit_with_a_recomputed_hash_at_the_broken_link(db: Session) -> None:
    rows = _ledger_of_five(db)
    _switch_guards_off(db)
    forged = _row(rows[2], patient_id=999)
    db.execute(
        update(AuditEvent).where(AuditEvent.id == rows[2].id).values(patient_id=999, hash=forged["hash"])
    )
    report = verify_chain(db)
    # The entry itself is consistent again, but its successor still links to the original.
    assert (report.kind, report.seq, report.event_id) == ("removed", rows[3].seq, rows[3].id)


def test_verify_reports_a_deleted_entry_as_removed(db: Session) -> None:
    rows = _ledger_of_five(db)
    _switch_guards_off(db)
    db.execute(delete(AuditEvent).where(AuditEvent.id == rows[2].id))
    report = verify_chain(db)
    assert (report.ok, report.kind, report.seq, report.event_id) == (False, "removed", rows[2].seq, None)
    assert f"entries {rows[2].seq} are missing" in (report.message or "")


def test_verify_reports_a_second_entry_at_a_position_as_inserted(db: Session) -> None:
    rows = _ledger_of_five(db)
    _switch_guards_off(db)
    db.execute(text("DROP INDEX uq_audit_event_seq"))
    db.execute(insert(TABLE).values(_row(rows[2], outcome="failure")))
    new_id = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    report = verify_chain(db)
    assert (report.ok, report.kind, report.seq, report.event_id) == (False, "inserted", rows[2].seq, new_id)


def test_verify_reports_an_entry_linked_to_an_earlier_entry_as_inserted(db: Session) -> None:
    # No guard needs to be off: appending is allowed, but a forged link is visible.
    rows = _ledger_of_five(db)
    db.execute(insert(TABLE).values(_row(rows[4], seq=rows[4].seq + 1, prev_hash=rows[3].hash)))
    report = verify_chain(db)
    assert (report.kind, report.seq) == ("inserted", rows[4].seq + 1)
    assert f"links to entry {rows[3].seq}" in (report.message or "")


def test_verify_reports_an_entry_linked_to_an_unknown_predecessor_as_removed(db: Session) -> None:
    rows = _ledger_of_five(db)
    db.execute(insert(TABLE).values(_row(rows[4], seq=rows[4].seq + 1, prev_hash="f" * 64)))
    report = verify_chain(db)
    assert (report.kind, report.seq) == ("removed", rows[4].seq + 1)


def test_an_anchor_reveals_cut_off_newest_entries(db: Session) -> None:
    rows = _ledger_of_five(db)
    anchor = (rows[4].seq, rows[4].hash)
    assert verify_chain(db, anchor=anchor).ok
    _switch_guards_off(db)
    db.execute(delete(AuditEvent).where(AuditEvent.id == rows[4].id))
    assert verify_chain(db).ok  # without an anchor the cut is invisible
    report = verify_chain(db, anchor=anchor)
    assert (report.ok, report.kind, report.seq) == (False, "removed", rows[4].seq)


def test_verify_walks_long_chains_in_batches(db: Session) -> None:
    rows = _ledger_of_five(db)
    assert verify_chain(db, batch_size=2).count == rows[4].seq
    _switch_guards_off(db)
    db.execute(update(AuditEvent).where(AuditEvent.id == rows[3].id).values(action="visitor.delete"))
    assert verify_chain(db, batch_size=2).seq == rows[3].seq
