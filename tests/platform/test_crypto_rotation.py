"""``ihis keys rotate``: every encrypted column converges on the active key, in batches, idempotently."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ihis.identity.models import UserAccount
from ihis.platform.audit import AuditEvent
from ihis.platform.crypto.fields import rotate_keys
from ihis.platform.crypto.rotation import encrypted_columns
from ihis.settings import CryptoSuite, Settings
from tests.conftest import TransactionalDatabase
from tests.factories import make_institution, make_patient
from tests.factories_crypto import KEY_A, KEY_B, crypto_settings


def _stored_phones(db: Session, ids: list[int]) -> list[str]:
    rows = db.execute(text("SELECT id, phone FROM user_account ORDER BY id")).all()
    return [phone for row_id, phone in rows if row_id in ids]


def test_rotation_finds_the_encrypted_columns_of_every_model() -> None:
    names = {f"{table.name}.{column.name}" for table, column in encrypted_columns()}
    assert {"user_account.phone", "user_account.totp_secret", "visitor.id_number", "visitor.phone"} <= names


def test_rotation_reencrypts_old_tokens_under_the_active_key(
    settings: Settings, database: TransactionalDatabase, db: Session
) -> None:
    with crypto_settings(settings, field_keys=f"old:{KEY_A}"):
        inst = make_institution(db)
        patients = [make_patient(db, inst, phone=f"1301234568{n}") for n in range(3)]
        db.commit()
    ids = [p.id for p in patients]
    assert all(t.startswith("v1:intl:old:") for t in _stored_phones(db, ids))

    with crypto_settings(settings, field_keys=f"new:{KEY_B},old:{KEY_A}"):
        counts = rotate_keys(database, batch_size=2)  # several batches
        assert counts["user_account.phone"] == 3
        assert counts["visitor.id_number"] == 0
        assert all(t.startswith("v1:intl:new:") for t in _stored_phones(db, ids))
        # Idempotent: a second run finds nothing left to do.
        assert set(rotate_keys(database).values()) == {0}

    # The old key can now be dropped: every value still reads back.
    with crypto_settings(settings, field_keys=f"new:{KEY_B}"):
        db.expire_all()
        phones = db.scalars(select(UserAccount.phone).where(UserAccount.id.in_(ids)).order_by(UserAccount.id))
        assert list(phones) == [f"1301234568{n}" for n in range(3)]


def test_rotation_also_moves_values_to_a_new_suite(
    settings: Settings, database: TransactionalDatabase, db: Session
) -> None:
    with crypto_settings(settings, field_keys=f"k:{KEY_A}"):
        inst = make_institution(db)
        patient = make_patient(db, inst, phone="13912345678")
        db.commit()
    with crypto_settings(settings, crypto_suite=CryptoSuite.GM, field_keys=f"k:{KEY_A}"):
        assert rotate_keys(database)["user_account.phone"] == 1
        assert _stored_phones(db, [patient.id])[0].startswith("v1:gm:k:")
        db.expire_all()
        assert db.scalar(select(UserAccount.phone).where(UserAccount.id == patient.id)) == "13912345678"


def test_rotation_is_recorded_in_the_audit_ledger(
    settings: Settings, database: TransactionalDatabase, db: Session
) -> None:
    with crypto_settings(settings, field_keys=f"k9:{KEY_B}"):
        rotate_keys(database)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "keys.rotate")).one()
    assert event.resource_id == "k9" and event.actor_role == "system" and event.institution_id is None
