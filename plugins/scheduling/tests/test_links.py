"""Signed patient links: confirm and cancel without signing in, once, for one purpose,
one appointment time and one clinic, until the appointment starts; every view, use and
refusal audited. The app answers through the real middleware (CSRF included)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from plugins.scheduling import booking
from plugins.scheduling.links import LinkRefusedError, link_path, make_token, read_token
from plugins.scheduling.tests.booking_clinic import make_booking_clinic, tenant_hooks, tenant_session
from plugins.scheduling.tests.reminder_helpers import execute, future_weekday_at, rows
from plugins.scheduling.tests.test_reminders import book
from tests.audit_helpers import assert_audited


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_booking_clinic(db, make_tenant, make_user, owner_engine)


def token_for(settings, clinic, appointment, purpose, **over):
    values = dict(
        tenant_id=clinic.tenant.id,
        appointment_id=appointment.id,
        version=appointment.version,
        purpose=purpose,
        expires_at=appointment.starts_at,
        nonce=f"n-{purpose}-{appointment.id.hex[:8]}-{time.monotonic_ns()}",
    )
    values.update(over)
    return make_token(settings.secret_key, **values)


async def status_of(owner_engine, appointment):
    found = await rows(
        owner_engine, "SELECT status FROM scheduling_appointments WHERE id = :id", id=appointment.id
    )
    return found[0]["status"]


async def test_confirm_works_once_without_signing_in(
    db, registry, settings, clinic, owner_engine, client_for
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    path = link_path(token_for(settings, clinic, appointment, "confirm"), "confirm")
    since = dt.datetime.now(dt.UTC)
    async with client_for(clinic.tenant.slug) as client:
        shown = await client.get(path)
        assert shown.status_code == 200 and "Yes, confirm my appointment" in shown.text
        assert "Main Clinic" in shown.text and "Sam Patel" in shown.text
        assert await status_of(owner_engine, appointment) == "booked"  # a GET changes nothing
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            patient_id=clinic.patients[0],
            since=since,
            route="GET /scheduling/link/{purpose}/{token}",
        )

        done = await client.post(path)
        assert done.status_code == 200 and "your appointment is confirmed" in done.text
        assert await status_of(owner_engine, appointment) == "confirmed"
        event = await assert_audited(
            db,
            clinic.tenant,
            action="update",
            patient_id=clinic.patients[0],
            since=since,
            outcome="success",
            route="POST /scheduling/link/{purpose}/{token}",
        )
        assert event.actor_type == "anonymous" and event.detail == {
            "via": "patient link",
            "purpose": "confirm",
        }

        again = await client.post(path)
        assert again.status_code == 409 and "already been used" in again.text
        await assert_audited(db, clinic.tenant, action="denied", outcome="denied", since=since)
        assert (await client.get(path)).status_code == 409


async def test_cancel_link_cancels_and_withdraws_the_reminders(
    db, registry, settings, clinic, owner_engine, client_for
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    path = link_path(token_for(settings, clinic, appointment, "cancel"), "cancel")
    async with client_for(clinic.tenant.slug) as client:
        done = await client.post(path)
    assert done.status_code == 200 and "Your appointment is cancelled" in done.text
    found = await rows(
        owner_engine,
        "SELECT status, cancel_reason FROM scheduling_appointments WHERE id = :id",
        id=appointment.id,
    )
    assert found[0]["status"] == "cancelled" and "link" in found[0]["cancel_reason"]
    reminders = await rows(
        owner_engine, "SELECT status FROM scheduling_reminders WHERE appointment_id = :a", a=appointment.id
    )
    assert {r["status"] for r in reminders} == {"withdrawn"}


async def test_refused_links_answer_a_clear_4xx_page_and_are_audited(
    db, registry, settings, clinic, owner_engine, client_for, make_tenant
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    confirm = token_for(settings, clinic, appointment, "confirm")
    body, signature = confirm.split(".")
    other = await make_tenant(plugins=("scheduling",))
    expired = token_for(
        settings, clinic, appointment, "confirm", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    other_clinic = token_for(settings, clinic, appointment, "confirm", tenant_id=other.id)
    since = dt.datetime.now(dt.UTC)
    cases = [
        (link_path(body + "x." + signature, "confirm"), 400, "not valid"),  # tampered payload
        (link_path(body + "." + signature[:-2] + "AA", "confirm"), 400, "not valid"),  # tampered signature
        (link_path("garbage", "confirm"), 400, "not valid"),
        (link_path(expired, "confirm"), 410, "expired"),
        (link_path(confirm, "cancel"), 400, "cannot be used to cancel"),  # wrong purpose
        (link_path(other_clinic, "confirm"), 404, "not for this clinic"),
    ]
    async with client_for(clinic.tenant.slug) as client:
        for path, status, words in cases:
            for method in (client.get, client.post):
                answer = await method(path)
                assert (answer.status_code, words in answer.text) == (status, True), (path, answer.text[:300])
        assert (await client.get("/scheduling/link/delete/" + confirm)).status_code == 404
    assert await status_of(owner_engine, appointment) == "booked"
    denied = await rows(
        owner_engine,
        "SELECT reason FROM audit_events WHERE tenant_id = :t AND action = 'denied' AND occurred_at >= :s",
        t=clinic.tenant.id,
        s=since,
    )
    assert {d["reason"] for d in denied} >= {
        "link_forged",
        "link_malformed",
        "link_expired",
        "link_wrong_purpose",
        "link_other_clinic",
    }
    # the link of one clinic opened on another clinic's site is refused there
    async with client_for(other.slug) as client:
        answer = await client.post(link_path(confirm, "confirm"))
        assert answer.status_code == 404 and "not for this clinic" in answer.text


async def test_a_link_for_the_old_time_stops_working_after_a_reschedule(
    db, registry, settings, clinic, owner_engine, client_for
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    old = link_path(token_for(settings, clinic, appointment, "cancel"), "cancel")
    async with tenant_session(db, clinic) as session:
        current = await booking.get_appointment(session, appointment.id, for_update=True)
        await booking.reschedule(
            session, tenant_hooks(registry), current, starts_at=future_weekday_at("11:00", days_ahead=12)
        )
        await session.commit()
    async with client_for(clinic.tenant.slug) as client:
        answer = await client.post(old)
    assert answer.status_code == 410 and "has been moved" in answer.text
    assert await status_of(owner_engine, appointment) == "booked"


async def test_a_cancelled_appointment_cannot_be_confirmed_and_a_disabled_plugin_hides_links(
    db, registry, settings, clinic, owner_engine, client_for, make_tenant
):
    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    path = link_path(token_for(settings, clinic, appointment, "confirm"), "confirm")
    await execute(
        owner_engine,
        "UPDATE scheduling_appointments SET status = 'cancelled', cancel_reason = 'x' WHERE id = :id",
        id=appointment.id,
    )
    async with client_for(clinic.tenant.slug) as client:
        answer = await client.post(path)
    assert answer.status_code == 409 and "cancelled" in answer.text
    bare = await make_tenant()
    async with client_for(bare.slug) as client:
        assert (await client.get(path)).status_code == 404


async def test_a_signed_in_staff_browser_sends_the_forms_csrf_field(
    db, registry, settings, clinic, client_as, owner_engine
):
    """The CSRF middleware checks browsers with a session; the page's form carries the token."""
    import re

    appointment = await book(db, registry, clinic, future_weekday_at("10:00"))
    path = link_path(token_for(settings, clinic, appointment, "confirm"), "confirm")
    async with await client_as(clinic.tenant, clinic.front_desk) as client:
        refused = await client.post(path)
        assert refused.status_code == 403
        page = await client.get(path)
        token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        done = await client.post(path, data={"_csrf": token})
    assert done.status_code == 200
    assert await status_of(owner_engine, appointment) == "confirmed"


def test_tokens_are_signed_and_expire():
    import uuid

    claim = dict(
        tenant_id=uuid.uuid4(),
        appointment_id=uuid.uuid4(),
        version=3,
        purpose="cancel",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        nonce="abc",
    )
    token = make_token("key-one", **claim)
    read = read_token("key-one", token)
    assert (read.appointment_id, read.version, read.purpose, read.nonce) == (
        claim["appointment_id"],
        3,
        "cancel",
        "abc",
    )
    with pytest.raises(LinkRefusedError) as other_key:
        read_token("key-two", token)
    assert other_key.value.reason == "link_forged"
    with pytest.raises(LinkRefusedError) as late:
        read_token("key-one", token, now=claim["expires_at"].timestamp() + 1)
    assert late.value.reason == "link_expired" and late.value.status == 410
