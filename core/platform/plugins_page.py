"""``/platform/plugins``: what the platform operator needs to know about plugins.

* the installed plugins, and those left out at boot with the one-line reason
  (``registry.broken``: core range, missing requirement, misspelt hook, an installation
  hook that raised);
* every tenant's recorded failures of robust hooks (``core_plugin_failures``): which
  plugin, which hook, how often, the exception type and where, the last request id to
  look up in the log. Never a message: it may hold patient data.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from core.authz.guards import requires_operator
from core.plugins.failures import failures_of_every_tenant
from core.web.render import page

GUARDS = [requires_operator]


def _installed(request: Request) -> list[dict[str, Any]]:
    registry = request.app.state.registry
    return [
        {"name": m.name, "version": m.version, "title": m.title, "core": m.core} for m in registry.optional()
    ]


@get("/platform/plugins", name="platform:plugins", guards=GUARDS, include_in_schema=False)
async def plugins_page(request: Request) -> Template:
    registry = request.app.state.registry
    return await page(
        request,
        "core/platform/plugins.html",
        page_title="Plugins",
        installed=_installed(request),
        broken=sorted(registry.broken.items()),
        failures=await failures_of_every_tenant(request.app.state.db),
    )


@get("/api/platform/plugins", name="platform:api-plugins", guards=GUARDS)
async def plugins_api(request: Request) -> dict:
    """Installed plugins, plugins left out at boot (with why), and recorded hook failures."""
    registry = request.app.state.registry
    return {
        "installed": _installed(request),
        "broken": [{"name": name, "reason": reason} for name, reason in sorted(registry.broken.items())],
        "failures": [
            {
                "tenant": f.tenant_slug,
                "plugin": f.plugin,
                "hook": f.hook,
                "failures": f.failures,
                "first_at": f.first_at.isoformat(),
                "last_at": f.last_at.isoformat(),
                "last_error": f.last_error,
                "last_request_id": f.last_request_id,
            }
            for f in await failures_of_every_tenant(request.app.state.db)
        ],
    }


ROUTES: list = [plugins_page, plugins_api]
