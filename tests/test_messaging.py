"""Outgoing messages (``core.messaging``): the transports against a real SMTP server
(aiosmtpd) and a real HTTP SMS gateway, the durable path through the outbox
(``send_email_later`` / ``send_text_later`` and the ``core.send_message`` job), the
reconciliation of an interrupted text by its idempotency key, the recorded-messages folder
and ``tessera messages list``. Real PostgreSQL and Redis; no mocks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from arq.connections import create_pool
from sqlalchemy import select, text

from core.jobs.worker import redis_settings
from core.messaging.models import OutgoingMessage
from core.messaging.recorded import recorded_messages
from core.messaging.sending import MessageError, send_email_later, send_message, send_text_later
from core.messaging.transports import HttpSmsProvider, TransportError
from core.tenancy import tenant_scope
from tests.message_servers import (
    free_port,
    no_unsent_messages_left,  # noqa: F401 - used by name
    sms_gateway,
    smtp_server,
)

pytestmark = pytest.mark.usefixtures("no_unsent_messages_left")


@pytest.fixture
async def redis(settings):
    pool = await create_pool(redis_settings(settings), default_queue_name=settings.queue_name)
    yield pool
    await pool.aclose()


@pytest.fixture
def job_ctx(db, redis, settings, tmp_path):
    def make(**overrides):
        job_settings = settings.with_(**{"data_dir": tmp_path, "smtp_url": "", "sms_url": "", **overrides})
        return {"db": db, "redis": redis, "settings": job_settings, "job_try": 1}

    return make


async def message_row(owner_engine, message_id) -> dict:
    async with owner_engine.connect() as conn:
        found = (
            await conn.execute(
                text(
                    "SELECT m.*, o.status AS outbox_status, o.job, o.kwargs FROM core_messages m "
                    "LEFT JOIN core_outbox o ON o.tenant_id = m.tenant_id AND o.id = m.outbox_id "
                    "WHERE m.id = :id"
                ),
                {"id": message_id},
            )
        ).first()
    return dict(found._mapping) if found else None


async def execute(owner_engine, sql: str, **params) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text(sql), params)


async def queue(db, tenant, channel="email", *, commit=True, **fields):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            if channel == "email":
                message = await send_email_later(
                    session,
                    to=fields.get("to", "ada@example.test"),
                    subject=fields.get("subject", "Your invitation"),
                    text=fields.get("text", "Follow https://example.test/secret-link to join."),
                    purpose="core.test",
                )
            else:
                message = await send_text_later(
                    session, to=fields.get("to", "+13125550100"), text="Your code is 123", purpose="core.test"
                )
            if commit:
                await session.commit()
            else:
                await session.rollback()
            return message.id


async def run_job(ctx, tenant, message_id):
    return await send_message.coroutine(
        ctx,
        tenant_id=str(tenant.id),
        outbox_id=str(await _outbox_id(ctx, tenant, message_id)),
        message_id=str(message_id),
    )


async def _outbox_id(ctx, tenant, message_id):
    with tenant_scope(tenant.id):
        async with ctx["db"].session() as session:
            return await session.scalar(
                select(OutgoingMessage.outbox_id).where(OutgoingMessage.id == message_id)
            )


# -- the durable path ------------------------------------------------------------------------


async def test_a_queued_email_is_sent_once_after_commit_and_not_at_all_after_rollback(
    db, make_tenant, owner_engine, job_ctx
):
    tenant = await make_tenant()
    rolled_back = await queue(db, tenant, commit=False)
    assert await message_row(owner_engine, rolled_back) is None

    message_id = await queue(db, tenant)
    stored = await message_row(owner_engine, message_id)
    assert (stored["status"], stored["outbox_status"], stored["job"]) == (
        "pending",
        "pending",
        "core.send_message",
    )
    assert stored["kwargs"] == {"message_id": str(message_id)}  # ids in the outbox, never the text

    with smtp_server() as (inbox, port):
        ctx = job_ctx(smtp_url=f"smtp://127.0.0.1:{port}")
        with tenant_scope(tenant.id):
            assert await run_job(ctx, tenant, message_id) == "sent"
            # arq's retry and a stray second run send nothing more
            assert await run_job({**ctx, "job_try": 2}, tenant, message_id) is None
            assert (
                await send_message.coroutine(ctx, tenant_id=str(tenant.id), message_id=str(message_id))
                == "skipped"
            )
        delivered = inbox.delivered()
    assert len(delivered) == 1
    assert delivered[0]["To"] == "ada@example.test"
    assert delivered[0]["Message-ID"] == f"<message-{message_id}@localhost>"
    assert "secret-link" in delivered[0].get_content()
    sent = await message_row(owner_engine, message_id)
    assert (sent["status"], sent["attempts"], sent["outbox_status"], sent["transport"]) == (
        "sent",
        1,
        "done",
        "smtp",
    )
    # the text (which may carry a one-time link) is not kept once it has gone out
    assert sent["body"] == "" and sent["transport_id"] == delivered[0]["Message-ID"]


async def test_a_message_needs_a_recipient(db, make_tenant):
    tenant = await make_tenant()
    with pytest.raises(MessageError, match="recipient"):
        await queue(db, tenant, to="  ")


async def test_an_unreachable_mail_server_leaves_the_message_pending_for_the_retry(
    db, make_tenant, owner_engine, job_ctx
):
    from arq.worker import Retry

    tenant = await make_tenant()
    message_id = await queue(db, tenant)
    with pytest.raises(Retry):
        await run_job(job_ctx(smtp_url=f"smtp://127.0.0.1:{free_port()}", send_timeout=3), tenant, message_id)
    after = await message_row(owner_engine, message_id)
    assert (after["status"], after["attempts"], after["outbox_status"]) == ("pending", 1, "pending")
    assert "could not connect" in after["detail"] and "ada@" not in after["detail"]


async def test_a_refused_recipient_fails_the_message_without_the_address_in_it(
    db, make_tenant, owner_engine, job_ctx
):
    tenant = await make_tenant()
    message_id = await queue(db, tenant)
    with smtp_server() as (inbox, port):
        inbox.refuse_recipients = True
        assert await run_job(job_ctx(smtp_url=f"smtp://127.0.0.1:{port}"), tenant, message_id) == "failed"
    after = await message_row(owner_engine, message_id)
    assert after["status"] == "failed" and "refused the recipient" in after["detail"]
    assert "ada@" not in after["detail"]


async def test_another_clinics_message_is_out_of_reach(db, make_tenant, owner_engine, job_ctx):
    tenant = await make_tenant()
    other = await make_tenant()
    message_id = await queue(db, tenant)
    # the other clinic's job cannot see, claim or send it
    assert (
        await send_message.coroutine(job_ctx(), tenant_id=str(other.id), message_id=str(message_id))
        == "skipped"
    )
    assert (await message_row(owner_engine, message_id))["status"] == "pending"
    with tenant_scope(other.id):
        async with db.session() as session:
            assert (
                await session.scalar(select(OutgoingMessage).where(OutgoingMessage.id == message_id)) is None
            )
    # and row-level security hides it from the app role even without the ORM's filter
    with tenant_scope(other.id):
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM core_messages"))).scalar() == 0


# -- texts and the duplicate window ------------------------------------------------------------


async def test_a_text_goes_out_under_its_idempotency_key(db, make_tenant, owner_engine, job_ctx):
    tenant = await make_tenant()
    message_id = await queue(db, tenant, "sms")
    with sms_gateway() as (gateway, url):
        assert await run_job(job_ctx(sms_url=url, sms_token="t"), tenant, message_id) == "sent"
    assert len(gateway.requests) == 1 and gateway.lookups == []  # a first attempt asks nothing
    assert gateway.requests[0]["idempotency_key"] == f"message-{message_id}"
    after = await message_row(owner_engine, message_id)
    assert (after["status"], after["transport"], after["transport_id"]) == ("sent", "http", "sms-1")


async def interrupted(owner_engine, message_id) -> None:
    """What a worker killed after the provider accepted a text, before the ``sent`` mark
    committed, leaves behind: the attempt recorded (``sending``) longer ago than the send
    timeout."""
    await execute(
        owner_engine,
        "UPDATE core_messages SET status = 'sending', attempts = 1, "
        "claimed_at = now() - interval '1 hour' WHERE id = :id",
        id=message_id,
    )


async def test_a_retry_after_a_crash_finds_the_text_at_the_provider_and_does_not_send_it_again(
    db, make_tenant, owner_engine, job_ctx
):
    tenant = await make_tenant()
    message_id = await queue(db, tenant, "sms")
    await interrupted(owner_engine, message_id)
    with sms_gateway() as (gateway, url):
        gateway.accepted[f"message-{message_id}"] = "sms-earlier"  # the dead attempt's text arrived
        assert await run_job(job_ctx(sms_url=url), tenant, message_id) == "reconciled"
    assert gateway.requests == []  # no second text
    assert gateway.lookups == [f"message-{message_id}"]
    after = await message_row(owner_engine, message_id)
    assert (after["status"], after["attempts"], after["transport_id"]) == ("sent", 2, "sms-earlier")
    assert after["detail"] == "found at the provider after an interrupted attempt"


async def test_a_retry_after_a_crash_sends_the_text_when_the_provider_has_none(
    db, make_tenant, owner_engine, job_ctx
):
    tenant = await make_tenant()
    message_id = await queue(db, tenant, "sms")
    await interrupted(owner_engine, message_id)
    with sms_gateway() as (gateway, url):
        assert await run_job(job_ctx(sms_url=url), tenant, message_id) == "sent"
        assert len(gateway.requests) == 1 and gateway.lookups == [f"message-{message_id}"]
        # when the provider cannot tell, the text goes again under the same key
        second = await queue(db, tenant, "sms")
        await interrupted(owner_engine, second)
        gateway.lookup_status = 503
        assert await run_job(job_ctx(sms_url=url), tenant, second) == "sent"
        assert gateway.requests[-1]["idempotency_key"] == f"message-{second}"


async def test_the_recording_transport_reconciles_too(db, make_tenant, owner_engine, job_ctx, tmp_path):
    tenant = await make_tenant()
    message_id = await queue(db, tenant, "sms")
    ctx = job_ctx()
    assert await run_job(ctx, tenant, message_id) == "sent"
    await execute(owner_engine, "UPDATE core_messages SET body = 'again' WHERE id = :id", id=message_id)
    await interrupted(owner_engine, message_id)
    assert await run_job({**ctx, "job_try": 2}, tenant, message_id) is None  # the outbox row is done
    assert (
        await send_message.coroutine(ctx, tenant_id=str(tenant.id), message_id=str(message_id))
        == "reconciled"
    )
    assert len(recorded_messages(tmp_path / "messages", tenant.id)) == 1


async def test_the_http_gateways_answers_become_clear_errors():
    with sms_gateway() as (gateway, url):
        provider = HttpSmsProvider(url, "t", timeout=5)
        assert await provider.send("+15550100", "hi", reference="r1") == "sms-1"
        assert await provider.lookup("r1") == "sms-1"
        assert await provider.lookup("never-sent") is None
        for status, permanent, words in (
            (401, True, "TESSERA_SMS_TOKEN"),
            (422, True, "refused the message"),
            (429, False, "try later"),
            (503, False, "failed (503)"),
        ):
            gateway.status = status
            with pytest.raises(TransportError, match=re.escape(words)) as raised:
                await provider.send("+15550100", "hi", reference="r2")
            assert raised.value.permanent is permanent
            assert "+15550100" not in str(raised.value)
        gateway.lookup_status = 500
        with pytest.raises(TransportError, match="could not say"):
            await provider.lookup("r1")


# -- recorded messages and `tessera messages list` ---------------------------------------------


def tessera(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


async def test_recorded_messages_are_listed_by_the_command(db, make_tenant, job_ctx, tmp_path, settings):
    tenant = await make_tenant()
    other = await make_tenant()
    ctx = job_ctx()
    email_id = await queue(
        db, tenant, subject="Welcome to the clinic", text="Set your password: https://x.test/p"
    )
    text_id = await queue(db, tenant, "sms")
    other_id = await queue(db, other, subject="Other clinic's note")
    for target, mid in ((tenant, email_id), (tenant, text_id), (other, other_id)):
        assert await run_job(ctx, target, mid) == "sent"
    recorded = recorded_messages(tmp_path / "messages", tenant.id)
    assert [m["kind"] for m in recorded] == ["sms", "email"]

    env = {
        "TESSERA_DATABASE_URL": settings.database_url,
        "TESSERA_DATA_DIR": str(tmp_path),
        "TESSERA_EMBEDDED": "0",
    }
    listed = tessera("messages", "list", "--tenant", tenant.slug, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Subject: Welcome to the clinic" in listed.stdout
    assert "Set your password: https://x.test/p" in listed.stdout
    assert "Your code is 123" in listed.stdout
    assert "Other clinic's note" not in listed.stdout
    assert listed.stdout.index("sms to +13125550100") < listed.stdout.index("email to ada@example.test")

    everything = json.loads(tessera("messages", "list", "--json", env=env).stdout)
    assert {m["tenant"] for m in everything} >= {tenant.slug, other.slug}

    missing = tessera("messages", "list", "--tenant", "no-such-clinic", env=env)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no tenant" in missing.stderr
    empty = tessera(
        "messages", "list", "--tenant", tenant.slug, env={**env, "TESSERA_DATA_DIR": str(tmp_path / "x")}
    )
    assert empty.returncode == 0 and "no recorded messages" in empty.stdout


def test_the_transports_left_the_scheduling_plugin():
    from pathlib import Path

    import core

    plugins = Path(core.__file__).parent.parent / "plugins"
    assert not (plugins / "scheduling" / "transports.py").exists()
    for path in plugins.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "aiosmtplib" not in source and "class RecordingTransport" not in source, path
