"""Browser tests: Playwright driving Debian's Chromium against a real server process.

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it);
Playwright's own browser download is not used. Without it these tests are skipped with a
message, except under CI where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        message = f"Chromium not found at {CHROMIUM}; install it with `apt-get install chromium`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def live_server(settings, tmp_path_factory):
    """A real ``tessera serve`` process on a free port, sharing the test database."""
    port = _free_port()
    env = {**os.environ, "TESSERA_PORT": str(port), "TESSERA_HOST": "127.0.0.1"}
    log = open(tmp_path_factory.mktemp("live-server") / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            raise RuntimeError(f"the server did not start; see {log.name}")
        time.sleep(0.2)
    yield port
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
async def browser_page(chromium_path, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        page = await context.new_page()
        page.set_default_timeout(15000)
        try:
            yield page
        finally:
            await context.close()
            await browser.close()
