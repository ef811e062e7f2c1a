"""Creating, finding and suspending tenants (platform operations on the global registry)."""

from __future__ import annotations

import re
import zoneinfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.lifecycle.errors import TenantError
from core.tenancy.models import RESERVED_SLUGS, SLUG_PATTERN, Tenant

_SLUG = re.compile(SLUG_PATTERN)


def check_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not _SLUG.match(slug):
        raise TenantError(
            f"slug {slug!r} is not usable in a web address: use 1-63 lower-case letters, "
            "digits and hyphens, not starting or ending with a hyphen"
        )
    if slug in RESERVED_SLUGS:
        raise TenantError(f"slug {slug!r} is reserved; choose another")
    return slug


async def create_tenant(
    session: AsyncSession, *, slug: str, name: str, time_zone: str = "UTC", preset: str | None = None
) -> Tenant:
    slug = check_slug(slug)
    if not name or not name.strip():
        raise TenantError("a tenant needs a name")
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TenantError(
            f"unknown time zone {time_zone!r}; use an IANA name such as America/Chicago"
        ) from None
    tenant = Tenant(slug=slug, name=name.strip(), time_zone=time_zone, preset=preset)
    session.add(tenant)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise TenantError(f"a tenant with slug {slug!r} already exists") from None
    return tenant


async def get_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise TenantError(f"no tenant with slug {slug!r}; `tessera tenants list` shows them")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list(await session.scalars(select(Tenant).order_by(Tenant.slug)))


async def set_status(session: AsyncSession, tenant: Tenant, status: str) -> None:
    if status not in ("active", "suspended"):
        raise TenantError(f"unknown status {status!r}")
    await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant.id)
        .values(status=status, config_version=Tenant.config_version + 1)
    )
    tenant.status = status


async def bump_config_version(session: AsyncSession, tenant_id) -> None:
    await session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(config_version=Tenant.config_version + 1)
    )
