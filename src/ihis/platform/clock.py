"""Time: always aware, stored UTC, shown in the hospital's zone (Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def local_today() -> dt.date:
    """Today's date at the hospital."""
    return dt.datetime.now(HOSPITAL_TZ).date()
