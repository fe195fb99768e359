"""A short-lived, in-process read cache of the public slot search (issue 3 §2: "fast").

A page is served from the cache only while all of these hold:

- no change to a session's status, times, place, price, capacity or doctor was committed *by this
  process* since the page was read: every guarded session update (publish, unpublish, edit, stop,
  substitute, add slots, shift) calls :func:`schedule_changed`, which drops every page on commit;
- no slot of a session *on the page* was taken or given back by this process since
  (``hold_slot`` / ``release_slot`` call :func:`slot_changed`); a page filtered on availability
  is dropped on any slot change, since a session elsewhere may have filled up or freed a slot;
- it is younger than the TTL: changes committed by another API process, and names edited in the
  organization domain, show up within the TTL (an in-process cache cannot hear other processes);
- none of the matching sessions has started since (the earliest start bounds the expiry), and the
  hospital date is the same (the booking window moves at local midnight: the date is in the key).

Each page remembers what it saw *before* its read, so a read racing a commit is checked against
that commit before it is kept. Only public pages live here (no personal data). Booking never
trusts a cached page: ``hold_slot`` re-checks status, capacity and start in its conditional UPDATE.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ihis.platform.clock import utcnow
from ihis.platform.db import on_commit

# Pages may lag a change committed by *another* API process by at most this.
DEFAULT_TTL = dt.timedelta(seconds=5)
# ~7 KB per page of 20: about 15 MB at most, whatever an anonymous caller varies (offset, price).
DEFAULT_MAX_ENTRIES = 2048
# Slot changes remembered for checking pages; a page older than the log is dropped.
SLOT_LOG_SIZE = 4096

_lock = threading.Lock()
_schedule_generation = 0
_slot_seq = 0
_slot_log: deque[tuple[int, int]] = deque(maxlen=SLOT_LOG_SIZE)  # (sequence, session id)


@dataclass(frozen=True, slots=True)
class Seen:
    """How far the change counters were when a read started."""

    schedule: int
    slot_seq: int


def seen() -> Seen:
    """The change counters now (take it before the read whose result will be cached)."""
    with _lock:
        return Seen(_schedule_generation, _slot_seq)


def _bump_schedule() -> None:
    global _schedule_generation
    with _lock:
        _schedule_generation += 1


def schedule_changed(db: Session) -> None:
    """Drop this process's cached pages once ``db`` commits (a session's state or times changed)."""
    on_commit(db, _bump_schedule)


def slot_changed(db: Session, session_id: int) -> None:
    """Drop the cached pages showing ``session_id`` (and availability-filtered ones) on commit."""

    def log() -> None:
        global _slot_seq
        with _lock:
            _slot_seq += 1
            _slot_log.append((_slot_seq, session_id))

    on_commit(db, log)


def _slots_changed_since(slot_seq: int) -> tuple[int, set[int] | None]:
    """(current sequence, sessions whose slots changed after ``slot_seq``; None if the log is too short)."""
    with _lock:
        if slot_seq == _slot_seq:
            return _slot_seq, set()
        if not _slot_log or _slot_log[0][0] > slot_seq + 1:
            return _slot_seq, None
        return _slot_seq, {session_id for seq, session_id in _slot_log if seq > slot_seq}


@dataclass(slots=True)
class _Entry:
    seen: Seen
    expires_at: dt.datetime
    body: bytes
    session_ids: frozenset[int]
    counts_matter: bool  # filtered on availability: any slot change may change who is listed

    def still_true(self) -> bool:
        if self.seen.schedule != _schedule_generation:
            return False
        now_seq, changed = _slots_changed_since(self.seen.slot_seq)
        if changed is None or (changed and (self.counts_matter or not changed.isdisjoint(self.session_ids))):
            return False
        self.seen = Seen(self.seen.schedule, now_seq)  # checked up to here: later checks start from it
        return True


class SearchCache:
    """Serialized search pages by (institution, hospital date, filter, page), LRU-bounded, per app."""

    def __init__(
        self,
        ttl: dt.timedelta = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        """The cached page, or None when absent, expired or possibly changed since it was read."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= self.clock() or not entry.still_true():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.body

    def put(
        self,
        key: Hashable,
        read_from: Seen,
        body: bytes,
        *,
        session_ids: frozenset[int],
        counts_matter: bool,
        earliest_start: dt.datetime | None,
    ) -> None:
        """Keep ``body`` (read after ``read_from``) until the TTL, a change, or the first match starts."""
        # Between half and all of the TTL: pages filled together (after a start or a schedule change)
        # must not all expire together and send every search to the database in the same instant.
        expires_at = self.clock() + self.ttl * random.uniform(0.5, 1.0)
        if earliest_start is not None:
            expires_at = min(expires_at, earliest_start)
        entry = _Entry(read_from, expires_at, body, session_ids, counts_matter)
        if not entry.still_true():
            return  # a change committed while we read may already be missing from the page
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
