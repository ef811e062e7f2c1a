"""Uninstalling a plugin from the instance: refuse while it is in use, then undo its branch.

``tessera plugins uninstall NAME`` is the step before ``pip uninstall``: it refuses while
any tenant has the plugin enabled, and while the plugin's tables (named ``<plugin>_*``, the
namespacing rule of docs/plugins.md) hold rows unless told to drop them; then it downgrades
the plugin's migration branch to its base (its tables go, its revisions leave
``alembic_version``) and forgets the tenants' disabled ``tenant_plugins`` rows for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.lifecycle.errors import TenantError
from core.lifecycle.export import begin_as_tenant, owner_engine, quote_ident
from core.plugins.registry import PluginRegistry
from core.settings import Settings


@dataclass
class Usage:
    """What still ties the instance to a plugin."""

    enabled_for: list[str] = field(default_factory=list)  # tenant slugs
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows, non-empty tables only
    tables: list[str] = field(default_factory=list)


def plugin_tables(all_tables: list[str], plugin: str, installed: list[str]) -> list[str]:
    """Tables named ``<plugin>_*`` that are not another installed plugin's (``hello`` vs a
    plugin called ``hello_world``)."""
    longer = [other for other in installed if other != plugin and other.startswith(plugin + "_")]
    return sorted(
        table
        for table in all_tables
        if table.startswith(plugin + "_") and not any(table.startswith(other + "_") for other in longer)
    )


async def _count(conn: AsyncConnection, table: str, has_tenant_id: bool, tenant_ids: list) -> int:
    if not has_tenant_id:
        return await conn.scalar(text(f"SELECT count(*) FROM {quote_ident(table)}"))
    total = 0
    # Per tenant: an owner that is not a superuser sees tenant rows only with app.tenant_id
    # set (the policies are forced), so a single count could read 0 and drop live data.
    for tenant_id in tenant_ids:
        await begin_as_tenant(conn, tenant_id)
        total += await conn.scalar(
            text(f"SELECT count(*) FROM {quote_ident(table)} WHERE tenant_id = :t"), {"t": tenant_id}
        )
    return total


async def plugin_usage(settings: Settings, registry: PluginRegistry, plugin: str) -> Usage:
    usage = Usage()
    engine = owner_engine(settings)
    try:
        async with engine.connect() as conn:
            tenants = (await conn.execute(text("SELECT id, slug FROM tenants ORDER BY slug"))).all()
            for tenant_id, slug in tenants:
                await begin_as_tenant(conn, tenant_id)
                enabled = await conn.scalar(
                    text(
                        "SELECT count(*) FROM tenant_plugins WHERE tenant_id = :t AND plugin = :p "
                        "AND disabled_at IS NULL"
                    ),
                    {"t": tenant_id, "p": plugin},
                )
                if enabled:
                    usage.enabled_for.append(slug)
            names = list(
                await conn.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            )
            installed = [m.name for m in registry.optional()]
            usage.tables = plugin_tables(names, plugin, installed)
            for table in usage.tables:
                has_tenant_id = bool(
                    await conn.scalar(
                        text(
                            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                            "AND table_name = :t AND column_name = 'tenant_id'"
                        ),
                        {"t": table},
                    )
                )
                rows = await _count(conn, table, has_tenant_id, [t for t, _ in tenants])
                if rows:
                    usage.rows[table] = rows
            await conn.rollback()
    finally:
        await engine.dispose()
    return usage


def refusal(plugin: str, usage: Usage, drop_tables: bool) -> str | None:
    """Why ``plugin`` may not be uninstalled now, in one sentence, or None."""
    if usage.enabled_for:
        shown = ", ".join(usage.enabled_for[:5]) + (" ..." if len(usage.enabled_for) > 5 else "")
        return (
            f"plugin {plugin!r} is enabled for {len(usage.enabled_for)} tenant(s) ({shown}); "
            f"disable it for each first (tessera plugins disable {plugin} --tenant SLUG)"
        )
    if usage.rows and not drop_tables:
        held = ", ".join(f"{table} ({rows} rows)" for table, rows in sorted(usage.rows.items()))
        return (
            f"plugin {plugin!r} still holds data: {held}; export what must be kept "
            "(tessera tenants export) and pass --drop-tables to drop it"
        )
    return None


async def forget_tenant_settings(settings: Settings, plugin: str) -> int:
    """Delete the (disabled) ``tenant_plugins`` rows of an uninstalled plugin."""
    engine = owner_engine(settings)
    removed = 0
    try:
        async with engine.begin() as conn:
            for (tenant_id,) in (await conn.execute(text("SELECT id FROM tenants"))).all():
                await begin_as_tenant(conn, tenant_id)
                result = await conn.execute(
                    text("DELETE FROM tenant_plugins WHERE tenant_id = :t AND plugin = :p"),
                    {"t": tenant_id, "p": plugin},
                )
                removed += result.rowcount
    finally:
        await engine.dispose()
    return removed


def check_installed(registry: PluginRegistry, plugin: str) -> None:
    if registry.is_builtin(plugin):
        raise TenantError(f"{plugin!r} is part of core and cannot be uninstalled")
    installed = [m.name for m in registry.optional()]
    if plugin not in installed:
        raise TenantError(
            f"plugin {plugin!r} is not installed (installed: {', '.join(installed) or 'none'}); "
            "its package must be installed to undo its migrations"
        )
