"""The audit ledger: entries chained at commit, in the business transaction, never lost by reads."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.platform.audit import AuditContext, AuditEvent, record, record_independent, verify_chain
from ihis.platform.audit_chain import GENESIS_HASH, HASHED_FIELDS, canonical_entry, chain_hash
from ihis.settings import CryptoSuite, Settings
from tests.conftest import TransactionalDatabase
from tests.factories_crypto import crypto_settings

CTX = AuditContext(
    actor_id=7, actor_role="doctor", actor_name="张医生", institution_id=1, ip="10.0.0.1", user_agent="pytest"
)


def _head(db: Session) -> int:
    return int(db.scalar(select(func.max(AuditEvent.seq))) or 0)


def _after(db: Session, seq: int) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def test_committed_entries_form_a_contiguous_chain(db: Session) -> None:
    start = _head(db)
    record(db, CTX, "visitor.read", resource_type="visitor", resource_id=5, patient_id=9)
    record(
        db,
        CTX,
        "visitor.update",
        resource_type="visitor",
        resource_id=5,
        patient_id=9,
        detail={"b": 1, "a": "x"},
    )
    db.commit()
    record(db, CTX, "auth.logout", resource_type="session")
    db.commit()
    rows = _after(db, start)
    assert [r.seq for r in rows] == [start + 1, start + 2, start + 3]
    assert [r.action for r in rows] == ["visitor.read", "visitor.update", "auth.logout"]
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash
    first = rows[0]
    assert first.resource_id == "5" and first.patient_id == 9 and first.institution_id == 1
    assert first.actor_name == "张医生" and first.ip == "10.0.0.1" and first.outcome == "success"
    assert rows[1].detail == '{"a":"x","b":1}'  # canonical JSON, hashed as stored
    report = verify_chain(db)
    assert report.ok and report.count == start + 3 and report.head_hash == rows[-1].hash


def test_the_first_entry_links_to_the_genesis_hash(db: Session) -> None:
    record(db, CTX, "x.y", resource_type="x")
    db.commit()
    first = db.scalars(select(AuditEvent).order_by(AuditEvent.seq).limit(1)).one()
    assert first.seq == 1 and first.prev_hash == GENESIS_HASH


def test_the_hash_is_the_suite_digest_of_canonical_json_covering_every_field(db: Session) -> None:
    record(db, CTX, "visitor.read", resource_type="visitor", resource_id="5", detail={"k": "v"})
    db.commit()
    row = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    fields = {name: getattr(row, name) for name in HASHED_FIELDS}
    assert row.hash_alg == "sha256"
    assert row.hash == hashlib.sha256(canonical_entry(fields)).hexdigest()
    doc = json.loads(canonical_entry(fields))
    assert set(doc) == set(HASHED_FIELDS) and doc["occurred_at"].endswith("Z")
    at = row.occurred_at
    for name in HASHED_FIELDS:
        changed = dict(fields)
        if name == "occurred_at":
            changed[name] = at.replace(microsecond=(at.microsecond + 1) % 1_000_000)
        elif name == "hash_alg":
            changed[name] = "sm3"
        elif isinstance(fields[name], int):
            changed[name] = fields[name] + 1
        else:
            changed[name] = (fields[name] or "") + "!"
        assert chain_hash(changed) != row.hash, name


def test_gm_entries_are_hashed_with_sm3_and_the_chain_survives_a_suite_change(
    settings: Settings, db: Session
) -> None:
    record(db, CTX, "a.b", resource_type="x")
    db.commit()
    with crypto_settings(settings, crypto_suite=CryptoSuite.GM):
        record(db, CTX, "a.c", resource_type="x")
        db.commit()
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert last.hash_alg == "sm3"
    assert verify_chain(db).ok


def test_an_entry_rolls_back_with_the_business_change(database: TransactionalDatabase, db: Session) -> None:
    start = _head(db)
    record(db, CTX, "visitor.update", resource_type="visitor")
    db.rollback()
    db.commit()
    with pytest.raises(RuntimeError), database.unit_of_work() as work:
        record(work, CTX, "visitor.update", resource_type="visitor")
        raise RuntimeError("business rule broken")
    assert _after(db, start) == []


def test_a_rolled_back_savepoint_drops_only_its_own_entries(db: Session) -> None:
    start = _head(db)
    record(db, CTX, "outer.before", resource_type="x")
    savepoint = db.begin_nested()
    record(db, CTX, "inner.undone", resource_type="x")
    savepoint.rollback()
    kept = db.begin_nested()
    record(db, CTX, "inner.kept", resource_type="x")
    kept.commit()
    record(db, CTX, "outer.after", resource_type="x")
    db.commit()
    assert [e.action for e in _after(db, start)] == ["outer.before", "inner.kept", "outer.after"]


def test_a_read_unit_persists_its_audited_reads_after_it_closes(
    database: TransactionalDatabase, db: Session
) -> None:
    start = _head(db)
    with database.unit_of_work(write=False) as reader:
        record(reader, CTX, "visitor.read_full", resource_type="visitor", resource_id=3, patient_id=3)
    assert [e.action for e in _after(db, start)] == ["visitor.read_full"]
    assert verify_chain(db).ok


def test_a_failed_read_unit_records_nothing(database: TransactionalDatabase, db: Session) -> None:
    start = _head(db)
    with pytest.raises(LookupError), database.unit_of_work(write=False) as reader:
        record(reader, CTX, "visitor.read_full", resource_type="visitor")
        raise LookupError("nothing was shown")
    assert _after(db, start) == []


def test_an_independent_event_stays_recorded_when_the_request_fails(
    database: TransactionalDatabase, db: Session
) -> None:
    start = _head(db)
    with pytest.raises(PermissionError), database.unit_of_work() as work:
        record(work, CTX, "account.update", resource_type="account")
        record_independent(
            database, CTX, "auth.login_failed", resource_type="account", outcome="failure", after=work
        )
        raise PermissionError("wrong password")
    record_independent(database, CTX, "auth.locked", resource_type="account", outcome="failure")
    events = _after(db, start)
    assert [(e.action, e.outcome) for e in events] == [
        ("auth.login_failed", "failure"),
        ("auth.locked", "failure"),
    ]
    assert verify_chain(db).ok


def test_long_values_are_clipped_before_hashing_so_they_still_verify(db: Session) -> None:
    ctx = AuditContext(
        actor_id=None,
        actor_role="anonymous",
        actor_name="名" * 100,
        institution_id=None,
        ip=None,
        user_agent="U" * 999,
    )
    start = _head(db)
    record(db, ctx, "auth.login_failed", resource_type="account", resource_id="r" * 100, outcome="failure")
    db.commit()
    (event,) = _after(db, start)
    assert len(event.user_agent or "") == 255 and len(event.actor_name or "") == 64
    assert verify_chain(db).ok


def test_an_entry_needs_an_action_and_a_resource_type(db: Session) -> None:
    with pytest.raises(ValueError):
        record(db, CTX, "", resource_type="x")
    with pytest.raises(ValueError):
        record(db, CTX, "a.b", resource_type="")
