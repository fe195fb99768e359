"""Key rotation: re-encrypt every ``EncryptedString`` value not yet under the active suite and key.

Procedure (docs/security.md): put the new key first in ``IHIS_FIELD_KEYS`` and keep the
old ones after it, restart the API processes (new writes use the new key, old tokens still decrypt),
run ``ihis keys rotate`` (idempotent, safe while the system runs), then drop the old keys.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, Text, literal, not_, select, type_coerce, update

from ihis.platform.crypto.fields import EncryptedString, active_token_prefix, decrypt_field, encrypt_field
from ihis.platform.crypto.suites import CryptoError
from ihis.platform.db import Base, Database


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    """Every ``EncryptedString`` column of every model, in table dependency order."""
    from ihis.platform.models_registry import import_all_models

    import_all_models()
    found: list[tuple[Table, Column[str]]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                found.append((table, column))
    return found


def rotate_all(database: Database, *, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt stale values of every encrypted column, in short batches; counts by ``table.column``."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    prefix = active_token_prefix()
    counts = {
        f"{table.name}.{column.name}": _rotate_column(database, table, column, prefix, batch_size)
        for table, column in encrypted_columns()
    }
    _audit_rotation(database, prefix, counts)
    return counts


def _rotate_column(
    database: Database, table: Table, column: Column[str], prefix: str, batch_size: int
) -> int:
    primary = list(table.primary_key.columns)
    if len(primary) != 1:
        raise CryptoError(f"{table.name}: key rotation needs a single-column primary key")
    pk = primary[0]
    # Work on the stored token itself: type_coerce to Text bypasses EncryptedString's processing.
    raw = type_coerce(column, Text)
    rotated = 0
    last: object = None
    while True:
        stmt = (
            select(pk, raw)
            .where(raw.is_not(None), not_(raw.startswith(prefix, autoescape=True)))
            .order_by(pk)
            .limit(batch_size)
        )
        if last is not None:
            stmt = stmt.where(pk > last)
        with database.unit_of_work(write=True) as db:
            rows = db.execute(stmt).all()
            for row_id, old in rows:
                new = encrypt_field(decrypt_field(old))
                # Guarded: a row rewritten meanwhile (by a writer already on the new key) is left alone.
                result = db.execute(
                    update(table).where(pk == row_id, raw == old).values({column.name: literal(new, Text)})
                )
                rotated += int(result.rowcount)  # type: ignore[attr-defined]
        if len(rows) < batch_size:
            return rotated
        last = rows[-1][0]


def _audit_rotation(database: Database, prefix: str, counts: dict[str, int]) -> None:
    from ihis.platform import audit

    _, suite_name, key_id, _ = prefix.split(":")
    audit.record_independent(
        database,
        audit.SYSTEM_CONTEXT,
        "keys.rotate",
        resource_type="field_key",
        resource_id=key_id,
        detail={"suite": suite_name, "reencrypted": counts},
    )
