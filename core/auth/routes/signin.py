"""Sign-in and sign-out (the HTML form and the JSON API) and "who am I"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody
from litestar.response import Redirect, Template

from core.auth import service
from core.auth.guards import public, requires_login
from core.auth.middleware import PLATFORM, PROBLEMS
from core.auth.routes.common import (
    anonymous_session,
    check_sign_in,
    current_site,
    expired_cookie,
    held_session,
    me,
    render,
    safe_next,
    sign_in_cookie,
    start_session,
    user_json,
    wait_response,
)


@get("/login", name="core:login", guards=[public("the sign-in page")], include_in_schema=False)
async def login_page(request: Request) -> Response:
    site = current_site(request)
    target = safe_next(request.query_params.get("next"))
    principal = me(request)
    if principal is not None and principal.via == "session":
        if principal.mfa_enrolled and not principal.mfa_verified:
            return Redirect(f"/mfa?{urlencode({'next': target})}", status_code=303)
        return Redirect(target, status_code=303)
    _, data, cookies = await anonymous_session(request)
    reason = request.query_params.get("reason")
    notice = PROBLEMS.get(reason) if reason else None
    return await render(
        request,
        "core/auth/login.html",
        cookies=cookies,
        page_title="Sign in",
        csrf_token=data.csrf_token,
        next=target,
        notice=notice,
        # the clinic switcher links here with ?email= so the address is filled in
        email=(request.query_params.get("email") or "")[:254],
        is_platform=not site.is_tenant,
    )


@post("/login", name="core:login-submit", guards=[public("the sign-in form")], include_in_schema=False)
async def login_submit(request: Request) -> Response:
    site = current_site(request)
    form = await request.form()
    email = str(form.get("email") or "")[:254]
    target = safe_next(form.get("next"))

    async def again(error: str, status: int) -> Template:
        _, data, cookies = await anonymous_session(request)
        return await render(
            request,
            "core/auth/login.html",
            status=status,
            cookies=cookies,
            page_title="Sign in",
            csrf_token=data.csrf_token,
            next=target,
            error=error,
            email=email,
            is_platform=not site.is_tenant,
        )

    if held_session(request) is None:
        # No session, so no token to compare: a form posted from elsewhere, or one left open
        # longer than the pre-sign-in session lives.
        await service.audit(
            request.app.state.db,
            site,
            "csrf_rejected",
            outcome="denied",
            resource_type="request",
            resource_id="POST /login",
            reason="csrf_no_session",
        )
        return await again("The sign-in form had expired. Please enter your details again.", 403)
    result = await check_sign_in(request, site, email, str(form.get("password") or ""))
    if result.status == "bad":
        return await again(result.message, 401)
    if result.status == "wait":
        return await again(result.message, 429)
    user = result.user
    session_id, data = await start_session(request, site, user)
    await service.audit(
        request.app.state.db,
        site,
        "login",
        principal=service.principal_for(user, site),
        detail={"second_factor": "pending"} if not data.mfa_verified else {},
    )
    location = target if data.mfa_verified else f"/mfa?{urlencode({'next': target})}"
    return Redirect(location, status_code=303, cookies=[sign_in_cookie(request, session_id)])


@post(
    "/api/auth/login",
    name="core:api-login",
    guards=[public("sign-in")],
    tags=["auth"],
    status_code=200,
    opt={"throttled": True},
)
async def api_login(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    """Sign in with e-mail and password; sets the session cookie. When the answer says
    ``mfa_required``, send the authenticator code to ``POST /api/auth/mfa`` next. Unsafe
    requests made with the cookie need the returned ``csrf_token`` in ``X-CSRF-Token``."""
    site = current_site(request)
    result = await check_sign_in(
        request, site, str(data.get("email") or "")[:254], str(data.get("password") or "")
    )
    if result.status == "bad":
        raise NotAuthorizedException(detail=result.message, extra={"reason": "bad_credentials"})
    if result.status == "wait":
        return wait_response(result)
    user = result.user
    session_id, session = await start_session(request, site, user)
    await service.audit(
        request.app.state.db,
        site,
        "login",
        principal=service.principal_for(user, site),
        detail={"second_factor": "pending"} if not session.mfa_verified else {},
    )
    return Response(
        {
            "user": user_json(user, site),
            "mfa_required": not session.mfa_verified,
            "csrf_token": session.csrf_token,
        },
        cookies=[sign_in_cookie(request, session_id)],
    )


async def _end_session(request: Request) -> None:
    held = held_session(request)
    if held is None:
        return
    await request.app.state.sessions.delete(held[0])
    principal = me(request)
    if principal is not None and principal.via == "session":
        await service.audit(request.app.state.db, current_site(request), "logout", principal=principal)


@post("/logout", name="core:logout", guards=[public("signing out")], include_in_schema=False)
async def logout(request: Request) -> Response:
    await _end_session(request)
    return Redirect("/login?reason=signed_out", status_code=303, cookies=[expired_cookie(request)])


@post(
    "/api/auth/logout", name="core:api-logout", guards=[public("signing out")], tags=["auth"], status_code=200
)
async def api_logout(request: Request) -> Response:
    """End the current session (the cookie is cleared)."""
    await _end_session(request)
    return Response({"signed_out": True}, cookies=[expired_cookie(request)])


@get("/api/auth/me", name="core:api-me", guards=[requires_login], tags=["auth"])
async def api_me(request: Request) -> dict[str, Any]:
    """Who is signed in, with which roles, on which site."""
    principal = me(request)
    site = current_site(request)
    held = held_session(request)
    return {
        "id": str(principal.user_id),
        "email": principal.email,
        "display_name": principal.display_name,
        "site": site.tenant.slug if site.tenant else PLATFORM,
        "roles": sorted(principal.roles),
        "via": principal.via,
        "mfa_enrolled": principal.mfa_enrolled,
        "token_scopes": sorted(principal.token_scopes),
        "csrf_token": held[1].csrf_token if held and principal.via == "session" else None,
    }
