"""Room events leave the process only after the transaction that caused them has committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ihis.platform.db import on_commit


def publish_after_commit(db: Session, event: dict[str, Any]) -> None:
    """Hand ``event`` to the fan-out once ``db`` commits (dropped on rollback: nothing to announce)."""
    from ihis.messaging.hub import current_hub

    on_commit(db, lambda: current_hub().publish(event))
