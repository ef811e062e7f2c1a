"""``/schema`` on a clinic's site describes only the API that clinic has: core's and that of
the plugins it enabled. (The routes of other plugins answer 404 there; their description
would only advertise them.) The platform operator's site describes everything.

The OpenAPI document is generated once per app; each render (JSON, YAML, the UIs) drops
the paths of plugins the site has not enabled, and the component schemas only they used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute

from core.web.context import site_of

REF_PREFIX = "#/components/schemas/"


def plugin_paths(app: Litestar) -> dict[str, str]:
    """OpenAPI path -> the plugin that serves it (paths of core are not listed)."""
    owners: dict[str, str] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            plugin = handler.opt.get("plugin")
            if plugin:
                owners[route.path_format or "/"] = plugin
    return owners


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref.removeprefix(REF_PREFIX)
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def scoped_schema(
    schema: Mapping[str, Any], owners: Mapping[str, str], enabled: Iterable[str]
) -> dict[str, Any]:
    """``schema`` without the paths of plugins outside ``enabled`` and the components
    nothing that remains refers to."""
    enabled = set(enabled)
    paths = {
        p: item for p, item in schema.get("paths", {}).items() if owners.get(p, "core") in enabled | {"core"}
    }
    out = {**schema, "paths": paths}
    components = schema.get("components", {})
    schemas = components.get("schemas")
    if schemas:
        kept: set[str] = set()
        pending = list(_refs(paths))
        while pending:
            name = pending.pop()
            if name in kept or name not in schemas:
                continue
            kept.add(name)
            pending.extend(_refs(schemas[name]))
        out["components"] = {**components, "schemas": {n: s for n, s in schemas.items() if n in kept}}
    return out


def _scoped(render: Callable[[Request, dict[str, Any]], bytes]) -> Callable[[Request, dict[str, Any]], bytes]:
    def render_for_site(request: Request, openapi_schema: dict[str, Any]) -> bytes:
        site = site_of(request)
        if not site.is_tenant:
            return render(request, openapi_schema)
        owners = request.app.state.get("plugin_paths")
        if owners is None:
            owners = request.app.state["plugin_paths"] = plugin_paths(request.app)
        return render(request, scoped_schema(openapi_schema, owners, site.enabled_plugins))

    return render_for_site


def scope_renders(config: OpenAPIConfig) -> OpenAPIConfig:
    """Make every render of ``config`` (JSON, YAML, UIs) describe the site's own API."""
    for plugin in config.render_plugins:
        plugin.render = _scoped(plugin.render)  # type: ignore[method-assign]
    return config
