"""Rendering pages inside the layout: navigation and site name come from the context."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from core import __version__
from core.web.context import site_of


async def page(request: Request, template: str, **context: Any) -> Template:
    """Render ``template`` in the base layout, with the tenant's navigation from plugins."""
    site = site_of(request)
    nav = []
    if site.is_tenant and site.hooks is not None:
        nav = sorted(
            await site.hooks.collect("tessera_navigation", request=request),
            key=lambda item: (item.order, item.label),
        )
    base = {
        "site_name": site.tenant.name if site.tenant else "Tessera",
        "tenant": site.tenant,
        "nav": nav,
        "core_version": __version__,
    }
    return Template(template_name=template, context={**base, **context})
