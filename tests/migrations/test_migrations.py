"""Migrations: one head, upgrade to head on a fresh database, and models == migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from ihis.platform.db import Base, make_engine
from ihis.platform.migrations import alembic_config, upgrade
from ihis.platform.models_registry import import_all_models
from ihis.settings import Settings


@pytest.fixture
def fresh_settings(base_settings: Settings, tmp_path) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Settings pointing at a brand-new empty database of the backend under test."""
    url = make_url(base_settings.database_url)
    if url.get_backend_name() == "sqlite":
        yield base_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"})
        return
    name = f"ihis_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base_settings.model_copy(
            update={"database_url": url.set(database=name).render_as_string(False)}
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated_engine(fresh_settings: Settings) -> Iterator[Engine]:
    upgrade(fresh_settings, "head")
    engine = make_engine(fresh_settings)
    yield engine
    engine.dispose()


def test_migrations_have_a_single_head(base_settings: Settings) -> None:
    script = ScriptDirectory.from_config(alembic_config(base_settings))
    assert len(script.get_heads()) == 1


def test_upgrade_to_head_matches_the_models(migrated_engine: Engine) -> None:
    import_all_models()
    with migrated_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree; run `make migration`: {diff}"


def test_upgrade_creates_every_table(migrated_engine: Engine) -> None:
    import_all_models()
    tables = set(inspect(migrated_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_installs_the_audit_guard(migrated_engine: Engine) -> None:
    """The audit ledger refuses UPDATE and DELETE on a migrated database."""
    with migrated_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = set(
                conn.scalars(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass"))
            )
        else:
            names = set(
                conn.scalars(
                    text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_event'")
                )
            )
    assert names, "no trigger guards audit_event"
