"""Background jobs (Huey) and the outbox. INTERFACE — being implemented by the jobs helper."""

from __future__ import annotations

from typing import Any

from ihis.settings import Settings


def start_in_process_consumer(settings: Settings) -> Any:
    return None
