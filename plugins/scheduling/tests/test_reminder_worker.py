"""The killed-worker test: a real ``tessera worker`` is SIGKILLed while the mail server is
still receiving its reminder (stalled in DATA); another worker then delivers it, and the
patient gets exactly one e-mail. Real PostgreSQL, Redis, SMTP server and worker processes.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from plugins.scheduling.tests.booking_clinic import make_booking_clinic
from plugins.scheduling.tests.reminder_helpers import (
    execute,
    future_weekday_at,
    reminders_of,
    rows,
    set_contact,
    smtp_server,
)
from plugins.scheduling.tests.test_reminders import book
from tests.test_jobs import wait_until, workers  # noqa: F401 - the fixture is used by name


@pytest.mark.slow
async def test_a_worker_killed_mid_send_leaves_exactly_one_email_delivered(
    db,
    registry,
    make_tenant,
    make_user,
    owner_engine,
    workers,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    await set_contact(owner_engine, clinic.patients[0], email_address="ada@example.test")
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    assert reminder["rule"] == "email-48h"
    # due now (its outbox entry would otherwise wait until two days before the visit)
    await execute(
        owner_engine, "UPDATE core_outbox SET not_before = now() WHERE id = :id", id=reminder["outbox_id"]
    )

    async def current():
        return (await reminders_of(owner_engine, appointment.id))[0]

    with smtp_server() as (inbox, port):
        inbox.stall.set()  # the server holds every DATA before answering it
        # arq retries a job whose worker vanished once its in-progress mark expires (job
        # timeout + 10 s); the sweeper is kept out of it with a long stale time.
        env = {
            "TESSERA_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "TESSERA_JOB_TIMEOUT": "8",
            "TESSERA_SEND_TIMEOUT": "3",
            "TESSERA_OUTBOX_STALE": "600",
            "TESSERA_DATA_DIR": str(tmp_path),
        }
        first = workers(**env)

        async def data_started():
            return inbox.data_started.is_set()

        # a deadline for liveness, not a speed check: a cold worker start on a busy machine is slow
        await wait_until(data_started, within=90, what="the worker is sending DATA", logs=workers.logs)
        claimed = await current()
        assert (claimed["status"], claimed["attempts"]) == ("sending", 1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        await asyncio.sleep(0.5)  # the server notices the dead connection and drops the message
        inbox.stall.clear()
        assert inbox.delivered() == []
        assert (await current())["status"] == "sending"

        workers(**env)

        async def sent():
            return (await current())["status"] == "sent"

        await wait_until(sent, within=90, what="the second worker sent the reminder", logs=workers.logs)
        await asyncio.sleep(1)  # nothing else arrives afterwards
        delivered = inbox.delivered()

    assert len(delivered) == 1, [m["Message-ID"] for m in delivered]
    assert delivered[0]["Message-ID"] == f"<reminder-{reminder['id']}@localhost>"
    done = await current()
    assert (done["status"], done["attempts"], done["outbox_status"]) == ("sent", 2, "done")
    events = await rows(
        owner_engine,
        "SELECT detail FROM audit_events WHERE tenant_id = :t AND action = 'export' AND resource_id = :r",
        t=clinic.tenant.id,
        r=str(reminder["id"]),
    )
    assert [e["detail"]["attempt"] for e in events] == [2]
