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
    state = request.scope.get("state", {})
    held = state.get("session")  # (session id, SessionData) of a live session, if any
    principal = state.get("principal")
    signed_in = principal if principal is not None and principal.via == "session" else None
    nav = []
    if site.is_tenant and site.hooks is not None and signed_in is not None:
        authz = request.app.state.authz
        items = await site.hooks.collect("tessera_navigation", request=request)
        nav = sorted(
            (
                item
                for item in items
                # an entry is shown only to those who may open it
                if item.permission is None
                or authz.allowed(signed_in, site.tenant.id, item.permission, "read")
            ),
            key=lambda item: (item.order, item.label),
        )
    base = {
        "site_name": site.tenant.name if site.tenant else "Tessera",
        "tenant": site.tenant,
        "nav": nav,
        "core_version": __version__,
        # CSRF: forms include <input type="hidden" name="_csrf" value="{{ csrf_token }}">;
        # base.html sends it as X-CSRF-Token on every htmx request
        "csrf_token": held[1].csrf_token if held else "",
        "principal": signed_in,
        # the browser's hint for idle sign-out (the server decides; see core.auth.middleware)
        "idle_seconds": (site.tenant.session_idle_seconds if site.tenant else 900) if signed_in else 0,
    }
    return Template(template_name=template, context={**base, **context})


async def form_page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    **context: Any,
) -> Template:
    """A page with a form, for ``core/macros.html``'s fields and error summary: the values
    typed (kept on a refusal, so nothing is lost), the errors by field, a refusal's message,
    and the status (422 or 409 with the errors; 200 without)."""
    response = await page(request, template, values=values or {}, errors=errors or {}, error=error, **context)
    response.status_code = status_code
    return response
