"""Alembic environment: one configuration for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from ihis.platform.db import Base, make_engine
from ihis.platform.models_registry import import_all_models
from ihis.settings import Settings, get_settings

import_all_models()
target_metadata = Base.metadata
settings: Settings = context.config.attributes.get("ihis_settings") or get_settings()


def run_migrations_online() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(settings)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
