"""Reminders: the clinic's policy planned on booking, withdrawn on reschedule/cancel, and
the send job against a real SMTP server (aiosmtpd), a real HTTP SMS gateway and the
recording transport. Real PostgreSQL and Redis; booking goes through ``booking``."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import urlsplit

import pytest
from arq.connections import create_pool

from core.jobs.worker import redis_settings
from core.plugin_api import recorded_messages
from plugins.scheduling import booking
from plugins.scheduling.booking import Proposal
from plugins.scheduling.reminders import fill, send_reminder
from plugins.scheduling.tests.booking_clinic import make_booking_clinic, tenant_hooks, tenant_session
from plugins.scheduling.tests.reminder_helpers import (
    execute,
    future_weekday_at,
    reminders_of,
    set_config,
    set_contact,
    sms_gateway,
    smtp_server,
)
from tests.audit_helpers import assert_audited


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    await set_contact(
        owner_engine, clinic.patients[0], email_address="ada@example.test", phone="+1 (312) 555-0100"
    )
    await execute(
        owner_engine,
        "UPDATE locations SET address_line1 = '12 Lake St', city = 'Chicago' WHERE id = :id",
        id=clinic.location_id,
    )
    return clinic


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


async def book(db, registry, clinic, start, *, patient=0):
    async with tenant_session(db, clinic) as session:
        booked = await booking.book(
            session,
            tenant_hooks(registry),
            Proposal(
                patient_id=clinic.patients[patient],
                provider_id=clinic.provider_id,
                location_id=clinic.location_id,
                type_id=clinic.type_id,
                starts_at=start,
            ),
        )
        await session.commit()
        return booked.appointment


async def run_job(ctx, clinic, reminder):
    return await send_reminder.coroutine(
        ctx,
        tenant_id=str(clinic.tenant.id),
        outbox_id=str(reminder["outbox_id"]),
        reminder_id=str(reminder["id"]),
    )


# -- planning -----------------------------------------------------------------------------


async def test_booking_plans_the_default_policy_as_delayed_outbox_entries(db, registry, clinic, owner_engine):
    start = future_weekday_at("10:00")
    appointment = await book(db, registry, clinic, start)
    planned = await reminders_of(owner_engine, appointment.id)
    assert [(r["rule"], r["channel"], r["appointment_version"]) for r in planned] == [
        ("email-48h", "email", 1),
        ("sms-2h", "sms", 1),
    ]
    for reminder, hours in zip(planned, (48, 2), strict=True):
        assert reminder["due_at"] == start - dt.timedelta(hours=hours)
        assert reminder["status"] == "pending"
        # the outbox entry waits until the reminder is due
        assert reminder["outbox_status"] == "pending" and reminder["not_before"] == reminder["due_at"]
        assert reminder["job"] == "scheduling.send_reminder"
        assert reminder["kwargs"] == {"reminder_id": str(reminder["id"])}


async def test_the_clinics_own_policy_and_rules_already_past_are_skipped(db, registry, clinic, owner_engine):
    await set_config(
        owner_engine,
        clinic.tenant,
        {"reminders": [{"channel": "email", "hours_before": 24}, {"channel": "sms", "hours_before": 72}]},
    )
    start = future_weekday_at("09:30", days_ahead=2)  # 72 h before may already be past
    appointment = await book(db, registry, clinic, start)
    planned = await reminders_of(owner_engine, appointment.id)
    now = dt.datetime.now(dt.UTC)
    expected = [
        rule
        for rule, hours in (("email-24h", 24), ("sms-72h", 72))
        if start - dt.timedelta(hours=hours) > now
    ]
    assert [r["rule"] for r in planned] == sorted(expected)
    assert "email-24h" in expected

    await set_config(owner_engine, clinic.tenant, {"reminders": []})
    none = await book(db, registry, clinic, future_weekday_at("14:00", days_ahead=5), patient=1)
    assert await reminders_of(owner_engine, none.id) == []


async def test_reschedule_withdraws_the_old_times_reminders_and_plans_the_new(
    db, registry, clinic, owner_engine
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    new_start = future_weekday_at("11:00", days_ahead=12)
    async with tenant_session(db, clinic) as session:
        current = await booking.get_appointment(session, appointment.id, for_update=True)
        await booking.reschedule(session, tenant_hooks(registry), current, starts_at=new_start)
        await session.commit()
    planned = await reminders_of(owner_engine, appointment.id)
    old = [r for r in planned if r["appointment_version"] == 1]
    new = [r for r in planned if r["appointment_version"] == 2]
    assert [(r["status"], r["outbox_status"], r["detail"]) for r in old] == [
        ("withdrawn", "withdrawn", "appointment rescheduled")
    ] * 2
    assert [(r["rule"], r["status"], r["due_at"]) for r in new] == [
        ("email-48h", "pending", new_start - dt.timedelta(hours=48)),
        ("sms-2h", "pending", new_start - dt.timedelta(hours=2)),
    ]


async def test_cancel_and_confirm(db, registry, clinic, owner_engine):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    hooks = tenant_hooks(registry)
    async with tenant_session(db, clinic) as session:
        await booking.confirm(session, hooks, await booking.get_appointment(session, appointment.id))
        await session.commit()
    # a confirmed appointment is still reminded
    assert {r["status"] for r in await reminders_of(owner_engine, appointment.id)} == {"pending"}
    async with tenant_session(db, clinic) as session:
        await booking.cancel(session, hooks, await booking.get_appointment(session, appointment.id), "flu")
        await session.commit()
    assert {(r["status"], r["outbox_status"]) for r in await reminders_of(owner_engine, appointment.id)} == {
        ("withdrawn", "withdrawn")
    }


# -- sending ------------------------------------------------------------------------------


async def test_the_job_sends_one_email_with_the_clinic_time_location_and_working_links(
    db, registry, clinic, owner_engine, job_ctx, client_for
):
    start = future_weekday_at("10:00")
    appointment = await book(db, registry, clinic, start)
    email_reminder = (await reminders_of(owner_engine, appointment.id))[0]
    with smtp_server() as (inbox, port):
        ctx = job_ctx(smtp_url=f"smtp://127.0.0.1:{port}")
        assert await run_job(ctx, clinic, email_reminder) == "sent"
        # arq's retry of the same job, and a stray second run of it, send nothing more
        assert await run_job({**ctx, "job_try": 2}, clinic, email_reminder) is None
        assert (
            await send_reminder.coroutine(
                ctx, tenant_id=str(clinic.tenant.id), reminder_id=str(email_reminder["id"])
            )
            == "skipped"
        )
        delivered = inbox.delivered()
    assert len(delivered) == 1
    message = delivered[0]
    assert message["To"] == "ada@example.test"
    assert message["Message-ID"] == f"<reminder-{email_reminder['id']}@localhost>"
    body = message.get_content()
    local = start.strftime("%H:%M")
    assert "Booking PT" in body and "Booking PT" in message["Subject"]
    assert f"at {local} (CST)" in body or f"at {local} (CDT)" in body
    assert "Main Clinic, 12 Lake St, Chicago" in body
    assert "Sam Patel, PT, DPT" in body

    sent = (await reminders_of(owner_engine, appointment.id))[0]
    assert (sent["status"], sent["attempts"], sent["outbox_status"]) == ("sent", 1, "done")
    assert sent["transport_id"] == message["Message-ID"] and sent["sent_at"] is not None
    event = await assert_audited(
        db, clinic.tenant, action="export", resource_type="scheduling:reminder", patient_id=clinic.patients[0]
    )
    assert event.detail["channel"] == "email" and event.actor_type == "system"

    confirm_url = re.search(r"Please confirm: (\S+)", body).group(1)
    cancel_url = re.search(r"Cancel here, so the time can go to someone else: (\S+)", body).group(1)
    assert confirm_url.startswith(f"http://{clinic.tenant.slug}.localhost:")
    async with client_for(clinic.tenant.slug) as client:
        page = await client.get(urlsplit(confirm_url).path)
        assert page.status_code == 200 and "Yes, confirm my appointment" in page.text
        page = await client.get(urlsplit(cancel_url).path)
        assert page.status_code == 200 and "Cancel my appointment" in page.text


async def test_a_reminder_of_an_old_time_or_a_cancelled_visit_is_not_sent(
    db, registry, clinic, owner_engine, job_ctx
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    # the appointment moved behind the planner's back (its version changed)
    await execute(
        owner_engine, "UPDATE scheduling_appointments SET version = 2 WHERE id = :id", id=appointment.id
    )
    with smtp_server() as (inbox, port):
        assert await run_job(job_ctx(smtp_url=f"smtp://127.0.0.1:{port}"), clinic, reminder) == "skipped"
        assert inbox.delivered() == []
    after = (await reminders_of(owner_engine, appointment.id))[0]
    assert (after["status"], after["detail"], after["outbox_status"]) == (
        "withdrawn",
        "appointment moved",
        "done",
    )


async def test_a_retry_that_finds_a_recent_sending_mark_waits_out_the_send_timeout(
    db, registry, clinic, owner_engine, job_ctx
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    # an earlier attempt died mid-send a moment ago
    await execute(
        owner_engine,
        "UPDATE scheduling_reminders SET status = 'sending', attempts = 1, claimed_at = now() WHERE id = :id",
        id=reminder["id"],
    )
    with smtp_server() as (inbox, port):
        started = dt.datetime.now(dt.UTC)
        ctx = job_ctx(smtp_url=f"smtp://127.0.0.1:{port}", send_timeout=1.5)
        assert await run_job(ctx, clinic, reminder) == "sent"
        assert dt.datetime.now(dt.UTC) - started >= dt.timedelta(seconds=1)
        assert len(inbox.delivered()) == 1
    after = (await reminders_of(owner_engine, appointment.id))[0]
    assert (after["status"], after["attempts"]) == ("sent", 2)


async def test_a_refused_recipient_fails_the_reminder_without_the_address_in_it(
    db, registry, clinic, owner_engine, job_ctx
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    with smtp_server() as (inbox, port):
        inbox.refuse_recipients = True
        assert await run_job(job_ctx(smtp_url=f"smtp://127.0.0.1:{port}"), clinic, reminder) == "failed"
    after = (await reminders_of(owner_engine, appointment.id))[0]
    assert after["status"] == "failed" and "refused the recipient" in after["detail"]
    assert "ada@" not in after["detail"]


async def test_an_unreachable_mail_server_leaves_the_reminder_pending_for_the_retry(
    db, registry, clinic, owner_engine, job_ctx
):
    from plugins.scheduling.tests.reminder_helpers import free_port

    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    from arq.worker import Retry

    with pytest.raises(Retry):
        await run_job(job_ctx(smtp_url=f"smtp://127.0.0.1:{free_port()}", send_timeout=3), clinic, reminder)
    after = (await reminders_of(owner_engine, appointment.id))[0]
    assert (after["status"], after["attempts"], after["outbox_status"]) == ("pending", 1, "pending")
    assert "could not connect" in after["detail"]


async def test_a_patient_without_an_address_is_reported_not_retried(
    db, registry, clinic, owner_engine, job_ctx
):
    await set_contact(owner_engine, clinic.patients[1])
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"), patient=1)
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    assert await run_job(job_ctx(), clinic, reminder) == "failed"
    after = (await reminders_of(owner_engine, appointment.id))[0]
    assert (after["status"], after["detail"]) == ("failed", "the patient has no e-mail address on file")


async def test_sms_through_the_http_gateway(db, registry, clinic, owner_engine, job_ctx):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    sms = (await reminders_of(owner_engine, appointment.id))[1]
    with sms_gateway() as (gateway, url):
        ctx = job_ctx(sms_url=url, sms_token="gateway-token")  # noqa: S106 - the fake gateway's
        assert await run_job(ctx, clinic, sms) == "sent"
        assert await run_job({**ctx, "job_try": 2}, clinic, sms) is None
    assert len(gateway.requests) == 1
    sent = gateway.requests[0]
    assert sent["authorization"] == "Bearer gateway-token"
    assert sent["idempotency_key"] == sent["json"]["reference"] == f"reminder-{sms['id']}"
    assert sent["json"]["to"] == "+13125550100"
    assert sent["json"]["text"].startswith("Booking PT: reminder of your appointment")
    assert "/scheduling/link/confirm/" in sent["json"]["text"]
    after = (await reminders_of(owner_engine, appointment.id))[1]
    assert (after["status"], after["transport_id"]) == ("sent", "sms-1")
    event = await assert_audited(db, clinic.tenant, action="export", resource_type="scheduling:reminder")
    assert event.detail["channel"] == "sms" and event.detail["transport"] == "http"


async def test_a_reminder_text_interrupted_after_the_provider_took_it_is_not_sent_twice(
    db, registry, clinic, owner_engine, job_ctx
):
    """A worker that died after the provider accepted the text, before ``sent`` committed,
    left the reminder ``sending``; the retry asks the provider by the idempotency key and
    records it sent instead of texting the patient a second time."""
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    sms = (await reminders_of(owner_engine, appointment.id))[1]
    await execute(
        owner_engine,
        "UPDATE scheduling_reminders SET status = 'sending', attempts = 1, "
        "claimed_at = now() - interval '1 hour' WHERE id = :id",
        id=sms["id"],
    )
    with sms_gateway() as (gateway, url):
        gateway.accepted[f"reminder-{sms['id']}"] = "sms-before-the-crash"
        assert await run_job(job_ctx(sms_url=url), clinic, sms) == "sent"
        assert gateway.requests == [] and gateway.lookups == [f"reminder-{sms['id']}"]
    after = (await reminders_of(owner_engine, appointment.id))[1]
    assert (after["status"], after["attempts"], after["transport_id"]) == ("sent", 2, "sms-before-the-crash")
    event = await assert_audited(db, clinic.tenant, action="export", resource_type="scheduling:reminder")
    assert event.detail["reconciled"] is True and event.detail["channel"] == "sms"


async def test_with_nothing_configured_messages_are_recorded(
    db, registry, clinic, owner_engine, job_ctx, tmp_path
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    email_reminder, sms = await reminders_of(owner_engine, appointment.id)
    ctx = job_ctx()
    assert await run_job(ctx, clinic, email_reminder) == "sent"
    assert await run_job(ctx, clinic, sms) == "sent"
    recorded = recorded_messages(tmp_path / "messages", clinic.tenant.id)
    assert [m["kind"] for m in recorded] == ["sms", "email"]
    assert recorded[1]["to"] == "ada@example.test" and "Booking PT" in recorded[1]["text"]
    event = await assert_audited(db, clinic.tenant, action="export", resource_type="scheduling:reminder")
    assert event.detail["transport"] == "recorded"


async def test_another_clinics_reminder_is_out_of_reach(
    db, registry, clinic, owner_engine, job_ctx, make_tenant
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    reminder = (await reminders_of(owner_engine, appointment.id))[0]
    other = await make_tenant(plugins=("scheduling",))
    assert (
        await send_reminder.coroutine(job_ctx(), tenant_id=str(other.id), reminder_id=str(reminder["id"]))
        == "skipped"
    )
    assert (await reminders_of(owner_engine, appointment.id))[0]["status"] == "pending"
    # and a clinic without the plugin runs none of its jobs
    bare = await make_tenant()
    assert (
        await send_reminder.coroutine(job_ctx(), tenant_id=str(bare.id), reminder_id=str(uuid.uuid4()))
        is None
    )


def test_templates_fill_only_plain_placeholders():
    values = {"clinic": "Riverside", "when": "Monday"}
    assert fill("{clinic} on {when}", values) == "Riverside on Monday"
    assert fill("{clinic.__class__} {unknown} {when!r}", values) == "{clinic.__class__} {unknown} {when!r}"
