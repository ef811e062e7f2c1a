"""Helpers shared by the sign-in, account and settings routes of core.auth."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.auth import service, unlock
from core.auth.guards import principal_of
from core.auth.middleware import PLATFORM, request_meta
from core.auth.principal import Principal
from core.auth.sessions import COOKIE_NAME, SessionData
from core.auth.throttle import Reservation
from core.messaging.sending import send_email_later
from core.web.context import SiteContext, site_of
from core.web.render import page

PENDING_SECRET = "mfa_pending_secret"  # noqa: S105 - a session key name, not a secret
#: pre-sign-in session key: an opened unlock link's own sign-in counter (core.auth.unlock)
UNLOCK_GRANT = "signin_unlock_grant"


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
    return service.site_key(site)


def throttle_account(request: Request, site: SiteContext, email: str) -> str:
    """The sign-in counter for ``email`` at this site: the shared one, or the browser's own
    when an unlock link for that account was opened in this (pre-sign-in) session."""
    shared = service.throttle_account(site, email)
    held = held_session(request)
    grant = held[1].extra.get(UNLOCK_GRANT) if held is not None else None
    if grant and grant.get("account") == shared and grant.get("until", 0) > time.time():
        return f"{shared}:grant:{grant['nonce']}"
    return shared


async def offer_unlock(request: Request, site: SiteContext, user) -> None:
    """E-mail the account holder an unlock link (core.auth.unlock): on a clinic's site, at
    most once per counter window. The platform host has no clinic to send from."""
    if not site.is_tenant:
        return
    settings = request.app.state.settings
    token = await unlock.new_link(
        request.app.state.redis,
        settings.secret_key,
        user_id=user.id,
        tenant_id=site.tenant.id,
        account=service.throttle_account(site, user.email),
    )
    if token is None:
        return
    async with request.app.state.db.session() as session:
        await send_email_later(
            session,
            to=user.email,
            subject=f"Signing in to {site.tenant.name}",
            text=unlock.EMAIL_TEXT.format(
                name=user.display_name,
                clinic=site.tenant.name,
                link=settings.site_url(site.tenant.slug) + unlock.UNLOCK_PATH + token,
            ),
            purpose="core.signin_unlock",
        )
        await session.commit()


async def check_sign_in(request: Request, site: SiteContext, email: str, password: str) -> service.SignIn:
    """Check the e-mail address and password, counted by the sign-in throttle first; when
    this failure starts the account's waits, the holder is e-mailed an unlock link."""
    result = await service.check_password(
        request.app.state.db,
        request.app.state.throttle,
        site,
        email,
        password,
        request_meta(request.scope),
        account=throttle_account(request, site, email),
    )
    if result.waits_begin:
        await offer_unlock(request, site, result.user)
    return result


@dataclass
class CountedAttempt:
    """One attempt at a password or code, already counted by the sign-in throttle."""

    request: Request
    site: SiteContext
    user: Any
    action: str
    account: str
    reservation: Reservation
    refusal: str | None = None

    async def failed(self, *, reason: str) -> None:
        waits_begin = await service.failed(
            self.request.app.state.db,
            self.site,
            self.reservation,
            self.request.app.state.throttle,
            self.user,
            action=self.action,
            reason=reason,
            meta=request_meta(self.request.scope),
        )
        if waits_begin:
            await offer_unlock(self.request, self.site, self.user)

    async def succeeded(self) -> None:
        await self.request.app.state.throttle.succeeded(
            self.account, request_meta(self.request.scope).client_ip
        )


async def counted_attempt(request: Request, site: SiteContext, user, *, action: str) -> CountedAttempt:
    """Count an attempt by a known ``user`` (second factor, re-entering the password) before
    it is checked; ``refusal`` is the message when the throttle says to wait."""
    account = throttle_account(request, site, user.email)
    meta = request_meta(request.scope)
    reservation = await request.app.state.throttle.reserve(account, meta.client_ip)
    attempt = CountedAttempt(request, site, user, action, account, reservation)
    if not reservation.allowed:
        attempt.refusal = await service.throttled(
            request.app.state.db, site, reservation, user=user, action=action, meta=meta
        )
    return attempt


def wait_response(result: service.SignIn) -> Response:
    """The JSON answer to an attempt the throttle refused: 429 with Retry-After."""
    seconds = max(1, int(result.wait + 0.999))
    return Response(
        {
            "status_code": 429,
            "detail": result.message,
            "extra": {"reason": "throttled", "retry_after": seconds},
        },
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


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
    session_id, data = await store.create(
        user_id=user.id,
        tenant_id=site_key(site),
        mfa_verified=user.mfa_enabled_at is None,
        client_ip=meta.client_ip,
        user_agent=meta.user_agent,
        lifetime=site.tenant.session_max_seconds if site.tenant else store.max_lifetime,
    )
    grant = held[1].extra.get(UNLOCK_GRANT) if held is not None else None
    if grant and not data.mfa_verified:
        # an unlock link's own counter also covers the second-factor step
        data.extra[UNLOCK_GRANT] = grant
        await store.save(session_id, data)
    return session_id, data


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
