"""Who the clinic in scope is, for code without a request at hand (a job writing an
e-mail needs the clinic's name and the address of its site)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.context import require_tenant_id
from core.tenancy.models import Tenant


@dataclass(frozen=True)
class ClinicSite:
    """The clinic's name as patients know it, its slug and IANA time zone."""

    name: str
    slug: str
    time_zone: str

    def url(self, settings) -> str:
        """The absolute address of the clinic's site (``Settings.site_url``), no trailing
        slash: ``https://riverside.tessera.example.com``."""
        return settings.site_url(self.slug)


async def clinic_site(session: AsyncSession) -> ClinicSite:
    """The clinic of the current tenant scope (the tenants table is global; the row read is
    the scope's own)."""
    row = (
        await session.execute(
            select(Tenant.name, Tenant.slug, Tenant.time_zone).where(Tenant.id == require_tenant_id())
        )
    ).one()
    return ClinicSite(name=row.name, slug=row.slug, time_zone=row.time_zone or "UTC")


__all__ = ["ClinicSite", "clinic_site"]
