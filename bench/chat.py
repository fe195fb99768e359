"""Chat fan-out latency with hundreds of sockets, against a bare WebSocket echo in the same run.

    python3 -m uv run python bench/chat.py [--rooms 250] [--rate 50] [--seconds 15]

One `uvicorn` API process on loopback (SQLite, the messaging router, and a bare echo socket at
/bench/echo served by the same process). Phases, in one run so the ratio compares like with like:

1. echo   2 x rooms sockets on /bench/echo; at --rate a random socket sends a frame and waits
          for its echo (the cost of the WebSocket stack alone).
2. chat   the same number of sockets on /api/v1/ws, two per room (patient + doctor), every room
          subscribed; at --rate a random room's patient sends a text message; latency is taken
          when the *doctor's* socket receives it (authorise, persist with its seq, publish after
          commit, re-check membership, load, deliver).
Sends are open loop: latency counts from the scheduled send time (no coordinated omission).
Target (issue 4): chat P99 <= 50 ms with 500 sockets on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[1]


def app_factory() -> Any:
    """The bench server: the IHIS app, the messaging router and a bare echo socket."""
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from ihis.app import create_app
    from ihis.messaging.api import router
    from ihis.settings import get_settings

    app = create_app(get_settings())
    app.include_router(router, prefix="/api/v1")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    # A plain Starlette route (no FastAPI dependency machinery), ahead of the web apps' mounts.
    app.router.routes.insert(0, WebSocketRoute("/bench/echo", echo))
    return app


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def seed(database_url: str, rooms: int) -> list[tuple[int, str, str]]:
    """Institution, accounts, rooms and bearer sessions; [(room id, patient token, doctor token)]."""
    from ihis.identity import sessions
    from ihis.identity.models import RoleAssignment, UserAccount
    from ihis.messaging import service
    from ihis.platform import crypto, db_extras
    from ihis.platform.clock import utcnow
    from ihis.platform.crypto.fields import blind_index
    from ihis.platform.db import Base, Database
    from ihis.platform.models_registry import import_all_models
    from ihis.settings import Settings
    from ihis.tenancy.models import Institution

    settings = Settings(database_url=database_url)
    crypto.configure(settings)
    import_all_models()
    database = Database(settings)
    with database.engine.begin() as conn:
        Base.metadata.create_all(conn)
        db_extras.install(conn)
    out = []
    with database.unit_of_work() as db:
        inst = Institution(code="BENCH", name="压测医院", registered_subjects="03.01")
        db.add(inst)
        db.flush()
        for i in range(rooms):
            phone = f"139{i:08d}"
            patient = UserAccount(
                institution_id=inst.id,
                kind="patient",
                display_name=f"患者{i}",
                phone=phone,
                phone_bidx=blind_index(phone, "phone"),
            )
            doctor = UserAccount(
                institution_id=inst.id,
                kind="staff",
                status="active",
                username=f"doc{i}",
                staff_no=f"D{i:05d}",
                display_name=f"医生{i}",
                password_changed_at=utcnow(),
            )
            db.add_all([patient, doctor])
            db.flush()
            db.add(
                RoleAssignment(institution_id=inst.id, user_id=doctor.id, role="doctor", granted_at=utcnow())
            )
            room = service.create_room(db, institution_id=inst.id, ref_type="consultation", ref_id=i + 1)
            service.add_participant(db, room, patient.id, "patient")
            service.add_participant(db, room, doctor.id, "doctor")
            tokens = [
                sessions.issue_session(
                    db, a, settings, channel="bearer", ip=None, user_agent=None, mfa_verified=True
                ).token
                for a in (patient, doctor)
            ]
            out.append((room.id, tokens[0], tokens[1]))
    database.dispose()
    return out


def start_server(work: Path, database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "IHIS_ENV": "development",
        "IHIS_DATABASE_URL": database_url,
        "IHIS_JOBS_PATH": str(work / "jobs.db"),
        "IHIS_STORAGE_DIR": str(work / "files"),
        "IHIS_WEB_DIST_DIR": str(REPO / "web"),
        "IHIS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO / "src"),
    }
    cmd = [sys.executable, "-m", "uvicorn", "chat:app_factory", "--factory", "--app-dir", str(REPO / "bench")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def schedule(rate: float, seconds: float, fire: Any) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        fire(i, scheduled)


async def echo_phase(port: int, sockets: int, rate: float, seconds: float) -> list[float]:
    loop = asyncio.get_running_loop()
    conns = [await connect(f"ws://127.0.0.1:{port}/bench/echo", max_queue=None) for _ in range(sockets)]
    latencies: list[float] = []

    async def reader(ws: ClientConnection) -> None:
        async for raw in ws:
            latencies.append((loop.time() - float(json.loads(raw)["t"])) * 1000)

    readers = [asyncio.create_task(reader(ws)) for ws in conns]
    rng = random.Random(1)
    await schedule(
        rate, seconds, lambda i, t: asyncio.ensure_future(rng.choice(conns).send(json.dumps({"t": t})))
    )
    await asyncio.sleep(1)
    for task in readers:
        task.cancel()
    for ws in conns:
        await ws.close()
    return latencies


async def chat_phase(
    port: int, rooms: list[tuple[int, str, str]], rate: float, seconds: float
) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    errors = 0

    async def open_socket(token: str, room: int) -> ClientConnection:
        ws = await connect(
            f"ws://127.0.0.1:{port}/api/v1/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
            max_queue=None,
        )
        await ws.send(json.dumps({"type": "subscribe", "room": room, "after_seq": 0}))
        while json.loads(await ws.recv())["type"] != "subscribed":
            pass
        return ws

    async def reader(ws: ClientConnection, doctor: bool) -> None:
        nonlocal errors
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "message" and doctor:
                scheduled = sent_at.pop(frame["client_msg_id"], None)
                if scheduled is not None:
                    latencies.append((loop.time() - scheduled) * 1000)
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "error":
                errors += 1

    pairs = []
    for room, patient_token, doctor_token in rooms:
        pairs.append((room, await open_socket(patient_token, room), await open_socket(doctor_token, room)))
    readers = [
        asyncio.create_task(reader(ws, doctor)) for _, p, d in pairs for ws, doctor in ((p, False), (d, True))
    ]
    rng = random.Random(2)
    sends: set[asyncio.Task[None]] = set()  # keep references until each send completes

    def fire(i: int, scheduled: float) -> None:
        room, patient_ws, _ = rng.choice(pairs)
        msg_id = f"b{i}"
        sent_at[msg_id] = scheduled
        frame = {"type": "send", "room": room, "client_msg_id": msg_id, "kind": "text", "body": f"消息 {i}"}
        task = asyncio.ensure_future(patient_ws.send(json.dumps(frame, ensure_ascii=False)))
        sends.add(task)
        task.add_done_callback(sends.discard)

    await schedule(rate, seconds, fire)
    await asyncio.sleep(2)
    lost = len(sent_at)
    for task in readers:
        task.cancel()
    for _, p, d in pairs:
        await p.close()
        await d.close()
    return latencies, lost + errors


def row(name: str, values: list[float]) -> dict[str, float]:
    r = {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=0),
    }
    print(
        f"  {name:<28} n={r['n']:<5} p50={r['p50']:7.1f} ms  p99={r['p99']:7.1f} ms  max={r['max']:7.1f} ms"
    )
    return r


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        database_url = f"sqlite:///{work / 'bench.db'}"
        rooms = seed(database_url, args.rooms)
        proc, port = start_server(work, database_url)
        try:
            sockets = 2 * args.rooms
            print(
                f"loopback, {os.cpu_count()} cores, one API process (SQLite); "
                f"{sockets} sockets, {args.rooms} rooms"
            )
            print(f"{args.rate}/s for {args.seconds}s per phase")
            echo = row("bare WebSocket echo", await echo_phase(port, sockets, args.rate, args.seconds))
            chat_latencies, problems = await chat_phase(port, rooms, args.rate, args.seconds)
            chat = row("chat fan-out (send->peer)", chat_latencies)
        finally:
            proc.terminate()
            proc.wait(10)
    print("\nresults")
    print(f"  chat p99 {chat['p99']:.1f} ms / 50 ms = {chat['p99'] / 50:.2f}  (<= 1.0 meets the target)")
    print(f"  chat / echo: p50 {chat['p50'] / echo['p50']:.1f}x, p99 {chat['p99'] / echo['p99']:.1f}x")
    print(f"  messages lost or refused: {problems}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=250)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    asyncio.run(main(parser.parse_args()))
