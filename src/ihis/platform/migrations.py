"""Alembic, driven from code: ``ihis migrate`` and the tests use the same configuration."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ihis.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["ihis_settings"] = settings
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the configured database to ``revision``."""
    command.upgrade(alembic_config(settings), revision)


def autogenerate(message: str) -> None:
    """Write a new revision from the difference between the models and head (scratch SQLite)."""
    import tempfile

    from ihis.settings import Environment

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Settings(env=Environment.DEVELOPMENT, database_url=f"sqlite:///{tmp}/scratch.db")
        cfg = alembic_config(scratch)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True)
