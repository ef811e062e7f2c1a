"""What a plugin may ask about the clinic its session is scoped to when there is no
request at hand (a job, a service called from several places): the clinic's and a
location's time zone, and the stored configuration of a plugin. In a request,
``site_of(request)`` and ``plugin_config`` answer from the request's cached copy."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.practice.models import Location
from core.tenancy.context import require_tenant_id
from core.tenancy.models import Tenant, TenantPlugin


async def clinic_time_zone(session: AsyncSession) -> str:
    """The IANA zone of the clinic in scope (``UTC`` when it never set one)."""
    zone = await session.scalar(select(Tenant.time_zone).where(Tenant.id == require_tenant_id()))
    return zone or "UTC"


async def location_time_zone(session: AsyncSession, location_id: uuid.UUID) -> str:
    """The location's zone, else the clinic's: where wall-clock times at that location
    are read and shown."""
    zone = await session.scalar(select(Location.time_zone).where(Location.id == location_id))
    return zone or await clinic_time_zone(session)


async def stored_plugin_config(session: AsyncSession, plugin: str) -> dict[str, Any]:
    """The clinic's configuration of ``plugin`` as enabled ({} when none or disabled)."""
    config = await session.scalar(
        select(TenantPlugin.config).where(TenantPlugin.plugin == plugin, TenantPlugin.disabled_at.is_(None))
    )
    return dict(config or {})


__all__ = ["clinic_time_zone", "location_time_zone", "stored_plugin_config"]
