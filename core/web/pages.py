"""Core's own pages: the tenant home, the platform landing page and the health check."""

from __future__ import annotations

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import func, select

from core.auth.guards import public, requires_login
from core.authz.guards import per_site, requires_operator
from core.tenancy.models import Tenant
from core.web.context import site_of
from core.web.render import page


@get(
    "/",
    name="core:home",
    include_in_schema=False,
    guards=[per_site(tenant=requires_login, platform=requires_operator)],
)
async def home(request: Request) -> Template:
    site = site_of(request)
    registry = request.app.state.registry
    if site.area == "platform":
        async with request.app.state.db.session() as session:
            count = await session.scalar(select(func.count()).select_from(Tenant))
        return await page(
            request,
            "core/platform_home.html",
            page_title="Platform",
            tenant_count=count,
            plugins=registry.optional(),
            base_domain=request.app.state.settings.base_domain,
        )
    if site.is_tenant:
        plugins = [registry.manifest(n) for n in sorted(site.enabled_plugins)]
        return await page(request, "core/tenant_home.html", page_title="Home", plugins=plugins)
    raise NotFoundException()


@get(
    "/healthz",
    name="core:health",
    include_in_schema=False,
    sync_to_thread=False,
    guards=[public("load balancer health check")],
)
def health() -> dict[str, str]:
    return {"status": "ok"}
