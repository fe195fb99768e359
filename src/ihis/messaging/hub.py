"""Fan-out of room events to live sockets: in-process by default, through Redis pub/sub when configured.

The bus carries ids only (``{"t": "msg", "room": 7, "seq": 42}``), never message content: health
data stays in the database, and every process loads what it delivers — after checking, at delivery
time, that the receiver is still a member of the room (a removed participant stops receiving at
once, even on an open socket). Redis pub/sub is at-most-once; the database is the source of truth,
and a socket that misses an event fills the gap from the database with the next one (or on resume).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, Final

import redis
import structlog

from ihis.platform.admission import DbGate
from ihis.platform.db import Database
from ihis.settings import Settings

log = structlog.get_logger(__name__)

CHANNEL: Final = "ihis:chat:events"
PRESENCE_PREFIX: Final = "ihis:chat:online:"
OUTBOX_LIMIT: Final = 1000  # frames queued for one socket before it is dropped as a slow consumer

Deliverer = Callable[[dict[str, Any], list["Connection"]], Coroutine[Any, Any, None]]


class Connection:
    """One authenticated socket: its account, session, rooms and the last seq sent per room."""

    def __init__(
        self,
        *,
        account_id: int,
        institution_id: int,
        session_id: int,
        database: Database,
        loop: asyncio.AbstractEventLoop,
        gate: DbGate | None = None,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.account_id = account_id
        self.institution_id = institution_id
        self.session_id = session_id
        self.database = database
        self.loop = loop
        # The process's database admission gate (platform/admission.py): socket work queues fairly
        # with HTTP requests instead of busy-polling SQLite's write lock.
        self.gate = gate
        self.rooms: dict[int, int] = {}  # room id -> last seq sent on this socket
        self.lock = asyncio.Lock()  # orders room deliveries (backlog before live)
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self.overflowed = False

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the writer task; a socket that cannot keep up is closed (it resumes)."""
        if self.overflowed:
            return
        try:
            self.outbox.put_nowait(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
        except asyncio.QueueFull:
            self.overflowed = True
            self.outbox.get_nowait()  # make room for the end marker
            self.outbox.put_nowait(None)


class Hub:
    """The process's registry of sockets and its link to the other processes."""

    def __init__(self, redis_url: str | None, presence_ttl_seconds: float = 90.0) -> None:
        self.redis_url = redis_url
        self.presence_ttl = presence_ttl_seconds
        self._lock = threading.Lock()
        self._by_room: dict[int, set[Connection]] = defaultdict(set)
        self._by_account: dict[int, set[Connection]] = defaultdict(set)
        self._deliverer: Deliverer | None = None
        self._redis: redis.Redis[bytes] | None = redis.Redis.from_url(redis_url) if redis_url else None
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        if self._redis is not None:
            self._listener = threading.Thread(target=self._listen, name="ihis-chat-redis", daemon=True)
            self._listener.start()

    def set_deliverer(self, deliverer: Deliverer) -> None:
        """The coroutine that delivers one event to a group of sockets (the WebSocket layer's)."""
        self._deliverer = deliverer

    # --- registry -------------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        with self._lock:
            self._by_account[conn.account_id].add(conn)
        self.touch(conn)

    def unregister(self, conn: Connection) -> None:
        with self._lock:
            self._by_account[conn.account_id].discard(conn)
            if not self._by_account[conn.account_id]:
                del self._by_account[conn.account_id]
            for room in list(conn.rooms):
                self._forget_room(conn, room)
        if self._redis is not None:
            try:
                self._redis.hdel(f"{PRESENCE_PREFIX}{conn.account_id}", conn.id)
            except redis.RedisError:
                log.warning("chat_presence_drop_failed")

    def join(self, conn: Connection, room_id: int) -> None:
        with self._lock:
            self._by_room[room_id].add(conn)

    def leave(self, conn: Connection, room_id: int) -> None:
        with self._lock:
            self._forget_room(conn, room_id)
        conn.rooms.pop(room_id, None)

    def _forget_room(self, conn: Connection, room_id: int) -> None:
        members = self._by_room.get(room_id)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._by_room[room_id]

    def connections_of(self, account_id: int) -> list[Connection]:
        with self._lock:
            return list(self._by_account.get(account_id, ()))

    @property
    def socket_count(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._by_account.values())

    # --- presence (for delayed mode) ---------------------------------------------------------

    def touch(self, conn: Connection) -> None:
        """Announce that ``conn`` is alive (on connect and at every heartbeat)."""
        if self._redis is None:
            return
        key = f"{PRESENCE_PREFIX}{conn.account_id}"
        try:
            pipe = self._redis.pipeline()
            pipe.hset(key, conn.id, str(time.time() + self.presence_ttl))
            pipe.expire(key, int(self.presence_ttl) + 5)
            pipe.execute()
        except redis.RedisError:
            log.warning("chat_presence_touch_failed")

    def is_online(self, account_id: int) -> bool:
        """Whether the account has a live socket in any process."""
        with self._lock:
            if self._by_account.get(account_id):
                return True
        if self._redis is None:
            return False
        try:
            stamps = self._redis.hvals(f"{PRESENCE_PREFIX}{account_id}")
        except redis.RedisError:
            return (
                False  # unknown: treat as offline, so the notice goes out (a spare notice, never a lost one)
            )
        now = time.time()
        return any(float(s) > now for s in stamps)

    # --- fan-out ------------------------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every process (thread-safe; called after commit)."""
        if self._redis is not None:
            try:
                self._redis.publish(CHANNEL, json.dumps(event))
                return
            except redis.RedisError:
                log.warning("chat_publish_failed_local_only", event_type=event.get("t"))
        self.dispatch(event)

    def dispatch(self, event: dict[str, Any]) -> None:
        """Deliver an event to this process's sockets, each group on its own event loop."""
        deliverer = self._deliverer
        if deliverer is None:
            return
        room = event.get("room")
        with self._lock:
            targets = list(self._by_room.get(room, ())) if isinstance(room, int) else []
            if event.get("t") == "member":
                targets += [c for c in self._by_account.get(int(event["account"]), ()) if c not in targets]
        groups: dict[tuple[int, int], list[Connection]] = defaultdict(list)
        for conn in targets:
            groups[(id(conn.loop), id(conn.database))].append(conn)
        for group in groups.values():
            loop = group[0].loop
            if loop.is_closed():
                continue

            def start(g: list[Connection] = group) -> None:
                g[0].loop.create_task(deliverer(event, g))

            loop.call_soon_threadsafe(start)

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            assert self._redis is not None
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(CHANNEL)
                backoff = 0.1
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        self.dispatch(json.loads(message["data"]))
                    except Exception:
                        log.exception("chat_dispatch_failed")
            except redis.RedisError:
                log.warning("chat_redis_listener_reconnecting")
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                pubsub.close()

    def close(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(timeout=3)
        if self._redis is not None:
            self._redis.close()


_hub: Hub | None = None
_hub_lock = threading.Lock()


def configure_hub(settings: Settings) -> Hub:
    """The process's hub for these settings (Redis when ``redis_url`` is set); idempotent."""
    global _hub
    with _hub_lock:
        if _hub is not None and _hub.redis_url == settings.redis_url:
            return _hub
        old, _hub = _hub, Hub(settings.redis_url)
        if old is not None:
            if old._deliverer is not None:
                _hub.set_deliverer(old._deliverer)
            old.close()
        return _hub


def current_hub() -> Hub:
    """The configured hub; before ``configure_hub``, the jobs runtime's settings decide."""
    if _hub is not None:
        return _hub
    from ihis.platform import jobs

    try:
        return configure_hub(jobs.runtime().settings)
    except jobs.JobsRuntimeNotBound:
        return configure_hub(Settings(redis_url=None))
