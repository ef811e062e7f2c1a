"""Scheduling as a plugin: loaded through its entry point like a third-party package,
publishing hooks other plugins implement, seeding a new clinic once, and keeping its data
when a clinic switches it off."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from sqlalchemy import func, select

from core.lifecycle.plugins import disable_plugin, enable_plugin
from core.plugin_api import Manifest, hookimpl
from core.plugins.registry import PluginError, PluginRegistry
from core.tenancy import tenant_scope
from plugins.scheduling.defaults import STARTER_TYPES
from plugins.scheduling.models import AppointmentType


def test_scheduling_is_found_through_its_entry_point_like_any_package():
    (ep,) = [ep for ep in entry_points(group="tessera.plugins") if ep.name == "scheduling"]
    assert ep.value == "plugins.scheduling"
    module = ep.load()
    assert module.manifest.name == "scheduling"
    assert module.manifest.supports_core("0.1.0")


class Billing:
    """Another plugin implementing a hook scheduling publishes."""

    manifest = Manifest(name="billing", version="1.0", title="Billing", requires=("scheduling",))

    @hookimpl
    def tessera_scheduling_booking_check(self, booking, session):
        return []


class Misspelt:
    manifest = Manifest(name="careless", version="1.0", title="Careless", requires=("scheduling",))

    @hookimpl
    def tessera_scheduling_bookin_check(self, booking, session):
        return []


def _registry(*objects) -> PluginRegistry:
    import plugins.scheduling

    registry = PluginRegistry()
    registry.load(modules=[plugins.scheduling.__name__], objects=objects, use_entry_points=False)
    return registry


def test_another_plugin_may_implement_a_hook_scheduling_publishes():
    registry = _registry(Billing())
    callers = registry.pm.hook.tessera_scheduling_booking_check.get_hookimpls()
    assert [impl.plugin_name for impl in callers] == ["billing"]


def test_a_misspelt_implementation_of_a_published_hook_stops_the_boot():
    with pytest.raises(Exception, match="tessera_scheduling_bookin_check"):
        _registry(Misspelt())


def test_without_scheduling_installed_its_hooks_are_unknown():
    registry = PluginRegistry()
    with pytest.raises(PluginError, match="requires plugin 'scheduling'"):
        registry.load(objects=[Billing()], use_entry_points=False)


async def _type_names(db, tenant) -> list[str]:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AppointmentType.name).order_by(AppointmentType.name)))


async def test_enabling_seeds_starter_types_once_and_disabling_keeps_them(db, registry, make_tenant):
    tenant = await make_tenant(plugins=("scheduling",))
    expected = sorted(t["name"] for t in STARTER_TYPES)
    assert await _type_names(db, tenant) == expected

    async with db.session() as session:
        await disable_plugin(session, registry, tenant, "scheduling")
        await session.commit()
    assert await _type_names(db, tenant) == expected  # data kept

    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "scheduling")
        await session.commit()
    assert await _type_names(db, tenant) == expected  # not seeded twice


async def test_a_clinic_with_its_own_types_gets_no_starter_types(db, registry, make_tenant):
    tenant = await make_tenant()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            session.add(AppointmentType(name="Dry needling", duration_minutes=20))
            await session.commit()
    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "scheduling")
        await session.commit()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(AppointmentType)) == 1
