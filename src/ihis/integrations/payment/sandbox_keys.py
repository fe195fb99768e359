"""Credentials of the sandbox channels: generated once per installation, shared through a table.

The first process to need them generates key pairs and inserts them (ON CONFLICT DO NOTHING); every
process then reads the row that won, so the API and the worker sign and verify alike. The keys are
also remembered per process after the first read. Production never uses this module
(``settings.sandbox`` is refused there).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ihis.integrations.payment.models import SandboxPaymentKey
from ihis.integrations.payment.rsa import generate_private_pem, public_pem_of
from ihis.platform.clock import utcnow
from ihis.platform.db import on_commit


@dataclass(frozen=True)
class SandboxCredentials:
    """Both sides of one sandbox channel (the merchant's keys and the channel's keys)."""

    channel: str
    merchant_id: str
    app_id: str
    merchant_private_pem: str
    merchant_public_pem: str
    merchant_serial: str
    channel_private_pem: str
    channel_public_pem: str
    channel_serial: str
    api_key: str


_cache: dict[str, SandboxCredentials] = {}
_lock = threading.Lock()


def _generated(channel: str) -> dict[str, object]:
    prefix = "19" if channel == "wechat" else "2088"
    return {
        "channel": channel,
        "merchant_id": prefix + f"{secrets.randbelow(10**8):08d}",
        "app_id": ("wx" if channel == "wechat" else "2021") + secrets.token_hex(8),
        "merchant_private_pem": generate_private_pem(),
        "merchant_serial": secrets.token_hex(20).upper(),
        "channel_private_pem": generate_private_pem(),
        "channel_serial": secrets.token_hex(20).upper(),
        # WeChat Pay APIv3 key: 32 ASCII characters (AEAD_AES_256_GCM key).
        "api_key": secrets.token_hex(16),
        "created_at": utcnow(),
    }


def sandbox_credentials(db: Session, channel: str) -> SandboxCredentials:
    """The installation's sandbox credentials of ``channel`` (created in ``db``'s transaction if new)."""
    cached = _cache.get(channel)
    if cached is not None:
        return cached
    with _lock:
        row = db.scalar(select(SandboxPaymentKey).where(SandboxPaymentKey.channel == channel))
        inserted = None
        if row is None:
            insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
            inserted = db.execute(
                insert(SandboxPaymentKey)
                .values(**_generated(channel))
                .on_conflict_do_nothing(index_elements=["channel"])
                .returning(SandboxPaymentKey.id)
            ).scalar_one_or_none()
            row = db.scalars(select(SandboxPaymentKey).where(SandboxPaymentKey.channel == channel)).one()
        creds = SandboxCredentials(
            channel=channel,
            merchant_id=row.merchant_id,
            app_id=row.app_id,
            merchant_private_pem=row.merchant_private_pem,
            merchant_public_pem=public_pem_of(row.merchant_private_pem),
            merchant_serial=row.merchant_serial,
            channel_private_pem=row.channel_private_pem,
            channel_public_pem=public_pem_of(row.channel_private_pem),
            channel_serial=row.channel_serial,
            api_key=row.api_key,
        )
        if inserted is None:
            _cache[channel] = creds
        else:
            # Our own row counts for every process only once committed; a rollback must not leave
            # this process with keys nobody else has.
            def remember() -> None:
                _cache.setdefault(channel, creds)

            on_commit(db, remember)
        return creds
