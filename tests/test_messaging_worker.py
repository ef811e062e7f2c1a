"""The killed-worker test for texts: a real ``tessera worker`` is SIGKILLed after the SMS
provider accepted its text but before the provider answered (the provider's response
time: the window a crashed sender cannot see into). Another worker then finds the attempt
recorded, asks the provider by the idempotency key and records the text as sent without
sending it again. Real PostgreSQL, Redis, HTTP gateway and worker processes."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import text

from core.messaging.sending import send_text_later
from core.tenancy import tenant_scope
from tests.message_servers import sms_gateway
from tests.test_jobs import wait_until, workers  # noqa: F401 - the fixture is used by name


async def message(owner_engine, message_id) -> dict:
    async with owner_engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM core_messages WHERE id = :i"), {"i": message_id})
        ).first()
    return dict(row._mapping)


@pytest.mark.slow
async def test_a_worker_killed_while_the_provider_answers_leaves_exactly_one_text(
    db,
    make_tenant,
    owner_engine,
    workers,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    tenant = await make_tenant()
    with sms_gateway() as (gateway, url):
        gateway.stall.set()  # accept the text, then hold the answer
        with tenant_scope(tenant.id):
            async with db.session() as session:
                queued = await send_text_later(
                    session, to="+13125550100", text="Your code: 4711", purpose="core.test"
                )
                await session.commit()
        # arq retries a job whose worker vanished once its in-progress mark expires (job
        # timeout + 10 s); the sweeper is kept out of it with a long stale time.
        env = {
            "TESSERA_SMS_URL": url,
            "TESSERA_JOB_TIMEOUT": "8",
            "TESSERA_SEND_TIMEOUT": "3",
            "TESSERA_OUTBOX_STALE": "600",
            "TESSERA_DATA_DIR": str(tmp_path),
        }
        first = workers(**env)

        async def received():
            return gateway.send_received.is_set()

        # a deadline for liveness, not a speed check: a cold worker start on a busy machine is slow
        await wait_until(received, within=90, what="the worker sent the text", logs=workers.logs)
        recorded = await message(owner_engine, queued.id)
        assert (recorded["status"], recorded["attempts"]) == ("sending", 1)  # recorded before sending
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        gateway.stall.clear()
        assert (await message(owner_engine, queued.id))["status"] == "sending"

        workers(**env)

        async def sent():
            return (await message(owner_engine, queued.id))["status"] == "sent"

        await wait_until(sent, within=90, what="the second worker settled the text", logs=workers.logs)

    assert len(gateway.requests) == 1  # the provider got the text once
    assert gateway.lookups == [f"message-{queued.id}"]  # the retry asked instead of resending
    done = await message(owner_engine, queued.id)
    assert (done["status"], done["attempts"], done["transport_id"]) == ("sent", 2, "sms-1")
    assert done["detail"] == "found at the provider after an interrupted attempt"
