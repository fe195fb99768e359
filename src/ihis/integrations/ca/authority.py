"""The sandbox root CA and TSA key pairs: created once per installation and stored.

The first process to need one inserts it (ON CONFLICT DO NOTHING) and everyone reads the row that
won, so the API and the worker agree. Production never uses this module (sandbox is refused there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ihis.integrations.ca import pki
from ihis.integrations.ca.models import SandboxCaAuthority
from ihis.platform.clock import utcnow

ROOT: Final = "root"
TSA: Final = "tsa"
ROOT_NAME: Final = "IHIS Sandbox Hospital Root CA"
TSA_NAME: Final = "IHIS Sandbox TSA"
TSA_CERT_DAYS: Final = 365 * 10


@dataclass(frozen=True)
class AuthorityKeys:
    """A private key and its certificate (PEM)."""

    key_pem: str
    cert_pem: str


def _ensure(db: Session, name: str) -> AuthorityKeys:
    row = db.scalar(select(SandboxCaAuthority).where(SandboxCaAuthority.name == name))
    if row is None:
        now = utcnow()
        if name == ROOT:
            key_pem, cert_pem = pki.make_root(ROOT_NAME, now)
        else:
            root = _ensure(db, ROOT)
            key = pki.new_tsa_key()
            cert = pki.issue(
                root.key_pem,
                root.cert_pem,
                key.public_key(),
                common_name=TSA_NAME,
                organization="IHIS Sandbox",
                staff_no=None,
                now=now,
                days=TSA_CERT_DAYS,
                time_stamping=True,
            )
            key_pem, cert_pem = pki.private_pem(key), pki.cert_pem(cert)
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.execute(
            insert(SandboxCaAuthority)
            .values(name=name, key_pem=key_pem, cert_pem=cert_pem, created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = db.scalars(select(SandboxCaAuthority).where(SandboxCaAuthority.name == name)).one()
    return AuthorityKeys(key_pem=row.key_pem, cert_pem=row.cert_pem)


def root(db: Session) -> AuthorityKeys:
    """The sandbox root CA (created in ``db``'s transaction on first use)."""
    return _ensure(db, ROOT)


def tsa(db: Session) -> AuthorityKeys:
    """The sandbox TSA's key and certificate (issued by the root, EKU timeStamping)."""
    return _ensure(db, TSA)
