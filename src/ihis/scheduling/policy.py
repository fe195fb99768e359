"""Rules of scheduling: the session state machine, time spans in hospital time, disease tags."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Final

from ihis.platform.clock import HOSPITAL_TZ
from ihis.platform.errors import InvalidInput
from ihis.scheduling.models import SessionStatus

DRAFT, PUBLISHED, STOPPED = (
    SessionStatus.DRAFT.value,
    SessionStatus.PUBLISHED.value,
    SessionStatus.STOPPED.value,
)

# The session state machine (docs/scheduling.md): action -> (allowed from, to). ``None`` keeps the
# status. Every transition is one guarded UPDATE ... WHERE status IN (from) (ARCHITECTURE principle 2).
TRANSITIONS: Final[dict[str, tuple[frozenset[str], str | None]]] = {
    "edit": (frozenset({DRAFT, PUBLISHED}), None),  # only while nothing is booked
    "publish": (frozenset({DRAFT}), PUBLISHED),
    "unpublish": (frozenset({PUBLISHED}), DRAFT),  # only while nothing is booked
    "stop": (frozenset({DRAFT, PUBLISHED}), STOPPED),
    "substitute": (frozenset({DRAFT, PUBLISHED}), None),
    "add_slots": (frozenset({DRAFT, PUBLISHED}), None),
    "shift": (frozenset({DRAFT, PUBLISHED}), None),
}

# A session may be planned at most this far ahead (import and single creation alike).
MAX_DAYS_AHEAD: Final = 366
# ICD-10 code prefix: a category (J44) optionally narrowed by a subcategory (J44.1, E11.901).
_ICD10_PREFIX = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
MAX_TAGS: Final = 20


def allowed_from(action: str) -> frozenset[str]:
    return TRANSITIONS[action][0]


def local_span(day: dt.date, start: dt.time, end: dt.time) -> tuple[dt.datetime, dt.datetime]:
    """Aware UTC start and end of a session given in hospital-local date and times."""
    start_at = dt.datetime.combine(day, start, tzinfo=HOSPITAL_TZ).astimezone(dt.UTC)
    end_at = dt.datetime.combine(day, end, tzinfo=HOSPITAL_TZ).astimezone(dt.UTC)
    return start_at, end_at


def local_date(at: dt.datetime) -> dt.date:
    return at.astimezone(HOSPITAL_TZ).date()


def check_span(field: str, start: dt.time, end: dt.time) -> None:
    """A session ends after it starts, on the same local day."""
    if end <= start:
        raise InvalidInput.field(
            field, "end_before_start", "结束时间须晚于开始时间", "The end time must be after the start time"
        )


def check_day(field: str, day: dt.date, today: dt.date) -> None:
    """Sessions are planned for today up to ``MAX_DAYS_AHEAD`` days ahead."""
    if day < today or day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput.field(
            field,
            "date_out_of_range",
            f"日期须在今天至 {MAX_DAYS_AHEAD} 天内",
            f"The date must be between today and {MAX_DAYS_AHEAD} days ahead",
        )


def normalise_tags(field: str, tags: Iterable[str]) -> str:
    """ICD-10 prefixes, upper case, de-duplicated and sorted, as stored ("I10,J44")."""
    clean = sorted({t.strip().upper() for t in tags if t.strip()})
    if len(clean) > MAX_TAGS:
        raise InvalidInput.field(field, "too_many_tags", f"病种标签最多 {MAX_TAGS} 个", "Too many tags")
    bad = [t for t in clean if not _ICD10_PREFIX.match(t)]
    if bad:
        raise InvalidInput.field(
            field,
            "icd10_invalid",
            f"不是有效的 ICD-10 编码前缀：{', '.join(bad)}",
            f"Not an ICD-10 code prefix: {', '.join(bad)}",
        )
    return ",".join(clean)


def split_tags(text: str) -> list[str]:
    """Tags typed into one cell: separated by commas, semicolons, 、 or spaces."""
    return [t for t in re.split(r"[,;，；、\s]+", text) if t]
