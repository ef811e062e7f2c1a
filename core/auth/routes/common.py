"""Helpers shared by the sign-in, account and settings routes of core.auth."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.auth import service
from core.auth.guards import principal_of
from core.auth.middleware import PLATFORM, request_meta
from core.auth.principal import Principal
from core.auth.sessions import COOKIE_NAME, SessionData
from core.web.context import SiteContext, site_of
from core.web.render import page

PENDING_SECRET = "mfa_pending_secret"  # noqa: S105 - a session key name, not a secret


def current_site(request: Request) -> SiteContext:
    site = site_of(request)
    if site.area not in ("tenant", "platform"):
        raise NotFoundException()
    return site


def held_session(request: Request) -> tuple[str, SessionData] | None:
    """(session id, data) of the request's live session, anonymous or signed in."""
    return request.scope["state"].get("session")


def me(request: Request) -> Principal:
    return principal_of(request)


def safe_next(value: str | None) -> str:
    """Only paths of this site (no scheme, no host, no protocol-relative URLs)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if value.startswith(("/login", "/logout", "/mfa")):
        return "/"
    return value[:500]


def sign_in_cookie(request: Request, session_id: str) -> Cookie:
    return Cookie(
        key=COOKIE_NAME,
        value=session_id,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def expired_cookie(request: Request) -> Cookie:
    return Cookie(
        key=COOKIE_NAME,
        value="",
        path="/",
        max_age=0,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def site_key(site: SiteContext) -> str:
    return str(site.tenant.id) if site.is_tenant else PLATFORM


async def render(request: Request, template: str, *, status: int = 200, cookies=(), **context) -> Template:
    response = await page(request, template, **context)
    response.status_code = status
    for cookie in cookies:
        response.cookies.append(cookie)
    return response


async def anonymous_session(request: Request) -> tuple[str, SessionData, list[Cookie]]:
    """The request's anonymous session, or a new one (with the cookie to set)."""
    held = held_session(request)
    if held is not None and not held[1].is_authenticated:
        return held[0], held[1], []
    meta = request_meta(request.scope)
    session_id, data = await request.app.state.sessions.create(
        user_id=None,
        tenant_id=None,
        client_ip=meta.client_ip,
        user_agent=meta.user_agent,
        lifetime=service.ANONYMOUS_LIFETIME,
    )
    return session_id, data, [sign_in_cookie(request, session_id)]


async def start_session(request: Request, site: SiteContext, user) -> tuple[str, SessionData]:
    """A new session for ``user`` (a new id: the pre-sign-in session is deleted)."""
    store = request.app.state.sessions
    held = held_session(request)
    if held is not None:
        await store.delete(held[0])
    meta = request_meta(request.scope)
    return await store.create(
        user_id=user.id,
        tenant_id=site_key(site),
        mfa_verified=user.mfa_enabled_at is None,
        client_ip=meta.client_ip,
        user_agent=meta.user_agent,
        lifetime=site.tenant.session_max_seconds if site.tenant else store.max_lifetime,
    )


def user_json(user, site: SiteContext) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "site": site.tenant.slug if site.tenant else PLATFORM,
        "mfa_enrolled": user.mfa_enabled_at is not None,
    }


def tenant_site(request: Request) -> SiteContext:
    site = current_site(request)
    if not site.is_tenant:
        raise NotFoundException(detail="API tokens belong to a clinic: manage them at the clinic's address.")
    return site
