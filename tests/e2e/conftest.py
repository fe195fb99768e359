"""Browser tests: a real `ihis serve` on a loopback port with a fresh demo database, driven by
Playwright through Debian's Chromium (/usr/bin/chromium; no browser is ever downloaded)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("IHIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate a fresh SQLite database, load the demo hospital, serve it; yield the base URL."""
    for app in ("patient", "console"):
        if not (REPO / "web" / app / "dist" / "index.html").exists():
            raise RuntimeError(f"web app {app} is not built: run `make web` first")
    work = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "IHIS_ENV": "demo",
        "IHIS_DATABASE_URL": f"sqlite:///{work / 'e2e.db'}",
        "IHIS_JOBS_PATH": str(work / "jobs.db"),
        "IHIS_STORAGE_DIR": str(work / "files"),
        "IHIS_PUBLIC_BASE_URL": base,
        "IHIS_WEB_DIST_DIR": str(REPO / "web"),
        "IHIS_SANDBOX": "true",
        # The journeys receive patients of a doctor's next demo session, which may be a day and a
        # bit ahead (daily sessions; the afternoon's is past): doctors may start two days early.
        "IHIS_CONSULTATION_EARLY_START_MINUTES": "2880",
    }
    ihis = [sys.executable, "-m", "ihis.cli"]
    subprocess.run([*ihis, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*ihis, "demo"], env=env, check=True, capture_output=True)
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [*ihis, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + (work / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready: " + (work / "server.log").read_text()[-2000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: install Debian's chromium (make test does)")
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture
def new_context(browser: Browser, server: str) -> Iterator:  # type: ignore[type-arg]
    """Factory for isolated browser contexts (one per person in a journey)."""
    contexts: list[BrowserContext] = []

    def make(*, mobile: bool = False) -> Page:
        ctx = browser.new_context(
            base_url=server,
            locale="zh-CN",
            viewport={"width": 390, "height": 844} if mobile else {"width": 1366, "height": 900},
        )
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()
