"""``make screenshots``: refresh the PNGs in docs/screenshots/ from a running demo.

Starts ``tessera dev run`` (migrations, demo clinics and their data; the embedded
PostgreSQL and Redis unless TESSERA_DATABASE_URL / TESSERA_REDIS_URL name servers) on a
free port, signs in to Riverside as the front desk and as the owner with Playwright driving
Debian's Chromium (``TESSERA_CHROMIUM``, default /usr/bin/chromium), saves one PNG per page
and stops the stack. A page that is not there (404) is reported and skipped, so the script
keeps working while screens are being built.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.demo import DEMO_PASSWORD, demo_email  # noqa: E402 - after the path is set

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
SLUG = "riverside"
START_TIMEOUT = 300  # first run: migrations and three clinics of demo data

#: (file name, path, who) in the order taken; "{patient}" is a demo patient's id
PAGES = (
    ("patient-list.png", "/patients", "front_desk"),
    ("patient-search.png", "/patients?q=gar", "front_desk"),
    ("patient-chart.png", "/patients/{patient}", "front_desk"),
    ("settings.png", "/settings", "owner"),
    ("settings-profile.png", "/settings/profile", "owner"),
    ("settings-locations.png", "/settings/locations", "owner"),
    ("settings-providers.png", "/settings/providers", "owner"),
    ("settings-plugins.png", "/settings/plugins", "owner"),
    ("settings-users.png", "/users", "owner"),
    ("settings-security.png", "/settings/security", "owner"),
)


def say(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_stack(port: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.setdefault("TESSERA_QUEUE_NAME", "tessera:screenshots")
    if not (env.get("TESSERA_DATABASE_URL") and env.get("TESSERA_REDIS_URL")):
        env["TESSERA_EMBEDDED"] = "1"
    log = open(log_path, "w")  # the child writes it; closed when this process ends
    say(f"starting `tessera dev run --port {port}` (log: {log_path})")
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "dev", "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(port):
        if process.poll() is not None:
            raise SystemExit(
                f"screenshots: the dev stack exited with status {process.returncode}; see {log_path}"
            )
        if time.monotonic() > deadline:
            stop_stack(process)
            raise SystemExit(
                f"screenshots: the dev stack did not answer within {START_TIMEOUT} s; see {log_path}"
            )
        time.sleep(0.5)
    return process


def stop_stack(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # tessera dev run stops web and worker in order
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def sign_in(browser, base: str, role: str):
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(20000)
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail address").fill(demo_email(role, SLUG))
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state("networkidle")
    if "/login" in page.url:
        raise SystemExit(f"screenshots: {demo_email(role, SLUG)} could not sign in")
    return context, page


async def a_patient_id(page) -> str | None:
    # fetch() in the page: the browser resolves *.localhost itself (Playwright's own HTTP
    # client would ask the system resolver, which may not).
    for query in ("limit=1&q=gar", "limit=1"):
        found = await page.evaluate(
            """async (url) => {
                const r = await fetch(url, {headers: {accept: "application/json"}});
                return r.ok ? await r.json() : null;
            }""",
            f"/api/patients?{query}",
        )
        if found and found.get("items"):
            return str(found["items"][0]["id"])
    return None


async def take(port: int) -> list[str]:
    from playwright.async_api import async_playwright

    base = f"http://{SLUG}.localhost:{port}"
    OUT.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            sessions = {}
            for name, path, role in PAGES:
                if role not in sessions:
                    sessions[role] = await sign_in(browser, base, role)
                _, page = sessions[role]
                if "{patient}" in path:
                    patient = await a_patient_id(page)
                    if patient is None:
                        say(f"skipped {name}: no patient to open")
                        continue
                    path = path.format(patient=patient)
                response = await page.goto(f"{base}{path}")
                await page.wait_for_load_state("networkidle")
                if response is None or response.status >= 400:
                    say(f"skipped {name}: {path} answered {response.status if response else 'nothing'}")
                    continue
                target = OUT / name
                await page.screenshot(path=str(target), full_page=False)
                saved.append(name)
                say(f"saved {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KB) <- {path}")
            for context, _ in sessions.values():
                await context.close()
        finally:
            await browser.close()
    return saved


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"screenshots: Chromium not found at {CHROMIUM}; apt-get install chromium")
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"tessera-screenshots-{port}.log"
    process = start_stack(port, log_path)
    try:
        saved = asyncio.run(take(port))
    finally:
        stop_stack(process)
    say(f"{len(saved)} screenshots in {OUT.relative_to(ROOT)}")
    if not saved:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
