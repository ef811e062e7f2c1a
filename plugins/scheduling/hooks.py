"""The hook implementations: thin, each delegating to the modules that do the work."""

from __future__ import annotations

import logging
from pathlib import Path

from core.plugin_api import ChartPanel, NavItem, Permission, hookimpl, may

HERE = Path(__file__).parent
log = logging.getLogger("tessera.scheduling")

# -- installation hooks: called once at boot -------------------------------------------


@hookimpl
def tessera_routes():
    from plugins.scheduling.routes import ROUTES

    return ROUTES


@hookimpl
def tessera_migration_dirs():
    return [HERE / "migrations"]


@hookimpl
def tessera_template_dirs():
    return [HERE / "templates"]


@hookimpl
def tessera_static_dirs():
    return [HERE / "static" / "scheduling"]


@hookimpl
def tessera_permissions():
    return [
        Permission(
            "scheduling:appointments",
            ("read", "write"),
            "See the calendar and appointments; book, move, cancel, check in",
            default_grants={
                "front_desk": ("read", "write"),
                "clinician": ("read", "write"),
                "biller": ("read",),
            },
        ),
        Permission(
            "scheduling:setup",
            ("read", "write"),
            "Appointment types, rooms and resources, provider availability and time off",
            default_grants={"front_desk": ("read", "write"), "clinician": ("read",)},
        ),
        Permission(
            "scheduling:reports",
            ("read",),
            "No-show rate and utilisation per provider",
            default_grants={"front_desk": ("read",), "clinician": ("read",), "biller": ("read",)},
        ),
        Permission(
            "scheduling:feeds",
            ("read", "write", "manage"),
            "Create and revoke a provider's iCalendar feed URLs (manage: every provider's)",
            default_grants={"clinician": ("read", "write"), "front_desk": ("read", "write", "manage")},
        ),
    ]


@hookimpl
def tessera_jobs():
    from plugins.scheduling.reminders import send_reminder

    return [send_reminder]


# -- tenant hooks: called only for tenants that enabled the plugin ---------------------


@hookimpl
async def tessera_tenant_plugin_enabled(tenant_id, session, config):
    from plugins.scheduling.defaults import seed_starter_types

    await seed_starter_types(session)


@hookimpl
def tessera_tenant_plugin_disabled(tenant_id, session):
    # Appointments, series and reminders are kept. Reminder jobs that come due while the
    # plugin is off are skipped by the tenant_job wrapper (it checks the plugin is on).
    log.info("scheduling disabled for tenant %s; its calendar is kept", tenant_id)


@hookimpl
async def tessera_encounter_status_changed(encounter, old_status, new_status, session, hooks):
    # The visit's appointment follows its encounter: finished -> completed, cancelled or
    # no-show -> the same (booking.follow_encounter).
    from plugins.scheduling.booking import follow_encounter

    await follow_encounter(session, hooks, encounter, new_status)


@hookimpl
async def tessera_scheduling_appointment_changed(appointment_id, change, session, previous):
    # Scheduling's own reactions to a booking change, in its transaction: plan or
    # withdraw the appointment's reminders (reminders.follow_change).
    from plugins.scheduling.reminders import follow_change

    await follow_change(session, appointment_id, change)
    # ...and offer a freed slot to the waitlist (or withdraw offers a booking took).
    from plugins.scheduling.waitlist import on_appointment_changed

    await on_appointment_changed(session, appointment_id, change, previous)


@hookimpl
def tessera_chart_panels(patient, request):
    # The panel's rows load through their own audited route (screens.patient_appointments),
    # so the chart stays cheap and the read is recorded in the transaction that makes it.
    if not may(request, "scheduling:appointments", "read"):
        return []
    return [
        ChartPanel(
            title="Appointments",
            template="scheduling/chart_panel.html",
            context={"url": f"/scheduling/patients/{patient.id}/appointments"},
            order=30,
        )
    ]


@hookimpl
async def tessera_demo_data(tenant, session, hooks):
    # Types, rooms, working hours and this week's appointments, booked through
    # booking.book like any other (demo.seed_demo; idempotent, rolls on weekly).
    from plugins.scheduling.demo import seed_demo

    await seed_demo(session, hooks, tenant)


@hookimpl
def tessera_navigation(request):
    return [
        NavItem(
            label="Calendar", href="/scheduling/calendar", order=20, permission="scheduling:appointments"
        ),
        NavItem(label="Today", href="/scheduling/today", order=21, permission="scheduling:appointments"),
        NavItem(
            label="Waitlist", href="/scheduling/waitlist", order=22, permission="scheduling:appointments"
        ),
        NavItem(label="Reports", href="/scheduling/reports", order=24, permission="scheduling:reports"),
        NavItem(label="Scheduling setup", href="/scheduling/setup", order=25, permission="scheduling:setup"),
    ]


__all__ = [
    "tessera_chart_panels",
    "tessera_demo_data",
    "tessera_encounter_status_changed",
    "tessera_jobs",
    "tessera_migration_dirs",
    "tessera_navigation",
    "tessera_permissions",
    "tessera_routes",
    "tessera_scheduling_appointment_changed",
    "tessera_static_dirs",
    "tessera_template_dirs",
    "tessera_tenant_plugin_disabled",
    "tessera_tenant_plugin_enabled",
]
