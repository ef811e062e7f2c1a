"""Host-based tenant resolution: the fourth layer of tenancy, at the HTTP entry point.

``<slug>.<base-domain>`` is a tenant's site and every request to it runs inside
``tenant_scope``; the base domain itself is the platform-operator area. An unknown or
suspended tenant's host answers 404 without revealing which of the two it is.
"""

from __future__ import annotations

import re

from litestar.types import ASGIApp, Receive, Scope, Send

from core.plugins.failures import recording_to, request_id_from
from core.tenancy.context import tenant_scope
from core.web.context import REQUEST_SESSION, SiteContext, TenantDirectory
from core.web.errors import send_not_found

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ALWAYS_SERVED = ("/healthz",)


def host_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):  # IPv6 literal
                return host.split("]")[0] + "]"
            return host.rsplit(":", 1)[0] if ":" in host else host
    return ""


def slug_for(host: str, base_domain: str) -> str | None:
    """The tenant slug of ``host``, "" for the base domain itself, None for foreign hosts."""
    host = host.rstrip(".")
    if host == base_domain:
        return ""
    suffix = "." + base_domain
    if host.endswith(suffix):
        label = host[: -len(suffix)]
        if _LABEL.match(label):
            return label
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def host_middleware_factory(base_domain: str, directory: TenantDirectory):
    platform_site = SiteContext("platform")

    def middleware(app: ASGIApp) -> ASGIApp:
        async def resolve_host(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            slug = slug_for(host_of(scope), base_domain)
            if slug == "":
                state["site"] = platform_site
                await app(scope, receive, send)
                return
            tenant = await directory.by_slug(slug) if slug else None
            if tenant is None or not tenant.is_active:
                if scope["path"] in ALWAYS_SERVED:
                    state["site"] = SiteContext("none")
                    await app(scope, receive, send)
                    return
                await send_not_found(scope, send, "There is no clinic at this address.")
                return
            state["site"] = await directory.site_for(tenant)
            # robust hooks record a plugin's failure for this tenant, under this request id
            request_id = state["request_id"] = request_id_from(_header(scope, b"x-request-id"))
            with tenant_scope(tenant.id), recording_to(directory.db, request_id):
                if scope["type"] != "http":
                    await app(scope, receive, send)
                    return
                # The request's one database session (core.web.context.request_session):
                # authentication reads through it and the handler gets it as db_session.
                # It connects only when first used; closing it here rolls back whatever
                # the handler did not commit (the db_session dependency closes it sooner).
                async with directory.db.session() as session:
                    state[REQUEST_SESSION] = session
                    try:
                        await app(scope, receive, send)
                    finally:
                        state.pop(REQUEST_SESSION, None)

        return resolve_host

    return middleware
