"""Database-side objects that models cannot express (triggers), shared by Alembic and tests."""

from __future__ import annotations

from sqlalchemy import Connection


def install(conn: Connection) -> None:
    """Create triggers and other extras for the connected dialect (idempotent)."""
    from ihis.platform import audit

    installer = getattr(audit, "install_db_guards", None)
    if installer is not None:
        installer(conn)
