"""The UI extension points: plugins add to core's screens without importing them
(patient header items, encounter panels, the "My work" list), and audit actions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from core.app import build_registry, create_app
from core.audit.record import record
from core.auth.sessions import COOKIE_NAME
from core.encounters.models import Encounter
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError, PluginRegistry
from core.plugins.types import ChartPanel, HeaderItem, WorkItem
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited
from tests.test_encounters_api import make_clinic


class Extender:
    manifest = Manifest(name="extender", version="1.0", title="Extender")

    @hookimpl
    def tessera_patient_header_items(self, patient, request):
        return [
            HeaderItem("Fall risk", level="alert", order=1),
            HeaderItem(f"Balance due for {patient.given_name}", level="warning", href="/extender/balance"),
        ]

    @hookimpl
    def tessera_encounter_panels(self, encounter, request):
        return [
            ChartPanel(title="Vitals", template="extender/vitals.html", context={"status": encounter.status})
        ]

    @hookimpl
    async def tessera_worklist_items(self, principal, session, request):
        await record(session, action="extender.worklist_read", resource_type="extender:tasks")
        return [
            WorkItem(
                "Sign the note of 2 March", "/extender/notes/1", "Notes to sign", due=dt.date(2026, 3, 3)
            ),
            WorkItem(
                "Sign the note of 1 March", "/extender/notes/0", "Notes to sign", due=dt.date(2026, 3, 2)
            ),
            WorkItem(f"Call back ({principal.email})", "/extender/tasks/7", "Tasks"),
        ]

    @hookimpl
    def tessera_audit_actions(self):
        return ["extender.worklist_read"]

    @hookimpl
    def tessera_template_dirs(self):
        return [Path(__file__).parent / "ui_templates"]


@pytest.fixture
async def extended(settings, db, make_tenant, make_user, owner_engine, session_store):
    """A clinic with one encounter, the sample plugin and ``Extender`` enabled, an app that
    knows Extender, and a signed-in clinician's client factory for it."""
    registry = build_registry(settings, extra_plugins=[Extender()])
    app = create_app(settings, registry=registry)
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        row = await get_tenant(session, clinic.tenant.slug)
        await enable_plugin(session, registry, row, "extender")
        await session.commit()
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            encounter = Encounter(
                patient_id=clinic.patient_id,
                provider_id=clinic.provider_id,
                location_id=clinic.location_id,
                starts_at=dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC),
                ends_at=dt.datetime(2026, 3, 2, 16, 15, tzinfo=dt.UTC),
                type="evaluation",
                place_of_service="11",
            )
            session.add(encounter)
            await session.commit()
    user = await make_user(clinic.tenant, roles=("clinician",))

    async def client():
        session_id, _ = await session_store.create(
            user_id=user.id, tenant_id=clinic.tenant.id, mfa_verified=True
        )
        c = AsyncTestClient(app=app, base_url=f"http://{clinic.tenant.slug}.localhost")
        c.cookies.set(COOKIE_NAME, session_id)
        return c

    return clinic, encounter, user, client


async def test_hook_tessera_patient_header_items(extended, db):
    clinic, _, _, client = extended
    async with await client() as c:
        chart = await c.get(f"/patients/{clinic.patient_id}")
    assert chart.status_code == 200
    header = chart.text.split('<header class="chart-header"', 1)[1].split("</header>", 1)[0]
    alerts = header.split('aria-label="Alerts"', 1)[1]
    assert alerts.index("Fall risk") < alerts.index("Balance due for Ada")  # by order
    assert 'class="badge header-item header-alert">Fall risk' in alerts
    assert '<a href="/extender/balance">Balance due for Ada</a>' in alerts


async def test_hook_tessera_encounter_panels(extended, db):
    clinic, encounter, user, client = extended
    since = dt.datetime.now(dt.UTC)
    async with await client() as c:
        shown = await c.get(f"/encounters/{encounter.id}")
        chart = await c.get(f"/patients/{clinic.patient_id}")
        missing = await c.get("/encounters/01a23cfd-508c-7151-b71a-f3f515554a89")
    assert shown.status_code == 200
    assert "<h2>Vitals</h2><p>Vitals for a planned visit</p>" in shown.text
    assert f'<a href="/patients/{clinic.patient_id}">' in shown.text and ", Ada</a>" in shown.text
    assert f'href="/encounters/{encounter.id}"' in chart.text  # the chart links each visit
    assert missing.status_code == 404
    await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="core:encounters",
        patient_id=clinic.patient_id,
        actor=user,
        since=since,
        route="GET /encounters/{encounter_id}",
    )


async def test_hook_tessera_worklist_items(extended, db, make_tenant, make_user, client_as):
    clinic, _, user, client = extended
    async with await client() as c:
        home = await c.get("/")
        work = await c.get("/my-work")
    assert 'href="/my-work"' in home.text  # offered once a plugin contributes work
    assert work.status_code == 200
    text = work.text
    assert text.index("Notes to sign") < text.index("Tasks")
    assert text.index("Sign the note of 1 March") < text.index("Sign the note of 2 March")  # by due date
    assert f"Call back ({user.email})" in text
    # what the plugin recorded while listing is committed with the page
    await assert_audited(db, clinic.tenant, action="extender.worklist_read", actor=user)
    # a clinic without such a plugin: someone who writes no notes (core's entries are
    # their drafts to sign) has no "My work" entry and an empty list
    other = await make_tenant(plugins=("sample",))
    async with await client_as(other, await make_user(other, roles=("front_desk",))) as c:
        assert 'href="/my-work"' not in (await c.get("/")).text
        assert "Nothing waiting for you." in (await c.get("/my-work")).text


async def test_hook_tessera_audit_actions(extended, db):
    from core.audit.actions import all_actions, is_known

    assert is_known("extender.worklist_read") and "extender.worklist_read" in all_actions()
    assert not is_known("extender.unknown")
    with pytest.raises(ValueError, match=r"unknown audit action 'extender\.unknown'"):
        await record(None, action="extender.unknown", resource_type="x")

    class Outsider:
        manifest = Manifest(name="outsider", version="1.0", title="Outsider")

        @hookimpl
        def tessera_audit_actions(self):
            return ["core.login"]

    with pytest.raises(PluginError, match=r"must be named 'outsider\.<action>'"):
        PluginRegistry().load(objects=[Outsider()], use_entry_points=False)
    # the audit log's filter accepts the declared action
    from core.audit.report import parse_filters

    assert parse_filters({"action": "extender.worklist_read"}, "UTC").action == "extender.worklist_read"
