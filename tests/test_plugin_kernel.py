"""The plugin kernel: loading, manifests, per-tenant enabling, and the tenant-facing hooks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.app import build_registry, create_app
from core.lifecycle.errors import TenantError
from core.lifecycle.plugins import disable_plugin, enable_plugin, enabled_plugins
from core.lifecycle.presets import Preset, apply_preset, load_presets
from core.lifecycle.registry import get_tenant
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError, PluginRegistry
from core.plugins.types import NavItem, Permission
from core.tenancy import tenant_scope
from core.tenancy.models import TenantPlugin
from tests.sample_plugin.models import Notebook


class FakePlugin:
    def __init__(self, name, *, requires=(), core=">=0.1", schema=None, label=None):
        kwargs = {"config_schema": schema} if schema else {}
        self.manifest = Manifest(
            name=name, version="1.0", title=name.title(), requires=tuple(requires), core=core, **kwargs
        )
        self.label = label or name

    @hookimpl
    def tessera_navigation(self, request):
        return [NavItem(label=self.label, href=f"/{self.manifest.name}")]


def load(*plugins, registry=None) -> PluginRegistry:
    registry = registry or PluginRegistry()
    registry.load(objects=plugins, use_entry_points=False)
    return registry


def test_missing_dependency_is_refused_naming_both():
    with pytest.raises(
        PluginError, match="plugin 'billing' requires plugin 'scheduling', which is not installed"
    ):
        load(FakePlugin("billing", requires=["scheduling"]))
    load(FakePlugin("billing", requires=["scheduling"]), FakePlugin("scheduling"))


def test_core_range_mismatch_is_refused_naming_both():
    with pytest.raises(
        PluginError, match=r"plugin 'future' 1.0 requires tessera core >=9.0, but this core is 0\.1\.0"
    ):
        load(FakePlugin("future", core=">=9.0"))


def test_misspelt_hook_fails_loudly():
    class Typo(FakePlugin):
        @hookimpl
        def tessera_navigaton(self, request):  # the typo is the point
            return []

    with pytest.raises(Exception, match="tessera_navigaton"):
        load(Typo("typo"))


def test_bad_names_and_duplicates_are_refused():
    with pytest.raises(PluginError, match="must be 2-40 lower-case"):
        load(FakePlugin("Bad-Name"))
    with pytest.raises(PluginError, match="two plugins are named 'dup'"):
        load(FakePlugin("dup"), FakePlugin("dup"))


def test_object_without_manifest_is_refused():
    with pytest.raises(PluginError, match="exposes no `manifest`"):
        load(object())


def test_blocked_plugin_is_not_loaded(settings):
    registry = build_registry(settings.with_(plugins_blocked=("sample",)))
    assert "sample" not in registry.plugins


def test_permission_outside_namespace_fails_boot():
    class Grabby(FakePlugin):
        @hookimpl
        def tessera_permissions(self):
            return [Permission("core:everything")]

    with pytest.raises(PluginError, match="must be named 'grabby:<resource>'"):
        load(Grabby("grabby"))


async def test_tenant_hook_calls_reach_only_enabled_plugins():
    registry = load(FakePlugin("alpha"), FakePlugin("beta"))
    alpha_only = registry.for_tenant({"alpha"})
    labels = [item.label for item in await alpha_only.collect("tessera_navigation", request=None)]
    assert labels == ["alpha"]
    both = registry.for_tenant({"alpha", "beta"})
    assert sorted(i.label for i in await both.collect("tessera_navigation", request=None)) == [
        "alpha",
        "beta",
    ]
    assert await registry.for_tenant(set()).collect("tessera_navigation", request=None) == []
    assert registry.for_tenant({"alpha"}) is alpha_only  # cached by the enabled set


async def test_enable_validates_config_and_runs_setup_in_the_same_transaction(db, registry, make_tenant):
    tenant = await make_tenant()
    async with db.session() as session:
        with pytest.raises(TenantError, match="invalid configuration for plugin 'sample' at greeting"):
            await enable_plugin(session, registry, tenant, "sample", {"greeting": "x" * 41})
        with pytest.raises(TenantError, match="at \\(top level\\)"):
            await enable_plugin(session, registry, tenant, "sample", {"unknown": 1})
        await session.rollback()
        await enable_plugin(session, registry, tenant, "sample", {"greeting": "hi"})
        await session.commit()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            row = await session.get(TenantPlugin, (tenant.id, "sample"))
            assert row.config == {"greeting": "hi"} and row.enabled
            # the setup hook seeded a notebook, in the enabling transaction
            assert await session.scalar(select(Notebook.title)) == "Default"


async def test_failed_setup_leaves_the_plugin_disabled(db, settings, make_tenant):
    class Broken(FakePlugin):
        @hookimpl
        async def tessera_tenant_plugin_enabled(self, tenant_id, session, config):
            raise RuntimeError("setup failed")

    registry = load(Broken("broken"))
    tenant = await make_tenant()
    async with db.session() as session:
        with pytest.raises(RuntimeError):
            await enable_plugin(session, registry, tenant, "broken")
        await session.rollback()
    async with db.session() as session:
        assert await enabled_plugins(session, tenant) == []


async def test_requires_must_be_enabled_first_and_cannot_be_disabled_under_a_dependant(db, make_tenant):
    registry = load(FakePlugin("base"), FakePlugin("addon", requires=["base"]))
    tenant = await make_tenant()
    async with db.session() as session:
        with pytest.raises(TenantError, match="plugin 'addon' requires 'base'; enable it first"):
            await enable_plugin(session, registry, tenant, "addon")
        await enable_plugin(session, registry, tenant, "base")
        await enable_plugin(session, registry, tenant, "addon")
        await session.commit()
        with pytest.raises(TenantError, match="plugin 'base' is required by addon"):
            await disable_plugin(session, registry, tenant, "base")
        await disable_plugin(session, registry, tenant, "addon")
        await disable_plugin(session, registry, tenant, "base")
        await session.commit()
        assert await enabled_plugins(session, tenant) == []


async def signed_in(client_as, session_store, tenant, user):
    """A client with a real session on the tenant's host, sending its CSRF token."""
    from core.auth.sessions import COOKIE_NAME

    client = await client_as(tenant, user)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


async def test_disabled_plugin_routes_answer_404_and_data_is_kept(
    db, registry, make_tenant, make_user, client_as, client_for, session_store
):
    on, off = await make_tenant(plugins=("sample",)), await make_tenant()
    on_user = await make_user(on)
    async with await signed_in(client_as, session_store, on, on_user) as client:
        assert (await client.post("/api/sample/notes", json={"body": "kept"})).status_code == 201
        assert (await client.get("/sample/notes")).status_code == 200
    # 404, not 401/403: the plugin guard comes first, so a disabled plugin is not revealed
    async with client_for(off.slug) as client:
        assert (await client.get("/sample/notes")).status_code == 404
        assert (await client.get("/api/sample/notes")).status_code == 404
    async with await signed_in(client_as, session_store, off, await make_user(off)) as client:
        assert (await client.get("/sample/notes")).status_code == 404
        assert (await client.get("/api/sample/notes")).status_code == 404
        assert (await client.post("/api/sample/notes", json={"body": "x"})).status_code == 404
    async with db.session() as session:
        await disable_plugin(session, registry, await get_tenant(session, on.slug), "sample")
        await session.commit()
    async with await client_as(on, on_user) as client:
        assert (await client.get("/api/sample/notes")).status_code == 404
        home = await client.get("/")
        assert 'href="/sample/notes"' not in home.text
    async with db.session() as session:
        await enable_plugin(session, registry, await get_tenant(session, on.slug), "sample")
        await session.commit()
    async with await client_as(on, on_user) as client:
        assert [n["body"] for n in (await client.get("/api/sample/notes")).json()] == ["kept"]


async def test_preset_enables_installed_plugins_and_reports_missing(db, registry, make_tenant):
    tenant = await make_tenant()
    preset = Preset("test", "Test", "", ("sample", "not_installed_plugin"))
    async with db.session() as session:
        report = await apply_preset(session, registry, tenant, preset)
        await session.commit()
        assert report.enabled == ["sample"]
        assert report.not_installed == ["not_installed_plugin"]
        assert await enabled_plugins(session, tenant) == ["sample"]


def test_shipped_presets_load():
    presets = load_presets()
    assert {"rehab", "behavioral", "multispecialty"} <= set(presets)
    assert "scheduling" in presets["rehab"].plugins


async def test_a_plugin_with_a_missing_requirement_is_left_out_and_the_app_boots(settings):
    app = create_app(settings, extra_plugins=[FakePlugin("needy", requires=["ghost"])])
    registry = app.state.registry
    assert "needy" not in registry.plugins and "sample" in registry.plugins
    assert registry.broken == {"needy": "plugin 'needy' requires plugin 'ghost', which is not installed"}
