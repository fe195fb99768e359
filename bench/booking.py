"""Booking under contention against a real `ihis serve` on loopback, beside a bare conditional-update ceiling.

    python3 -m uv run python bench/booking.py [--rate 30] [--seconds 10] [--count 600]
        [--concurrency 16] [--storm 200] [--capacity 5] [--per-session 40]
        [--postgres | --database-url postgresql+psycopg://...] [--server-log PATH]

Every request books a fresh patient (consented, verified visitor, HIS evidence, bearer session)
into a session of --capacity slots shared by --per-session bookers, so most answers are the clean
409 ``session_full`` of a lost race. The ceiling is the very UPDATE the booking takes the slot with
(``ihis.scheduling.slots.hold_slot``: ``UPDATE clinic_session SET booked = booked + 1 WHERE id = ?
AND status = 'published' AND booked < capacity AND start_at > now``), each in its own write unit of
work through the same engine settings, from a pool of 40 threads (the server's request thread
pool), no HTTP, against the same database, on fresh sessions with the same contention pattern.

1. offered load  booking, then ceiling, open loop at --rate for --seconds (latency counts from the
                 scheduled send time): P50/P99 side by side
2. saturation    booking, ceiling, and an authenticated patient GET (the stack's floor), each
                 closed loop with --concurrency in flight for --count requests: requests per second
3. storm         --storm bookers released at once on one session (issue 3 section 8: exactly
                 --capacity holds, clean 409s, no 5xx)
The target (developers' guide): booking throughput >= 50 % of the ceiling measured in the same
run. Throughput is compared at saturation: below it both simply keep up with the offered rate and
the ratio reads 1.0 whatever a booking costs. Exit status 1 on a 5xx, a failed or timed-out
request, or a slot counter that disagrees with the holds; a missed target prints MISS, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from booking_world import Booker, World, make_bookers, make_sessions, make_world, tally

from ihis.platform import crypto
from ihis.platform.clock import utcnow
from ihis.platform.db import Database
from ihis.platform.models_registry import import_all_models
from ihis.scheduling.slots import hold_slot
from ihis.settings import Environment, Settings

REPO = Path(__file__).resolve().parents[1]
INSTITUTION = "BENCH-HOSP"
THREADS = 40  # anyio's default thread limiter: how many sync FastAPI endpoints run at once
TARGET = 0.5
TIMEOUT = 30  # seconds a request may take before it counts as failed (status 0)


@dataclass
class Sample:
    status: int
    code: str
    ms: float
    done: float


@dataclass
class Run:
    samples: list[Sample]
    seconds: float  # first scheduled send to last answer

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds if self.seconds > 0 else float("nan")


Send = Callable[[int], Awaitable[tuple[int, str]]]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


@contextmanager
def database_url(args: argparse.Namespace, work: Path) -> Iterator[str]:
    if args.database_url:
        yield args.database_url
    elif args.postgres:
        sys.path.insert(0, str(REPO))
        from tests.support.pg import throwaway_postgres

        pg = Path(tempfile.mkdtemp(prefix="ihis-bench-pg-"))
        with throwaway_postgres(pg) as url:
            yield url
    else:
        yield f"sqlite:///{work / 'bench.db'}"


def server_env(url: str, work: Path, base: str) -> dict[str, str]:
    return {
        **os.environ,
        "IHIS_ENV": "demo",
        "IHIS_DATABASE_URL": url,
        "IHIS_JOBS_PATH": str(work / "jobs.db"),
        "IHIS_PUBLIC_BASE_URL": base,
        "IHIS_LOG_LEVEL": "WARNING",
        "IHIS_WEB_DIST_DIR": str(REPO / "web"),
        "IHIS_DEFAULT_INSTITUTION_CODE": INSTITUTION,
    }


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    base = env["IHIS_PUBLIC_BASE_URL"]
    cli = [sys.executable, "-m", "ihis.cli"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    for _ in range(150):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def _timed(send: Send, i: int, since: float) -> Sample:
    loop = asyncio.get_running_loop()
    try:
        status, code = await send(i)
    except httpx.HTTPError as exc:
        status, code = 0, type(exc).__name__
    now = loop.time()
    return Sample(status, code, (now - since) * 1000, now)


async def open_loop(rate: float | None, total: int, send: Send) -> Run:
    """``total`` sends at ``rate`` per second (None: all released at once); latency from schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + (i / rate if rate else 0)
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_timed(send, i, scheduled)))
    samples = list(await asyncio.gather(*tasks))
    return Run(samples, max((s.done for s in samples), default=start) - start)


async def closed_loop(concurrency: int, total: int, send: Send) -> Run:
    """``total`` sends with exactly ``concurrency`` in flight: the saturated throughput."""
    loop = asyncio.get_running_loop()
    indices = iter(range(total))
    samples: list[Sample] = []

    async def worker() -> None:
        for i in indices:  # one shared iterator: each index is sent once
            samples.append(await _timed(send, i, loop.time()))

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(samples, loop.time() - start)


Load = Callable[[int, Send], Awaitable[Run]]


@dataclass
class Workload:
    """Fresh sessions and bookers: request ``i`` goes to session ``i // per_session`` of each side."""

    booking_sessions: list[int]
    ceiling_sessions: list[int]
    bookers: list[Booker]
    per_session: int
    capacity: int

    @property
    def expected_holds(self) -> int:
        n = len(self.bookers)
        return sum(min(self.capacity, n - k) for k in range(0, n, self.per_session))


def prepare(
    database: Database, world: World, settings: Settings, n: int, per_session: int, capacity: int
) -> Workload:
    sessions = -(-n // per_session)
    return Workload(
        make_sessions(database, world, sessions, capacity),
        make_sessions(database, world, sessions, capacity),
        make_bookers(database, world, settings, n),
        per_session,
        capacity,
    )


def booking_sender(client: httpx.AsyncClient, work: Workload) -> Send:
    async def send(i: int) -> tuple[int, str]:
        who = work.bookers[i]
        body = {
            "session_id": work.booking_sessions[i // work.per_session],
            "visitor_id": who.visitor_id,
            "evidence_id": who.evidence_id,
        }
        r = await client.post(
            "/api/v1/me/registrations", json=body, headers={"Authorization": f"Bearer {who.token}"}
        )
        return r.status_code, "" if r.status_code == 201 else str(r.json().get("code", ""))

    return send


def floor_sender(client: httpx.AsyncClient, work: Workload) -> Send:
    """An authenticated, consent-gated patient read with two small queries: the stack's floor."""

    async def send(i: int) -> tuple[int, str]:
        who = work.bookers[i % len(work.bookers)]
        r = await client.get("/api/v1/me/booking-block", headers={"Authorization": f"Bearer {who.token}"})
        return r.status_code, ""

    return send


def ceiling_sender(database: Database, pool: ThreadPoolExecutor, work: Workload) -> Send:
    def hold(session_id: int) -> tuple[int, str]:
        with database.unit_of_work() as db:
            won = hold_slot(db, session_id, utcnow())
        return (201, "") if won else (409, "session_full")

    async def send(i: int) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, hold, work.ceiling_sessions[i // work.per_session])

    return send


def row(name: str, run: Run) -> dict[str, float]:
    ms = [s.ms for s in run.samples]
    counts = Counter(f"{s.status}{' ' + s.code if s.code else ''}" for s in run.samples)
    out = {"n": len(ms), "rps": run.throughput, "p50": percentile(ms, 50), "p99": percentile(ms, 99)}
    print(
        f"  {name:<34} n={out['n']:<4} {out['rps']:6.1f}/s  p50={out['p50']:7.1f} ms"
        f"  p99={out['p99']:7.1f} ms  max={max(ms, default=0):7.1f} ms  {dict(counts)}"
    )
    return out


def check(database: Database, label: str, work: Workload, booking: Run, ceiling: Run | None) -> list[str]:
    """Errors: failed or 5xx answers; slot counters that disagree with the holds and registrations."""
    problems = []
    bad = [
        s for s in booking.samples + (ceiling.samples if ceiling else []) if s.status == 0 or s.status >= 500
    ]
    if bad:
        kinds = Counter(f"{s.status} {s.code}" for s in bad)
        problems.append(f"{label}: {len(bad)} failed or 5xx answers {dict(kinds)}")
    won = sum(1 for s in booking.samples if s.status == 201)
    held = tally(database, work.booking_sessions)
    expected = work.expected_holds
    if not (won == held.booked == held.live_registrations == expected) or held.over_capacity:
        problems.append(
            f"{label}: {won} x 201, slot counters {held.booked}, live registrations"
            f" {held.live_registrations}, expected {expected}, sessions over capacity {held.over_capacity}"
        )
    if ceiling is not None:
        ceiling_won = sum(1 for s in ceiling.samples if s.status == 201)
        if not ceiling_won == tally(database, work.ceiling_sessions).booked == expected:
            problems.append(f"{label} ceiling: {ceiling_won} holds, expected {expected}")
    return problems


async def phase(
    label: str,
    load: Load,
    client: httpx.AsyncClient,
    database: Database,
    pool: ThreadPoolExecutor,
    work: Workload,
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """The booking over HTTP, then the bare UPDATE, under the same load shape."""
    n = len(work.bookers)
    booking = await load(n, booking_sender(client, work))
    ceiling = await load(n, ceiling_sender(database, pool, work))
    b = row(f"{label}: booking (HTTP)", booking)
    c = row(f"{label}: ceiling (UPDATE)", ceiling)
    return b, c, check(database, label, work, booking, ceiling)


async def run(args: argparse.Namespace, url: str, work_dir: Path) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = server_env(url, work_dir, f"http://127.0.0.1:{port}")
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ihis.cli", "migrate"], env=env, check=True, capture_output=True)
    settings = Settings(
        env=Environment.DEMO, database_url=url, jobs_path=env["IHIS_JOBS_PATH"], run_worker_in_process=False
    )
    crypto.configure(settings)
    import_all_models()
    database = Database(settings)
    started = time.perf_counter()
    world = make_world(database, INSTITUTION)
    per, cap = args.per_session, args.capacity
    warm = prepare(database, world, settings, 2 * per, per, cap)
    steady = prepare(database, world, settings, int(args.rate * args.seconds), per, cap)
    saturated = prepare(database, world, settings, args.count, per, cap)
    storm = prepare(database, world, settings, args.storm, max(args.storm, 1), cap) if args.storm else None
    setup_s = time.perf_counter() - started
    log = Path(args.server_log) if args.server_log else work_dir / "server.log"
    proc = start_server(env, port, log)
    problems: list[str] = []
    try:
        # Idle connections expire on the client before uvicorn's 5 s keep-alive closes them: reusing
        # one the server is closing at that instant fails with ReadError, an artefact of the client.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=500, keepalive_expiry=2)
        base = env["IHIS_PUBLIC_BASE_URL"]
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT) as client:
            with ThreadPoolExecutor(THREADS) as pool:
                print(
                    f"loopback, {os.cpu_count()} cores, {database.dialect}; sessions of {cap} slots,"
                    f" {per} bookers each; setup {setup_s:.1f} s"
                )
                steady_load: Load = functools.partial(open_loop, args.rate)
                await phase("warm-up", steady_load, client, database, pool, warm)
                print(f"phase 1: open loop at {args.rate:g}/s for {args.seconds:g} s (each)")
                b1, c1, p1 = await phase("offered", steady_load, client, database, pool, steady)
                print(f"phase 2: saturation, closed loop with {args.concurrency} in flight (each)")
                saturating: Load = functools.partial(closed_loop, args.concurrency)
                b2, c2, p2 = await phase("saturated", saturating, client, database, pool, saturated)
                floor = await saturating(args.count, floor_sender(client, saturated))
                f2 = row("saturated: GET /me/booking-block", floor)
                if any(s.status != 200 for s in floor.samples):
                    p2.append("floor: GET /api/v1/me/booking-block answered other than 200")
                problems = p1 + p2
                if storm is not None:
                    print(f"phase 3: storm, {args.storm} bookers released at once on one {cap}-slot session")
                    storm_run = await open_loop(None, args.storm, booking_sender(client, storm))
                    row("storm: booking (HTTP)", storm_run)
                    problems += check(database, "storm", storm, storm_run, None)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # a server stuck in a deadlocked request does not stop
            problems.append("the server did not stop within 10 s of SIGTERM (killed)")
            proc.kill()
            proc.wait(10)
        database.dispose()

    ratio = b2["rps"] / c2["rps"]
    print("\nresults")
    print(
        f"  saturated throughput: booking {b2['rps']:.1f}/s / ceiling {c2['rps']:.1f}/s = {ratio:.3f}"
        f"   target >= {TARGET:.2f}: {'PASS' if ratio >= TARGET else 'MISS'}"
    )
    print(
        f"  at {args.rate:g}/s offered: booking p50 {b1['p50']:.1f} / p99 {b1['p99']:.1f} ms;"
        f" ceiling p50 {c1['p50']:.1f} / p99 {c1['p99']:.1f} ms; p50 ratio {b1['p50'] / c1['p50']:.1f}x,"
        f" p99 ratio {b1['p99'] / c1['p99']:.1f}x"
    )
    print(
        f"  saturated latency (closed loop, {args.concurrency} in flight): booking p50 {b2['p50']:.1f} /"
        f" p99 {b2['p99']:.1f} ms; ceiling p50 {c2['p50']:.1f} / p99 {c2['p99']:.1f} ms"
    )
    print(
        f"  stack floor: an authenticated patient GET (auth, consent gate, 2 queries) saturates at"
        f" {f2['rps']:.1f}/s; booking / floor = {b2['rps'] / f2['rps']:.2f}"
    )
    print(
        "  throughput is compared at saturation, where each side does as much as it can: at a fixed"
        " offered rate below saturation both answer at that rate and the ratio would read 1.0"
    )
    if problems:
        print(f"  whole run {time.perf_counter() - began:.0f} s")
        print("\nERRORS")
        for p in problems:
            print(f"  {p}")
        errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
        if errors:
            print(f"  server log: {len(errors)} errors; last: {errors[-1][:400]}")
        return 1
    print(f"  whole run {time.perf_counter() - began:.0f} s")
    print("  no 5xx; every session's slot counter equals its 201s and live registrations; none over capacity")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=30, help="offered bookings per second (phase 1)")
    parser.add_argument("--seconds", type=float, default=10, help="phase 1 duration")
    parser.add_argument("--count", type=int, default=600, help="requests per side in phase 2")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight in phase 2")
    parser.add_argument(
        "--storm", type=int, default=200, help="bookers released at once in phase 3 (0: skip)"
    )
    parser.add_argument("--capacity", type=int, default=5, help="slots per session")
    parser.add_argument("--per-session", type=int, default=40, help="bookers per session")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL cluster")
    parser.add_argument("--server-log", help="keep the server's output here (default: a temporary file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database_url(args, Path(tmp)) as url:
        return asyncio.run(run(args, url, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
