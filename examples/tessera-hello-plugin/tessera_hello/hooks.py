"""The hook implementations: thin, each delegating to the modules that do the work."""

from __future__ import annotations

import logging
from pathlib import Path

from core.plugin_api import ChartPanel, NavItem, Permission, hookimpl
from tessera_hello.services import WELCOME_TEXT, ensure_greeting

HERE = Path(__file__).parent
log = logging.getLogger("tessera_hello")

# -- installation hooks: called once at boot -------------------------------------------


@hookimpl
def tessera_routes():
    from tessera_hello.controllers import ROUTES

    return ROUTES


@hookimpl
def tessera_migration_dirs():
    return [HERE / "migrations"]


@hookimpl
def tessera_template_dirs():
    return [HERE / "templates"]


@hookimpl
def tessera_static_dirs():
    return [HERE / "static" / "hello"]


@hookimpl
def tessera_permissions():
    return [
        Permission(
            "hello:greetings",
            ("read", "write"),
            "Read the clinic's greetings and add new ones",
            default_grants={"clinician": ("read", "write"), "front_desk": ("read", "write")},
        )
    ]


# -- tenant hooks: called only for tenants that enabled the plugin ---------------------


@hookimpl
def tessera_navigation(request):
    return [NavItem(label="Greetings", href="/hello", order=60, permission="hello:greetings")]


@hookimpl
def tessera_chart_panels(patient, request):
    return [ChartPanel(title="Say hello", template="hello/panel.html", order=90)]


@hookimpl
async def tessera_tenant_plugin_enabled(tenant_id, session, config):
    await ensure_greeting(session, WELCOME_TEXT)


@hookimpl
def tessera_tenant_plugin_disabled(tenant_id, session):
    # Greetings are kept so they come back on re-enabling; there is no background work.
    log.info("hello disabled for tenant %s; its greetings are kept", tenant_id)


@hookimpl
async def tessera_demo_data(tenant, session):
    for text in (
        WELCOME_TEXT,
        f"Good morning, {tenant.name}! Coffee is in the staff room.",
        "Remember: the front desk closes at 5 pm on Fridays.",
    ):
        await ensure_greeting(session, text)
