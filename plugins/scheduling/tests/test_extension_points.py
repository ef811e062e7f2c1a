"""What other plugins add to scheduling without requiring it: actions on an appointment
(a robust contribution), and the durable "appointment changed" event."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from core.app import build_registry, create_app
from core.auth.sessions import COOKIE_NAME
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugin_api import Action, Manifest, hookimpl, may
from plugins.scheduling.tests.booking_clinic import at, make_booking_clinic
from plugins.scheduling.tests.test_screens import HTMX, book, next_monday


class Telehealth:
    """Offers "Start video visit" on telehealth-capable appointments; no ``requires``."""

    manifest = Manifest(name="telehealth", version="1.0", title="Telehealth")

    @hookimpl(optionalhook=True)
    def tessera_scheduling_appointment_actions(self, appointment, request):
        if not may(request, "scheduling:appointments", "read"):
            return []
        return [
            Action("Start video visit", f"/telehealth/rooms/{appointment.id}", order=10),
            Action("Send the link", f"/telehealth/rooms/{appointment.id}/send", method="post", order=20),
        ]


class BrokenActions:
    manifest = Manifest(name="broken_actions", version="1.0", title="Broken actions")

    @hookimpl(optionalhook=True)
    def tessera_scheduling_appointment_actions(self, appointment, request):
        raise RuntimeError("no actions today")


async def test_hook_tessera_scheduling_appointment_actions(
    settings, db, registry, make_tenant, make_user, owner_engine, session_store
):
    ours = build_registry(settings, extra_plugins=[Telehealth(), BrokenActions()])
    assert not ours.broken  # neither requires scheduling, both load
    app = create_app(settings, registry=ours)
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    plain = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        tenant = await get_tenant(session, clinic.tenant.slug)
        await enable_plugin(session, ours, tenant, "telehealth")
        await enable_plugin(session, ours, tenant, "broken_actions")
        await session.commit()
    monday = next_monday()
    ours_id = await book(db, registry, clinic, at(monday, "10:00"))
    plain_id = await book(db, registry, plain, at(monday, "10:00"))

    async def dialog(which, appointment_id):
        session_id, _ = await session_store.create(
            user_id=which.front_desk.id, tenant_id=which.tenant.id, mfa_verified=True
        )
        async with AsyncTestClient(app=app, base_url=f"http://{which.tenant.slug}.localhost") as c:
            c.cookies.set(COOKIE_NAME, session_id)
            return await c.get(f"/scheduling/appointments/{appointment_id}", headers=HTMX)

    shown = await dialog(clinic, ours_id)
    assert shown.status_code == 200  # the broken plugin's actions are skipped, the rest shows
    actions = shown.text.split("sched-plugin-actions", 1)[1]
    assert f'<a class="button" href="/telehealth/rooms/{ours_id}">Start video visit</a>' in actions
    assert f'action="/telehealth/rooms/{ours_id}/send"' in actions and 'name="_csrf"' in actions
    assert actions.index("Start video visit") < actions.index("Send the link")
    other = await dialog(plain, plain_id)  # a clinic without telehealth: nothing added
    assert other.status_code == 200 and "sched-plugin-actions" not in other.text
    async with owner_engine.connect() as conn:
        hooks = set(
            await conn.scalars(
                text(
                    "SELECT hook FROM core_plugin_failures WHERE tenant_id = :t AND plugin = 'broken_actions'"
                ),
                {"t": clinic.tenant.id},
            )
        )
    assert hooks == {"tessera_scheduling_appointment_actions"}


async def test_an_appointment_change_is_published_as_a_durable_event(
    db, registry, make_tenant, make_user, owner_engine
):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine)
    booked = await book(db, registry, clinic, at(next_monday(), "11:00"))
    async with owner_engine.connect() as conn:
        events = [
            row.kwargs
            for row in await conn.execute(
                text("SELECT kwargs FROM core_outbox WHERE tenant_id = :t AND job = 'core.fan_out_event'"),
                {"t": clinic.tenant.id},
            )
        ]
    assert {
        "event": "scheduling.appointment_changed",
        "payload": {"appointment_id": str(booked), "change": "booked"},
    } in events
