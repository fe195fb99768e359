"""CPU and SQL statements per prescription save, in process (no server, no load), plus RSS by request kind.

    python3 -m uv run python bench/profile_save.py [--n 200] [--postgres] [--profile] [--rss]

Builds the world of ``bench/prescribe.py`` (its functions), then calls ``PUT
/api/v1/workstation/prescriptions/{id}`` through the ASGI app (``TestClient``) ``--n`` times, one
fresh draft each, and prints the CPU time per save (``time.process_time``: every thread of this
process, so the shared machine's load does not count) and the SQL statements per save (an engine
event counter). ``--profile`` adds a cProfile of the saves (top functions by cumulative time).
``--rss`` prints VmRSS / VmHWM after each kind of request: app built, a save, the CA enrolment and
PIN, a submit (sandbox CA + TSA), the prescription PDF, the heavy libraries imported on their own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from booking import database_url, server_env
from prescribe import PIN, Draft, make_rx_world, save_body
from sqlalchemy import event

from ihis.platform import crypto
from ihis.platform.db import Database
from ihis.platform.models_registry import import_all_models
from ihis.settings import Environment, Settings


def rss() -> str:
    status = Path("/proc/self/status").read_text().splitlines()
    kb = {
        k: int(v.split()[0]) for k, v in (x.split(":", 1) for x in status if ":" in x) if k.startswith("Vm")
    }
    return f"RSS {kb['VmRSS'] / 1024:6.1f} MB (peak {kb['VmHWM'] / 1024:6.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="measured saves")
    parser.add_argument("--database-url")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured saves")
    parser.add_argument("--rss", action="store_true", help="RSS after each kind of request")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sql", action="store_true", help="print the statements of one save")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database_url(args, Path(tmp)) as url:
        return run(args, url, Path(tmp))


def run(args: argparse.Namespace, url: str, work: Path) -> int:
    base = "http://testserver"
    env = server_env(url, work, base)
    subprocess.run([sys.executable, "-m", "ihis.cli", "migrate"], env=env, check=True, capture_output=True)
    settings = Settings(
        env=Environment.DEMO,
        database_url=url,
        jobs_path=env["IHIS_JOBS_PATH"],
        run_worker_in_process=False,
        public_base_url=base,
        log_level="WARNING",
    )
    crypto.configure(settings)
    import_all_models()
    database = Database(settings)
    warm = 20
    _world, admin, doctors, drafts, drug_ids = make_rx_world(database, settings, 2, 5, warm + args.n + 4)
    print(f"{database.dialect}; world built; {rss()}")

    from fastapi.testclient import TestClient

    from ihis.app import create_app

    app = create_app(settings, database)
    statements = [0]
    shown: list[int] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements[0] += 1
        if args.sql and shown:
            print("    SQL", " ".join(statement.split())[:150])

    body = save_body(drug_ids)
    with TestClient(app, base_url=base) as client:
        from ihis.platform import jobs

        # As the tests do: the outbound client (sandbox CA and TSA) is this same in-process app.
        jobs.bind_runtime(database, settings, TestClient(app, base_url=base))
        if args.rss:
            print(f"  app built, lifespan started          {rss()}")

        def save(d: Draft) -> None:
            r = client.put(
                f"/api/v1/workstation/prescriptions/{d.rx_id}",
                json=body,
                headers={"Authorization": f"Bearer {d.token}"},
            )
            assert r.status_code == 200, r.text
            d.warnings = [f["key"] for f in r.json()["findings"] if f["severity"] == "warn"]

        for d in drafts[:warm]:
            save(d)
        if args.sql:
            shown.append(1)
            save(drafts.pop(warm))
            shown.clear()
        if args.rss:
            print(f"  after {warm} saves                     {rss()}")
        cpu: list[float] = []
        stmts: list[int] = []
        profiler = cProfile.Profile() if args.profile else None
        spent: list[float] = []
        _instrument(profiler, spent)
        work: list[float] = []
        for d in drafts[warm : warm + args.n]:
            s0, c0 = statements[0], time.process_time()
            spent.clear()
            save(d)
            work.append(sum(spent))
            cpu.append((time.process_time() - c0) * 1000)
            stmts.append(statements[0] - s0)
        cpu.sort()
        print(
            f"save x{args.n}: drafts.save + views.outs thread CPU median {statistics.median(work):.2f} ms,"
            f" mean {statistics.mean(work):.2f} ms"
        )
        print(
            f"save x{args.n}: CPU per save median {statistics.median(cpu):.2f} ms,"
            f" mean {statistics.mean(cpu):.2f} ms, p90 {cpu[int(0.9 * len(cpu))]:.2f} ms;"
            " SQL statements per save"
            f" {statistics.mean(stmts):.1f} (min {min(stmts)}, max {max(stmts)})"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
        if args.rss:
            for d in drafts[warm + args.n :]:
                save(d)
            rss_phases(client, admin, doctors, drafts[warm + args.n :])
    database.dispose()
    return 0


def _instrument(profiler: cProfile.Profile | None, spent: list[float]) -> None:
    """Time (thread CPU) and optionally profile ``drafts.save`` and ``views.outs`` — the endpoint's
    work without the HTTP, session and TestClient layers — in the worker thread they run in
    (cProfile and ``thread_time`` see one thread; the app runs in the TestClient's threads)."""
    from ihis.prescribing import drafts, views

    def measured(call: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.thread_time()
            if profiler:
                profiler.enable()
            try:
                return call(*a, **k)
            finally:
                if profiler:
                    profiler.disable()
                spent.append((time.thread_time() - t0) * 1000)

        return wrapper

    drafts.save = measured(drafts.save)  # type: ignore[method-assign]
    views.outs = measured(views.outs)  # type: ignore[method-assign]


def rss_phases(client: Any, admin: Any, doctors: list[Any], rest: list[Draft]) -> None:
    """RSS after the CA enrolment + PIN, submits (sandbox CA and TSA in this process), the PDF."""
    for d in doctors:
        r = client.post(
            f"/api/v1/admin/signers/{d.user_id}/enrol", headers={"Authorization": f"Bearer {admin.token}"}
        )
        assert r.status_code == 201, r.text
        r = client.put(
            "/api/v1/me/signing-pin", json={"new_pin": PIN}, headers={"Authorization": f"Bearer {d.token}"}
        )
        assert r.status_code == 200, r.text
    print(f"  after CA enrolment + PIN (x{len(doctors)})       {rss()}")
    for i, d in enumerate(rest):
        body = {
            "pin": PIN,
            "overrides": [{"key": k, "reason": "长期规律用药，已告知风险"} for k in d.warnings],
        }
        c0 = time.process_time()
        r = client.post(
            f"/api/v1/workstation/prescriptions/{d.rx_id}/submit",
            json=body,
            headers={"Authorization": f"Bearer {d.token}"},
        )
        assert r.status_code == 200, r.text
        print(f"  after submit {i + 1} ({(time.process_time() - c0) * 1000:5.0f} ms CPU)        {rss()}")
    pdf = [p for p in (r.path for r in client.app.routes if hasattr(r, "path")) if "pdf" in p]
    print(f"  PDF routes: {pdf}")
    d = rest[0]
    for path in pdf:
        if "{rx_id}" in path and path.startswith("/api/v1/workstation"):
            r = client.get(
                path.replace("{rx_id}", str(d.rx_id)), headers={"Authorization": f"Bearer {d.token}"}
            )
            print(f"  after GET {path} -> {r.status_code}   {rss()}")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    print(f"  heavy modules loaded: {sorted({m.split('.')[0] for m in loaded})}")


HEAVY = (
    "reportlab",
    "pyhanko",
    "pypinyin",
    "fhir",
    "openpyxl",
    "qrcode",
    "boto3",
    "botocore",
    "gmssl",
    "PIL",
)

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
