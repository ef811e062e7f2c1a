"""Enabling and disabling plugins for one tenant.

Enabling records the plugin in ``tenant_plugins`` (config validated against the plugin's
schema) and runs the plugin's ``tessera_tenant_plugin_enabled`` hook in the same
transaction, so a failing setup leaves the plugin disabled. Disabling keeps the data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.base import utcnow
from core.lifecycle.errors import TenantError
from core.lifecycle.registry import bump_config_version
from core.plugins.registry import PluginError, PluginRegistry, resolve
from core.tenancy.context import tenant_scope
from core.tenancy.models import Tenant, TenantPlugin


async def enabled_plugins(session: AsyncSession, tenant: Tenant) -> list[str]:
    with tenant_scope(tenant.id):
        rows = await session.scalars(
            select(TenantPlugin.plugin)
            .where(TenantPlugin.disabled_at.is_(None))
            .order_by(TenantPlugin.plugin)
        )
        return list(rows)


async def enable_plugin(
    session: AsyncSession,
    registry: PluginRegistry,
    tenant: Tenant,
    name: str,
    config: dict[str, Any] | None = None,
) -> TenantPlugin:
    """Enable ``name`` for ``tenant``; the caller commits."""
    if registry.is_builtin(name):
        raise TenantError(f"{name!r} is part of core and always on")
    try:
        manifest = registry.manifest(name)
        config = registry.validate_config(name, config)
    except PluginError as exc:
        raise TenantError(str(exc)) from None
    with tenant_scope(tenant.id):
        current = set(await enabled_plugins(session, tenant))
        missing = [r for r in manifest.requires if r not in current]
        if missing:
            raise TenantError(
                f"plugin {name!r} requires {', '.join(repr(m) for m in missing)}; "
                f"enable {'it' if len(missing) == 1 else 'them'} first"
            )
        row = await session.get(TenantPlugin, (tenant.id, name))
        if row is None:
            row = TenantPlugin(plugin=name, config=config)
            session.add(row)
        else:
            row.disabled_at = None
            row.enabled_at = utcnow()
            row.config = config
        await session.flush()
        for result in registry.only(name).tessera_tenant_plugin_enabled(
            tenant_id=tenant.id, session=session, config=config
        ):
            await resolve(result)
        await bump_config_version(session, tenant.id)
    return row


async def disable_plugin(session: AsyncSession, registry: PluginRegistry, tenant: Tenant, name: str) -> None:
    """Disable ``name`` for ``tenant`` (its data stays); the caller commits."""
    with tenant_scope(tenant.id):
        current = set(await enabled_plugins(session, tenant))
        if name not in current:
            raise TenantError(f"plugin {name!r} is not enabled for {tenant.slug}")
        dependants = sorted(
            other
            for other in current
            if other in registry.plugins and name in registry.manifest(other).requires
        )
        if dependants:
            raise TenantError(
                f"plugin {name!r} is required by {', '.join(dependants)}; disable "
                f"{'it' if len(dependants) == 1 else 'them'} first"
            )
        row = await session.get(TenantPlugin, (tenant.id, name))
        row.disabled_at = utcnow()
        await session.flush()
        if name in registry.plugins:
            for result in registry.only(name).tessera_tenant_plugin_disabled(
                tenant_id=tenant.id, session=session
            ):
                await resolve(result)
        await bump_config_version(session, tenant.id)
