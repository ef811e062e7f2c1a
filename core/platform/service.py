"""What a platform operator does to tenants: list, create from a preset with a first owner,
enable and disable plugins, suspend and resume.

Every change is written to the AFFECTED TENANT's audit log in the same transaction
(``resource_type="tenant"``, the operator as actor): it is the clinic's record of what the
platform did to it. Functions leave the commit to the caller, except ``tenant_rows`` which
only reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.authz import members
from core.plugins.registry import PluginRegistry
from core.tenancy.context import tenant_scope, unscoped
from core.tenancy.models import Tenant, TenantPlugin
from tenants.errors import TenantError
from tenants.plugins import disable_plugin, enable_plugin
from tenants.presets import apply_preset, get_preset, load_presets
from tenants.registry import create_tenant, set_status

STATUSES = ("active", "suspended")


class PlatformError(Exception):
    """A request the operator can correct; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class TenantRow:
    id: uuid.UUID
    slug: str
    name: str
    preset: str | None
    status: str
    created_at: dt.datetime
    time_zone: str
    plugins: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "slug": self.slug,
            "name": self.name,
            "preset": self.preset,
            "status": self.status,
            "time_zone": self.time_zone,
            "created_at": self.created_at.isoformat(),
            "plugins": self.plugins,
        }


@dataclass
class PluginState:
    name: str
    title: str
    description: str
    installed: bool
    enabled: bool
    config: dict[str, Any]
    config_schema: dict[str, Any]
    requires: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "installed": self.installed,
            "enabled": self.enabled,
            "config": self.config,
            "config_schema": self.config_schema,
            "requires": list(self.requires),
        }


@dataclass
class CreatedTenant:
    tenant: TenantRow
    enabled: list[str]
    not_installed: list[str]
    failed: dict[str, str]
    owner: members.MemberView
    owner_is_new: bool


def _row(tenant: Tenant, plugins: list[str]) -> TenantRow:
    return TenantRow(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        preset=tenant.preset,
        status=tenant.status,
        created_at=tenant.created_at,
        time_zone=tenant.time_zone,
        plugins=plugins,
    )


def preset_choices() -> list[tuple[str, str]]:
    return [(p.name, p.title) for p in load_presets().values()]


async def tenant_rows(db) -> list[TenantRow]:
    """Every tenant with its enabled plugins (two queries, whatever the number of tenants)."""
    async with db.session() as session:
        tenants = list(await session.scalars(select(Tenant).order_by(Tenant.slug)))
    enabled: dict[uuid.UUID, list[str]] = {}
    with unscoped("platform operator: list every tenant's enabled plugins"):
        async with db.session() as session:
            rows = await session.execute(
                select(TenantPlugin.tenant_id, TenantPlugin.plugin)
                .where(TenantPlugin.disabled_at.is_(None))
                .order_by(TenantPlugin.plugin)
            )
            for tenant_id, plugin in rows:
                enabled.setdefault(tenant_id, []).append(plugin)
    return [_row(t, enabled.get(t.id, [])) for t in tenants]


async def find_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise PlatformError(f"There is no tenant with the slug {slug!r}.", status=404)
    return tenant


async def plugin_states(session: AsyncSession, registry: PluginRegistry, tenant: Tenant) -> list[PluginState]:
    """Every installed plugin (and any the tenant enabled that is no longer installed)."""
    with tenant_scope(tenant.id):
        rows = {row.plugin: row for row in await session.scalars(select(TenantPlugin))}
    states = []
    for manifest in registry.optional():
        row = rows.get(manifest.name)
        states.append(
            PluginState(
                name=manifest.name,
                title=manifest.title,
                description=manifest.description,
                installed=True,
                enabled=row is not None and row.enabled,
                config=dict(row.config or {}) if row is not None else {},
                config_schema=manifest.config_schema,
                requires=manifest.requires,
            )
        )
    for name, row in sorted(rows.items()):
        if name not in registry.plugins and row.enabled:
            states.append(PluginState(name, name, "", False, True, dict(row.config or {}), {}))
    return states


async def tenant_detail(session: AsyncSession, registry: PluginRegistry, tenant: Tenant) -> dict[str, Any]:
    states = await plugin_states(session, registry, tenant)
    row = _row(tenant, [s.name for s in states if s.enabled])
    return {**row.as_json(), "plugin_states": [s.as_json() for s in states]}


async def _audit(session: AsyncSession, tenant: Tenant, action: str, detail: dict[str, Any]) -> None:
    with tenant_scope(tenant.id):
        await record(session, action=action, resource_type="tenant", resource_id=tenant.id, detail=detail)


def _text(value: object, what: str, *, limit: int = 200, required: bool = True) -> str:
    if value is not None and not isinstance(value, str):
        raise PlatformError(f"{what} must be text")
    text = " ".join(str(value or "").split())
    if required and not text:
        raise PlatformError(f"enter {what}")
    if len(text) > limit:
        raise PlatformError(f"{what} is too long (at most {limit} characters)")
    return text


async def create_with_owner(
    session: AsyncSession,
    registry: PluginRegistry,
    *,
    slug: object,
    name: object,
    preset: object,
    time_zone: object,
    owner_email: object,
    owner_name: object,
) -> CreatedTenant:
    """Create a tenant, enable its preset's installed plugins and make its first owner.

    An existing user (by e-mail) gets an owner membership; a new one is created without a
    password (the caller hands out a set-password link).
    """
    preset_name = _text(preset, "a preset", limit=40)
    try:
        chosen = get_preset(preset_name)
        tenant = await create_tenant(
            session,
            slug=_text(slug, "a slug", limit=63),
            name=_text(name, "the clinic's name"),
            time_zone=_text(time_zone, "a time zone", limit=64, required=False) or "UTC",
            preset=chosen.name,
        )
        report = await apply_preset(session, registry, tenant, chosen)
    except TenantError as exc:
        raise PlatformError(str(exc)) from None
    with tenant_scope(tenant.id):
        try:
            owner, created = await members.add_member(
                session,
                email=_text(owner_email, "the owner's e-mail address", limit=254),
                name=_text(owner_name, "the owner's name"),
                roles=[members.OWNER],
                known_roles=(members.OWNER,),
            )
        except members.MemberError as exc:
            raise PlatformError(f"first owner: {exc.message}", status=exc.status) from None
    await _audit(
        session,
        tenant,
        "create",
        {
            "slug": tenant.slug,
            "name": tenant.name,
            "preset": chosen.name,
            "plugins_enabled": report.enabled,
            "plugins_not_installed": report.not_installed,
            "plugins_failed": report.failed,
            "owner_user_id": str(owner.user_id),
            "owner_is_new": created,
        },
    )
    await session.flush()
    return CreatedTenant(
        tenant=_row(tenant, report.enabled),
        enabled=report.enabled,
        not_installed=report.not_installed,
        failed=report.failed,
        owner=owner,
        owner_is_new=created,
    )


async def enable(
    session: AsyncSession, registry: PluginRegistry, tenant: Tenant, plugin: str, config: object
) -> None:
    """Enable ``plugin`` (or change its configuration when it is on already)."""
    if config is not None and not isinstance(config, dict):
        raise PlatformError('the configuration must be a JSON object, e.g. {} or {"key": "value"}')
    if plugin not in registry.plugins:
        raise PlatformError(f"plugin {plugin!r} is not installed on this instance")
    try:
        async with session.begin_nested():
            await enable_plugin(session, registry, tenant, plugin, config)
    except TenantError as exc:
        raise PlatformError(str(exc)) from None
    # configuration values may be credentials: the log keeps their names only
    await _audit(
        session, tenant, "update", {"plugin": plugin, "enabled": True, "config_keys": sorted(config or {})}
    )


async def disable(session: AsyncSession, registry: PluginRegistry, tenant: Tenant, plugin: str) -> None:
    try:
        async with session.begin_nested():
            await disable_plugin(session, registry, tenant, plugin)
    except TenantError as exc:
        raise PlatformError(str(exc), status=409) from None
    await _audit(session, tenant, "update", {"plugin": plugin, "enabled": False})


async def change_status(session: AsyncSession, tenant: Tenant, status: object) -> None:
    """Suspend (``"suspended"``: its hosts answer 404, its jobs wait) or resume (``"active"``)."""
    if status not in STATUSES:
        raise PlatformError(f"status must be one of: {', '.join(STATUSES)}")
    if tenant.status == status:
        raise PlatformError(f"tenant {tenant.slug} is already {status}", status=409)
    before = tenant.status
    await set_status(session, tenant, str(status))
    await _audit(session, tenant, "update", {"status": {"from": before, "to": status}})
