"""Login under open-loop load against a real `ihis serve` on loopback (SQLite, demo hospital).

    python3 -m uv run python bench/login.py [--rate 40] [--seconds 15] [--overload 160]

Requests are sent on a fixed schedule whatever the server does (open loop) and latency is taken
from the *scheduled* send time, so a stalled server cannot hide its queue (no coordinated
omission). Phases, all in one run so the ratios compare like with like on a noisy machine:

1. baseline   GET /healthz at the login rate (the cost of the HTTP stack alone)
2. login      patient password login (argon2id m=19 MiB, t=2, p=1) at --rate
3. overload   login at --overload: the excess must be shed with 429 quickly
Then the server's resident memory. Targets (README): login P99 <= 300 ms at 40/s, shed 429 in
< 50 ms, one API process <= 250 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ihis.demo import data
from ihis.identity.passwords import hash_password, verify_password

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Sample:
    status: int
    ms: float


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "IHIS_ENV": "demo",
        "IHIS_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        "IHIS_JOBS_PATH": str(work / "jobs.db"),
        "IHIS_PUBLIC_BASE_URL": base,
        "IHIS_LOG_LEVEL": "WARNING",
        "IHIS_WEB_DIST_DIR": str(REPO / "web"),
        # The benchmark client is one IP: lift the per-IP failure throttle (it counts failures only).
        "IHIS_IP_LOGIN_LIMIT_PER_MINUTE": "100000",
    }
    cli = [sys.executable, "-m", "ihis.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def open_loop(client: httpx.AsyncClient, rate: float, seconds: float, send) -> list[Sample]:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    total = int(rate * seconds)

    async def one(i: int, scheduled: float) -> Sample:
        try:
            response = await send(client, i)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        return Sample(status, (loop.time() - scheduled) * 1000)

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    return list(await asyncio.gather(*tasks))


def healthz(client: httpx.AsyncClient, i: int):  # type: ignore[no-untyped-def]
    return client.get("/healthz")


def login(client: httpx.AsyncClient, i: int):  # type: ignore[no-untyped-def]
    patient = data.PATIENTS[i % len(data.PATIENTS)].owner
    return client.post(
        "/api/v1/auth/patient/login",
        json={"phone": patient.phone, "password": data.PATIENT_PASSWORD, "client": "api"},
    )


def summary(name: str, samples: list[Sample], status: int | None = None) -> dict[str, float]:
    chosen = [s.ms for s in samples if status is None or s.status == status]
    counts: dict[int, int] = {}
    for s in samples:
        counts[s.status] = counts.get(s.status, 0) + 1
    row = {
        "n": len(chosen),
        "p50": percentile(chosen, 50),
        "p99": percentile(chosen, 99),
        "max": max(chosen, default=0),
    }
    print(
        f"  {name:<34} n={row['n']:<5} p50={row['p50']:7.1f} ms  p99={row['p99']:7.1f} ms"
        f"  max={row['max']:7.1f} ms  statuses={counts}"
    )
    return row


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def main(args: argparse.Namespace) -> None:
    hashed = hash_password(data.PATIENT_PASSWORD)
    started = time.perf_counter()
    for _ in range(20):
        verify_password(hashed, data.PATIENT_PASSWORD)
    argon_ms = (time.perf_counter() - started) / 20 * 1000

    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(Path(tmp))
        try:
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
                await open_loop(client, 10, 1, login)  # warm up
                cores = os.cpu_count()
                print(f"open-loop, loopback, {cores} cores; argon2id verify in-process: {argon_ms:.1f} ms")
                print(f"phase 1-2: {args.rate}/s for {args.seconds}s")
                base_row = summary(
                    "GET /healthz (baseline)", await open_loop(client, args.rate, args.seconds, healthz)
                )
                login_samples = await open_loop(client, args.rate, args.seconds, login)
                login_row = summary("patient password login", login_samples)
                print(f"phase 3: overload {args.overload}/s for 5s")
                storm = await open_loop(client, args.overload, 5, login)
                ok_row = summary("  admitted logins (200)", storm, 200)
                shed_row = summary("  shed logins (429)", storm, 429)
            rss, peak = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)

    ok = sum(1 for s in login_samples if s.status == 200) == len(login_samples)
    print("\nresults (ratio = measured / target; <= 1.0 meets the target)")
    print(f"  login p99 {login_row['p99']:.1f} ms / 300 ms = {login_row['p99'] / 300:.2f}   all 200: {ok}")
    print(f"  login p99 / healthz p99 at the same rate = {login_row['p99'] / base_row['p99']:.1f}x")
    print(f"  login p50 / in-process argon2 verify = {login_row['p50'] / argon_ms:.1f}x")
    if shed_row["n"]:
        print(f"  shed 429 p99 {shed_row['p99']:.1f} ms / 50 ms = {shed_row['p99'] / 50:.2f}")
    else:
        print("  no login was shed at the overload rate (capacity above it)")
    print(f"  admitted p99 under overload {ok_row['p99']:.1f} ms / 300 ms = {ok_row['p99'] / 300:.2f}")
    print(f"  API process RSS {rss:.0f} MB (peak {peak:.0f} MB) / 250 MB = {peak / 250:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--overload", type=float, default=160)
    asyncio.run(main(parser.parse_args()))
