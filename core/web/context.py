"""What a request knows about where it is: the platform area or one tenant's site."""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.tenancy import changes
from core.tenancy.context import tenant_scope
from core.tenancy.models import Tenant, TenantPlugin

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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


#: How long a process trusts its copy of a tenant row. A change made in the same process
#: (suspension, settings) is seen at once; one made by another process (another web
#: worker, the CLI) within this many seconds. docs/security.md states the bound.
TENANT_CACHE_SECONDS = 2.0


class TenantDirectory:
    """Resolves slugs to tenants and tenants to their enabled plugins.

    Every request needs its tenant row, so each process keeps a snapshot of the whole
    registry (one small query) for ``TENANT_CACHE_SECONDS`` instead of a query and a pool
    checkout per request. A whole snapshot rather than one entry per slug: with requests
    spread over many clinics, per-slug entries would mostly have expired by the next
    request of the same clinic. Any commit in this process that changes a tenant empties
    the snapshot (``core.tenancy.changes``). A slug missing from the snapshot is read on its
    own, so a clinic created since answers at once. The enabled-plugin set is cached per
    process, keyed by the tenant's ``config_version``, which every change of it bumps.
    """

    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        *,
        ttl: float = TENANT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.registry = registry
        self.ttl = ttl
        self.clock = clock
        self._snapshot: dict[str, TenantInfo] = {}
        self._expires = float("-inf")
        self._generation = 0  # bumped by forget()
        #: the registry read on its way: (generation it began in, its task)
        self._pending: tuple[int, asyncio.Future] | None = None
        self._enabled: dict[uuid.UUID, tuple[int, Mapping[str, Mapping[str, Any]]]] = {}
        changes.subscribe(self)

    def forget(self) -> None:
        """Drop the snapshot (the next request reads the registry again)."""
        self._expires = float("-inf")
        self._generation += 1

    async def by_slug(self, slug: str) -> TenantInfo | None:
        if self.clock() >= self._expires:
            await self._reload()
        tenant = self._snapshot.get(slug)
        if tenant is None:
            found = await self._read(slug)
            tenant = found[0] if found else None
        return tenant

    async def _reload(self) -> None:
        """Read the registry again, once however many requests find the snapshot expired at
        the same moment: they wait for the read on its way, which began after the expiry,
        so the staleness bound holds (never "use the old one meanwhile"). A read begun
        before this process committed a tenant change is not joined: a new one starts."""
        pending = self._pending
        if pending is None or pending[0] != self._generation:
            pending = self._pending = (self._generation, asyncio.ensure_future(self._load(self._generation)))
        # shielded: a request that is cancelled (client gone) must not cancel the others' read
        await asyncio.shield(pending[1])

    async def _load(self, generation: int) -> None:
        started = self.clock()
        try:
            rows = await self._read()
            self._snapshot = {t.slug: t for t in rows}
            if generation == self._generation:  # no change was committed meanwhile
                self._expires = started + self.ttl
        finally:
            if self._pending is not None and self._pending[0] == generation:
                self._pending = None

    async def _read(self, slug: str | None = None) -> list[TenantInfo]:
        """Tenant rows: all of them, or the one with ``slug``."""
        statement = select(
            Tenant.id,
            Tenant.slug,
            Tenant.name,
            Tenant.status,
            Tenant.time_zone,
            Tenant.config_version,
            Tenant.session_idle_seconds,
            Tenant.session_max_seconds,
            Tenant.mfa_required,
        )
        if slug is not None:
            statement = statement.where(Tenant.slug == slug)
        async with self.db.engine.connect() as conn:
            return [TenantInfo(*row) for row in await conn.execute(statement)]

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


#: where the host middleware keeps the request's database session (``request_session``)
REQUEST_SESSION = "tessera_db_session"
DB_SESSION_DEPENDENCY = "db_session"


def request_session(scope: Any) -> AsyncSession | None:
    """The session a request on a clinic's site runs in, from authentication to the handler
    (None on other sites). One session means one pool checkout and, unless the handler
    commits, one transaction per request."""
    return scope.get("state", {}).get(REQUEST_SESSION)


_uses_db_session: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def handler_uses_db_session(scope: Any) -> bool:
    """Whether the routed handler, or one of its dependencies, takes ``db_session``."""
    handler = scope.get("route_handler")
    if handler is None:
        return False
    known = _uses_db_session.get(handler)
    if known is None:
        known = _takes_db_session(handler)
        _uses_db_session[handler] = known
    return known


def _takes_db_session(handler: Any) -> bool:
    try:
        providers = handler.resolve_dependencies()
        wanted = list(handler.parsed_fn_signature.parameters)
    except AttributeError:  # not a Litestar route handler: it takes no dependencies
        return False
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name == DB_SESSION_DEPENDENCY:
            return True
        if name in seen or name not in providers:
            continue
        seen.add(name)
        signature = getattr(providers[name], "parsed_fn_signature", None)
        if signature is not None:
            wanted.extend(signature.parameters)
    return False


def site_of(request: Any) -> SiteContext:
    return request.scope["state"]["site"]


def plugin_config(request: Any, plugin: str) -> dict[str, Any]:
    """The current tenant's configuration of ``plugin`` ({} when it has none)."""
    return dict(site_of(request).plugin_configs.get(plugin, {}))
