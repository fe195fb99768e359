"""Guarded (conditional) UPDATEs: how many rows the guard let through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def moved(db: Session, statement: Executable) -> int:
    """Execute a conditional UPDATE and return the number of rows it changed (0: the guard failed)."""
    result: Any = db.execute(statement)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
