"""One test per hook (``test_hook_<name>``), through the sample plugin and small fakes."""

from __future__ import annotations

from sqlalchemy import func, select, text

from core.db.admin import current_heads
from core.lifecycle.plugins import disable_plugin, enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError, PluginRegistry
from core.plugins.types import ChartPanel
from core.tenancy import tenant_scope
from tests.fixtures import migration_dirs
from tests.sample_plugin.models import Note


async def signed_in(client_as, session_store, tenant, user):
    """A client with a real session on the tenant's host, sending its CSRF token."""
    from core.auth.sessions import COOKIE_NAME

    client = await client_as(tenant, user)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


async def test_hook_tessera_routes(make_tenant, make_user, client_as, session_store, app):
    tenant = await make_tenant(plugins=("sample",))
    paths = {route.path for route in app.routes}
    assert {"/sample/notes", "/api/sample/notes"} <= paths
    async with await signed_in(client_as, session_store, tenant, await make_user(tenant)) as client:
        created = await client.post("/api/sample/notes", json={"body": "via route"})
        assert created.status_code == 201
        bad = await client.post("/api/sample/notes", json={"body": "  "})
        assert bad.status_code == 400 and bad.json()["detail"] == "a note needs a body"


async def test_hook_tessera_migration_dirs(settings, registry, owner_engine):
    dirs = migration_dirs(registry)
    assert any(d.name == "migrations" and "sample_plugin" in str(d) for d in dirs)
    assert "sample_0001" in set(current_heads(settings, dirs))
    async with owner_engine.connect() as conn:
        applied = set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        tables = set((await conn.execute(text("SELECT tablename FROM pg_tables"))).scalars())
    # the plugin's branch was applied (core_0001 is implied by its depends_on)
    assert "sample_0001" in applied
    assert {"sample_notebooks", "sample_notes"} <= tables


async def test_hook_tessera_template_dirs(make_tenant, make_user, client_as, session_store):
    tenant = await make_tenant(plugins=("sample",), name="Template Clinic")
    async with await signed_in(client_as, session_store, tenant, await make_user(tenant)) as client:
        await client.post("/api/sample/notes", json={"body": "<b>escaped</b>"})
        page = await client.get("/sample/notes")
    assert page.status_code == 200
    assert "<h1>Notes</h1>" in page.text  # the plugin's template
    assert "Template Clinic" in page.text  # inside core's layout
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page.text


async def test_hook_tessera_static_dirs(make_tenant, client_for):
    on, off = await make_tenant(plugins=("sample",)), await make_tenant()
    async with client_for(on.slug) as client:
        css = await client.get("/static/sample/sample.css")
        assert css.status_code == 200 and ".sample-note" in css.text
        assert (await client.get("/static/core/htmx.min.js")).status_code == 200
    async with client_for(off.slug) as client:
        assert (await client.get("/static/sample/sample.css")).status_code == 404
        assert (await client.get("/static/core/tessera.css")).status_code == 200


def test_hook_tessera_permissions(app):
    by_object = {p.object: p for p in app.state.permissions}
    assert by_object["sample:notes"].actions == ("read", "write")
    assert by_object["sample:notes"].default_grants == {"clinician": ("read", "write")}
    assert by_object["sample:notes"].breakable


async def test_hook_tessera_navigation(make_tenant, make_user, client_as):
    on, off = await make_tenant(plugins=("sample",)), await make_tenant()
    async with await client_as(on, await make_user(on)) as client:
        html = (await client.get("/")).text
    # core's Home (order 0) comes before the plugin's entry (order 50)
    assert html.index('href="/"') < html.index('href="/sample/notes"')
    async with await client_as(off, await make_user(off)) as client:
        assert 'href="/sample/notes"' not in (await client.get("/")).text


async def test_hook_tessera_chart_panels(registry, app):
    panels = await registry.for_tenant({"sample"}).collect(
        "tessera_chart_panels", patient=object(), request=None
    )
    assert [p.title for p in panels] == ["Notes"] and isinstance(panels[0], ChartPanel)
    assert (
        await registry.for_tenant(set()).collect("tessera_chart_panels", patient=object(), request=None) == []
    )
    engine = app.template_engine
    rendered = engine.get_template(panels[0].template).render(panel=panels[0])
    assert "<h2>Notes</h2>" in rendered and "0 notes" in rendered


class Recorder:
    manifest = Manifest(name="recorder", version="1.0", title="Recorder")

    def __init__(self):
        self.calls = []

    @hookimpl
    async def tessera_tenant_plugin_enabled(self, tenant_id, session, config):
        # runs in the tenant's scope, inside the enabling transaction
        assert (await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))) == str(tenant_id)
        self.calls.append(("enabled", tenant_id, config))

    @hookimpl
    def tessera_tenant_plugin_disabled(self, tenant_id, session):
        self.calls.append(("disabled", tenant_id))


async def test_hook_tessera_tenant_plugin_enabled(db, make_tenant):
    recorder, other = Recorder(), Recorder()
    other.manifest = Manifest(name="other", version="1.0", title="Other")
    registry = PluginRegistry()
    registry.load(objects=[recorder, other], use_entry_points=False)
    tenant = await make_tenant()
    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "recorder", {})
        await session.commit()
    assert recorder.calls == [("enabled", tenant.id, {})]
    assert other.calls == []  # only the plugin being enabled is called


async def test_hook_tessera_tenant_plugin_disabled(db, make_tenant):
    recorder = Recorder()
    registry = PluginRegistry()
    registry.load(objects=[recorder], use_entry_points=False)
    tenant = await make_tenant()
    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "recorder")
        await disable_plugin(session, registry, await get_tenant(session, tenant.slug), "recorder")
        await session.commit()
    assert recorder.calls[-1] == ("disabled", tenant.id)


async def test_hook_tessera_demo_data(db, registry, make_tenant):
    tenant = await make_tenant(plugins=("sample",), name="Demo Clinic")
    hooks = registry.for_tenant({"sample"})
    for _ in range(2):  # idempotent: make run seeds on every start
        with tenant_scope(tenant.id):
            async with db.session() as session:
                await hooks.collect("tessera_demo_data", tenant=tenant, session=session, hooks=hooks)
                await session.commit()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Note)) == 1
            assert await session.scalar(select(Note.body)) == "Welcome to Demo Clinic"


def _registry_with(*plugins) -> PluginRegistry:
    from core import builtin

    registry = PluginRegistry()
    registry.load(builtin=[(builtin.manifest, builtin)], objects=plugins, use_entry_points=False)
    return registry


def test_hook_tessera_roles(app):
    authz = app.state.authz
    # core's roles are the built-in entries of the vocabulary, then the plugins'
    assert authz.roles[:5] == ("owner", "clinician", "front_desk", "biller", "auditor")
    assert "sample_reviewer" in authz.roles
    assert authz.role_plugins["sample_reviewer"] == "sample" and authz.role_plugins["owner"] == "core"
    assert authz.role_titles["sample_reviewer"] == "Notes reviewer"
    # the role's permission template is policy
    assert "sample_reviewer" in authz.roles_with("sample:notes", "read")
    assert "sample_reviewer" not in authz.roles_with("sample:notes", "write")


def test_plugin_roles_are_checked_at_boot():
    import pytest

    from core.plugins.types import Role

    def plugin(name, *roles):
        class Plugin:
            manifest = Manifest(name=name, version="1.0", title=name, description="", core=">=0.1")

            @staticmethod
            @hookimpl
            def tessera_roles():
                return list(roles)

        return Plugin

    outside = _registry_with(plugin("acme", Role("reviewer", "Reviewer")))
    with pytest.raises(PluginError, match="must be named 'acme_<role>'"):
        outside.roles()
    # a plugin called "front" may not take core's front_desk
    twice = _registry_with(plugin("front", Role("front_desk", "Desk")))
    with pytest.raises(PluginError, match="'front_desk' is defined by both 'core' and 'front'"):
        twice.roles()
    unknown = _registry_with(plugin("acme", Role("acme_x", "X", grants={"core:patients": ("delete",)})))
    with pytest.raises(PluginError, match="no installed permission defines"):
        unknown.roles()


async def test_hook_tessera_encounter_types(app, registry, db, make_tenant, make_user, owner_engine):
    from core.plugins.types import EncounterType
    from tests.test_encounters_api import client_with_role, encounter_body, make_clinic

    kinds = registry.encounter_types()
    assert list(kinds)[:5] == ["office-visit", "evaluation", "re-evaluation", "telehealth", "group"]
    assert kinds["sample-check"] == EncounterType("sample-check", "Notebook check")
    # the encounter API accepts the plugin's kind (the database's check is a shape check,
    # core_0019) and names it
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with await client_with_role(app, db, make_user, clinic.tenant, "front_desk") as client:
        created = await client.post("/api/encounters", json=encounter_body(clinic, type="sample-check"))
        assert created.status_code == 201, created.text
        assert created.json()["type_name"] == "Notebook check"
        unknown = await client.post("/api/encounters", json=encounter_body(clinic, type="sample-nope"))
        assert unknown.status_code == 422
        assert "sample-check" in unknown.text


def test_encounter_types_are_checked_at_boot():
    import pytest

    from core.plugins.types import EncounterType

    class Clash:
        manifest = Manifest(name="clash", version="1.0", title="clash", description="", core=">=0.1")

        @staticmethod
        @hookimpl
        def tessera_encounter_types():
            return [EncounterType("telehealth", "Again")]

    with pytest.raises(PluginError, match="'telehealth' is defined by both 'core' and 'clash'"):
        _registry_with(Clash).encounter_types()
