"""Create the schema for a test run: every model's table plus the database-side extras."""

from __future__ import annotations

from sqlalchemy import Engine

from ihis.platform.db import Base
from ihis.platform.models_registry import import_all_models


def create_schema(engine: Engine) -> None:
    import_all_models()
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        Base.metadata.create_all(conn)
        from ihis.platform import db_extras

        db_extras.install(conn)
