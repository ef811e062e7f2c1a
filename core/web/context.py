"""What a request knows about where it is: the platform area or one tenant's site."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.tenancy.context import tenant_scope
from core.tenancy.models import Tenant, TenantPlugin

if TYPE_CHECKING:
    from core.db.session import Database
    from core.plugins.registry import PluginRegistry, TenantHooks


@dataclass(frozen=True)
class TenantInfo:
    """An immutable snapshot of the tenant row, safe to cache and share between requests."""

    id: uuid.UUID
    slug: str
    name: str
    status: str
    time_zone: str
    config_version: int
    session_idle_seconds: int = 900
    session_max_seconds: int = 43200
    mfa_required: bool = False

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class SiteContext:
    """Stored in ``request.state.site`` by the host middleware."""

    area: str  # "platform" or "tenant"
    tenant: TenantInfo | None = None
    enabled_plugins: frozenset[str] = frozenset()
    hooks: TenantHooks | None = None
    #: plugin name -> the tenant's configuration of it (validated when it was enabled)
    plugin_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def is_tenant(self) -> bool:
        return self.area == "tenant"


class TenantDirectory:
    """Resolves slugs to tenants and tenants to their enabled plugins.

    The tenant row is read on every request (one indexed lookup), so suspension takes
    effect at once in every process; the enabled-plugin set is cached per process, keyed
    by the tenant's ``config_version`` which every change bumps.
    """

    def __init__(self, db: Database, registry: PluginRegistry) -> None:
        self.db = db
        self.registry = registry
        self._enabled: dict[uuid.UUID, tuple[int, Mapping[str, Mapping[str, Any]]]] = {}

    async def by_slug(self, slug: str) -> TenantInfo | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        Tenant.id,
                        Tenant.slug,
                        Tenant.name,
                        Tenant.status,
                        Tenant.time_zone,
                        Tenant.config_version,
                        Tenant.session_idle_seconds,
                        Tenant.session_max_seconds,
                        Tenant.mfa_required,
                    ).where(Tenant.slug == slug)
                )
            ).first()
        return TenantInfo(*row) if row else None

    async def plugin_configs(self, tenant: TenantInfo) -> Mapping[str, Mapping[str, Any]]:
        """The tenant's enabled plugins and their configuration (read-only)."""
        cached = self._enabled.get(tenant.id)
        if cached and cached[0] == tenant.config_version:
            return cached[1]
        with tenant_scope(tenant.id):
            async with self.db.session() as session:
                rows = await session.execute(
                    select(TenantPlugin.plugin, TenantPlugin.config).where(TenantPlugin.disabled_at.is_(None))
                )
                # Only what is installed now: a plugin uninstalled since stays off.
                configs = MappingProxyType(
                    {
                        name: MappingProxyType(dict(config or {}))
                        for name, config in rows
                        if name in self.registry.plugins
                    }
                )
        self._enabled[tenant.id] = (tenant.config_version, configs)
        return configs

    async def site_for(self, tenant: TenantInfo) -> SiteContext:
        configs = await self.plugin_configs(tenant)
        enabled = frozenset(configs)
        return SiteContext("tenant", tenant, enabled, self.registry.for_tenant(enabled), configs)


def site_of(request: Any) -> SiteContext:
    return request.scope["state"]["site"]


def plugin_config(request: Any, plugin: str) -> dict[str, Any]:
    """The current tenant's configuration of ``plugin`` ({} when it has none)."""
    return dict(site_of(request).plugin_configs.get(plugin, {}))
