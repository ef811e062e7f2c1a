"""Links in reminders point where the app is really served: ``tessera dev run --port P``
(``make run PORT=P``) starts the worker with that port, so a reminder the worker writes
carries ``:P`` and opens on the web server listening there — not on port 8000."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from core.devserver import _child_env
from plugins.scheduling.tests.booking_clinic import make_booking_clinic
from plugins.scheduling.tests.reminder_helpers import (
    execute,
    free_port,
    future_weekday_at,
    reminders_of,
    set_contact,
)
from plugins.scheduling.tests.test_reminders import book
from tests.test_jobs import wait_until

# a real worker runs here: it must find only this test's work in the outbox
pytestmark = pytest.mark.usefixtures("clean_outbox")

ROOT = Path(__file__).resolve().parents[3]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def test_a_reminder_written_by_the_worker_links_to_the_port_the_app_serves_on(
    db, registry, settings, make_tenant, make_user, owner_engine, tmp_path
):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    await set_contact(owner_engine, clinic.patients[0], email_address="ada@example.test")
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    email = (await reminders_of(owner_engine, appointment.id))[0]
    await execute(
        owner_engine, "UPDATE core_outbox SET not_before = now() WHERE id = :id", id=email["outbox_id"]
    )

    port = free_port()
    assert port != 8000
    env = {
        **_child_env(settings, port),  # what `tessera dev run --port P` gives its children
        "PYTHONPATH": str(ROOT),
        "TESSERA_DATA_DIR": str(tmp_path),  # messages are recorded here (no SMTP server)
        "TESSERA_OUTBOX_POLL": "0.2",
    }
    env.pop("TESSERA_PUBLIC_URL", None)
    web = _start(["serve", "--port", str(port)], env, tmp_path / "web.log")
    worker = _start(["worker"], env, tmp_path / "worker.log")
    logs = lambda: (tmp_path / "web.log").read_text() + (tmp_path / "worker.log").read_text()  # noqa: E731
    recorded = tmp_path / "messages" / f"{clinic.tenant.id}.jsonl"
    seen: list = []
    try:

        async def sent():
            seen[:] = await reminders_of(owner_engine, appointment.id)
            return recorded.exists() and recorded.read_text().strip() != ""

        await wait_until(
            sent, within=60, what="the worker recorded the reminder", logs=lambda: f"{seen}\n{logs()}"
        )
        message = json.loads(recorded.read_text().splitlines()[-1])
        text = json.dumps(message)
        links = re.findall(r"https?://[^\s\"\\]+", text)
        assert links, text
        for link in links:
            assert urlsplit(link).netloc == f"{clinic.tenant.slug}.localhost:{port}", link

        http = httpx.AsyncClient(timeout=10)

        async def serving():
            try:
                return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(serving, within=60, what="the web server answers", logs=logs)
        confirm = next(link for link in links if "/confirm/" in link or "confirm" in link)
        parts = urlsplit(confirm)
        page = await http.get(f"http://127.0.0.1:{port}{parts.path}", headers={"Host": parts.netloc})
        await http.aclose()
        assert page.status_code == 200 and "confirm" in page.text.lower(), page.text[:500]
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in (web, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
