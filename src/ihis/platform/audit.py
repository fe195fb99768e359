"""Audit ledger (append-only, hash-chained). INTERFACE — being implemented by the audit helper."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    """Who did it, from where (built by ``Actor.audit()`` or by login code for anonymous callers)."""

    actor_id: int | None
    actor_role: str
    actor_name: str | None
    institution_id: int | None
    ip: str | None
    user_agent: str | None
