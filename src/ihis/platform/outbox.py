"""Outbox. INTERFACE — being implemented by the jobs helper."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def emit(db: Session, topic: str, payload: dict[str, Any], *, key: str | None = None) -> None:
    """Write a domain event in the current transaction; dispatched to its handlers after commit."""
