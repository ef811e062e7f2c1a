"""HTTP routes of core.auth (HTML and JSON), collected by core's builtin plugin.

Sign-in and sign-out, the second-factor step and enrolment, password change, the user's
sessions and API tokens, and the clinic's security settings. Every route declares a guard.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy import select, update

from core.auth import service
from core.auth.guards import principal_of, public, requires_identity, requires_login, requires_session
from core.auth.middleware import PLATFORM, PROBLEMS, request_meta
from core.auth.models import ApiToken
from core.auth.passwords import WeakPasswordError, check_strength, hash_password, verify_password
from core.auth.principal import Principal
from core.auth.sessions import COOKIE_NAME, SessionData
from core.auth.tokens import create_token
from core.authz import requires
from core.tenancy.models import Tenant
from core.web.context import SiteContext, site_of
from core.web.render import page

PENDING_SECRET = "mfa_pending_secret"  # noqa: S105 - a session key name, not a secret


# -- helpers -------------------------------------------------------------------------


def _site(request: Request) -> SiteContext:
    site = site_of(request)
    if site.area not in ("tenant", "platform"):
        raise NotFoundException()
    return site


def _held(request: Request) -> tuple[str, SessionData] | None:
    """(session id, data) of the request's live session, anonymous or signed in."""
    return request.scope["state"].get("session")


def _me(request: Request) -> Principal:
    return principal_of(request)


def _safe_next(value: str | None) -> str:
    """Only paths of this site (no scheme, no host, no protocol-relative URLs)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if value.startswith(("/login", "/logout", "/mfa")):
        return "/"
    return value[:500]


def _cookie(request: Request, session_id: str) -> Cookie:
    return Cookie(
        key=COOKIE_NAME,
        value=session_id,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _expired_cookie(request: Request) -> Cookie:
    return Cookie(
        key=COOKIE_NAME,
        value="",
        path="/",
        max_age=0,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _site_key(site: SiteContext) -> str:
    return str(site.tenant.id) if site.is_tenant else PLATFORM


async def _render(request: Request, template: str, *, status: int = 200, cookies=(), **context) -> Template:
    response = await page(request, template, **context)
    response.status_code = status
    for cookie in cookies:
        response.cookies.append(cookie)
    return response


async def _anonymous_session(request: Request) -> tuple[str, SessionData, list[Cookie]]:
    """The request's anonymous session, or a new one (with the cookie to set)."""
    held = _held(request)
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
    return session_id, data, [_cookie(request, session_id)]


async def _start_session(request: Request, site: SiteContext, user) -> tuple[str, SessionData]:
    """A new session for ``user`` (a new id: the pre-sign-in session is deleted)."""
    store = request.app.state.sessions
    held = _held(request)
    if held is not None:
        await store.delete(held[0])
    meta = request_meta(request.scope)
    return await store.create(
        user_id=user.id,
        tenant_id=_site_key(site),
        mfa_verified=user.mfa_enabled_at is None,
        client_ip=meta.client_ip,
        user_agent=meta.user_agent,
        lifetime=site.tenant.session_max_seconds if site.tenant else store.max_lifetime,
    )


def _user_json(user, site: SiteContext) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "site": site.tenant.slug if site.tenant else PLATFORM,
        "mfa_enrolled": user.mfa_enabled_at is not None,
    }


# -- sign-in and sign-out ------------------------------------------------------------


@get("/login", name="core:login", guards=[public("the sign-in page")], include_in_schema=False)
async def login_page(request: Request) -> Response:
    site = _site(request)
    target = _safe_next(request.query_params.get("next"))
    principal = _me(request)
    if principal is not None and principal.via == "session":
        if principal.mfa_enrolled and not principal.mfa_verified:
            return Redirect(f"/mfa?{urlencode({'next': target})}", status_code=303)
        return Redirect(target, status_code=303)
    _, data, cookies = await _anonymous_session(request)
    reason = request.query_params.get("reason")
    notice = PROBLEMS.get(reason) if reason else None
    return await _render(
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
    site = _site(request)
    form = await request.form()
    email = str(form.get("email") or "")[:254]
    target = _safe_next(form.get("next"))

    async def again(error: str, status: int) -> Template:
        _, data, cookies = await _anonymous_session(request)
        return await _render(
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

    if _held(request) is None:
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
    result = await service.check_password(
        request.app.state.db, site, email, str(form.get("password") or ""), request_meta(request.scope)
    )
    if result.status == "bad":
        return await again(result.message, 401)
    if result.status == "locked":
        return await again(result.message, 403)
    user = result.user
    session_id, data = await _start_session(request, site, user)
    await service.audit(
        request.app.state.db,
        site,
        "login",
        principal=service.principal_for(user, site),
        detail={"second_factor": "pending"} if not data.mfa_verified else {},
    )
    location = target if data.mfa_verified else f"/mfa?{urlencode({'next': target})}"
    return Redirect(location, status_code=303, cookies=[_cookie(request, session_id)])


@post("/api/auth/login", name="core:api-login", guards=[public("sign-in")], tags=["auth"], status_code=200)
async def api_login(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    """Sign in with e-mail and password; sets the session cookie. When the answer says
    ``mfa_required``, send the authenticator code to ``POST /api/auth/mfa`` next. Unsafe
    requests made with the cookie need the returned ``csrf_token`` in ``X-CSRF-Token``."""
    site = _site(request)
    result = await service.check_password(
        request.app.state.db,
        site,
        str(data.get("email") or "")[:254],
        str(data.get("password") or ""),
        request_meta(request.scope),
    )
    if result.status == "bad":
        raise NotAuthorizedException(detail=result.message, extra={"reason": "bad_credentials"})
    if result.status == "locked":
        raise PermissionDeniedException(detail=result.message, extra={"reason": "locked"})
    user = result.user
    session_id, session = await _start_session(request, site, user)
    await service.audit(
        request.app.state.db,
        site,
        "login",
        principal=service.principal_for(user, site),
        detail={"second_factor": "pending"} if not session.mfa_verified else {},
    )
    return Response(
        {
            "user": _user_json(user, site),
            "mfa_required": not session.mfa_verified,
            "csrf_token": session.csrf_token,
        },
        cookies=[_cookie(request, session_id)],
    )


async def _end_session(request: Request) -> None:
    held = _held(request)
    if held is None:
        return
    await request.app.state.sessions.delete(held[0])
    principal = _me(request)
    if principal is not None and principal.via == "session":
        await service.audit(request.app.state.db, _site(request), "logout", principal=principal)


@post("/logout", name="core:logout", guards=[public("signing out")], include_in_schema=False)
async def logout(request: Request) -> Response:
    await _end_session(request)
    return Redirect("/login?reason=signed_out", status_code=303, cookies=[_expired_cookie(request)])


@post(
    "/api/auth/logout", name="core:api-logout", guards=[public("signing out")], tags=["auth"], status_code=200
)
async def api_logout(request: Request) -> Response:
    """End the current session (the cookie is cleared)."""
    await _end_session(request)
    return Response({"signed_out": True}, cookies=[_expired_cookie(request)])


@get("/api/auth/me", name="core:api-me", guards=[requires_login], tags=["auth"])
async def api_me(request: Request) -> dict[str, Any]:
    """Who is signed in, with which roles, on which site."""
    principal = _me(request)
    site = _site(request)
    held = _held(request)
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


# -- the second-factor step of sign-in -----------------------------------------------


def _mfa_pending(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.via == "session"
        and principal.mfa_enrolled
        and not principal.mfa_verified
    )


async def _second_factor(request: Request, code: str) -> tuple[str, str | None]:
    """("ok", kind) / ("bad", message) / ("locked", message) for the pending session."""
    site = _site(request)
    db = request.app.state.db
    principal = _me(request)
    user = await service.load_user(db, principal.user_id)
    minutes = service.locked_minutes(user)
    if minutes:
        return "locked", service.locked_message(minutes)
    kind = await service.use_second_factor(db, request.app.state.sessions.redis, user, code)
    if kind is None:
        locked = await service.register_failure(db, site, user, action="mfa_failed", reason="wrong_code")
        if locked:
            await request.app.state.sessions.delete(principal.session_id)
            return "locked", service.locked_message(service.LOCK_SECONDS // 60)
        return "bad", "That code is not correct. Enter the current 6-digit code or a recovery code."
    await service.clear_failures(db, user.id)
    session_id, data = _held(request)
    data.mfa_verified = True
    await request.app.state.sessions.save(session_id, data)
    await service.audit(db, site, "login", principal=principal, detail={"second_factor": kind})
    return "ok", kind


@get("/mfa", name="core:mfa", guards=[public("second-factor step of sign-in")], include_in_schema=False)
async def mfa_page(request: Request) -> Response:
    _site(request)
    target = _safe_next(request.query_params.get("next"))
    principal = _me(request)
    if principal is None:
        return Redirect(f"/login?{urlencode({'next': target})}", status_code=303)
    if not _mfa_pending(principal):
        return Redirect(target, status_code=303)
    return await _render(request, "core/auth/mfa.html", page_title="Two-factor sign-in", next=target)


@post(
    "/mfa", name="core:mfa-submit", guards=[public("second-factor step of sign-in")], include_in_schema=False
)
async def mfa_submit(request: Request) -> Response:
    _site(request)
    form = await request.form()
    target = _safe_next(form.get("next"))
    principal = _me(request)
    if principal is None:
        return Redirect(f"/login?{urlencode({'next': target})}", status_code=303)
    if not _mfa_pending(principal):
        return Redirect(target, status_code=303)
    status, detail = await _second_factor(request, str(form.get("code") or ""))
    if status == "ok":
        return Redirect(target, status_code=303)
    if status == "locked":
        # the session was ended: start over at the sign-in form
        _, data, cookies = await _anonymous_session(request)
        return await _render(
            request,
            "core/auth/login.html",
            status=403,
            cookies=cookies,
            page_title="Sign in",
            error=detail,
            csrf_token=data.csrf_token,
            next=target,
            email="",
            is_platform=not _site(request).is_tenant,
        )
    return await _render(
        request, "core/auth/mfa.html", status=401, page_title="Two-factor sign-in", next=target, error=detail
    )


@post(
    "/api/auth/mfa",
    name="core:api-mfa",
    guards=[public("second-factor step of sign-in")],
    tags=["auth"],
    status_code=200,
)
async def api_mfa(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Complete sign-in with a 6-digit authenticator code or a recovery code."""
    _site(request)
    principal = _me(request)
    if principal is None:
        raise NotAuthorizedException(detail="Please sign in first.", extra={"reason": "no_session"})
    if not _mfa_pending(principal):
        return {"mfa_verified": True}
    status, detail = await _second_factor(request, str(data.get("code") or ""))
    if status == "locked":
        raise PermissionDeniedException(detail=detail, extra={"reason": "locked"})
    if status == "bad":
        raise NotAuthorizedException(detail=detail, extra={"reason": "mfa_failed"})
    return {"mfa_verified": True, "used": detail}


# -- second-factor enrolment ----------------------------------------------------------


async def _pending_secret(request: Request) -> str:
    session_id, data = _held(request)
    secret = data.extra.get(PENDING_SECRET)
    if not secret:
        secret = service.new_totp_secret()
        data.extra[PENDING_SECRET] = secret
        await request.app.state.sessions.save(session_id, data)
    return secret


async def _confirm_enrolment(request: Request, code: str) -> tuple[list[str] | None, str | None]:
    """(recovery codes, None) when ``code`` proves the pending secret, else (None, message)."""
    db = request.app.state.db
    site = _site(request)
    principal = _me(request)
    user = await service.load_user(db, principal.user_id)
    if user.mfa_enabled_at is not None:
        return None, "Two-factor sign-in is already set up for this account."
    minutes = service.locked_minutes(user)
    if minutes:
        return None, service.locked_message(minutes)
    session_id, data = _held(request)
    secret = data.extra.get(PENDING_SECRET)
    if not secret or service.totp_matches(secret, code) is None:
        await service.register_failure(db, site, user, action="mfa_failed", reason="wrong_enrolment_code")
        return None, "That code is not correct. Check the time on your phone and enter the current code."
    codes = await service.enable_mfa(db, user.id, secret)
    await service.clear_failures(db, user.id)
    data.extra.pop(PENDING_SECRET, None)
    data.mfa_verified = True
    await request.app.state.sessions.save(session_id, data)
    await service.audit(
        db, site, "mfa_enrolled", principal=principal, resource_type="user", resource_id=user.id
    )
    return codes, None


async def _enrol_page(request: Request, *, status: int = 200, error: str | None = None) -> Template:
    site = _site(request)
    user = await service.load_user(request.app.state.db, _me(request).user_id)
    context: dict[str, Any] = {"page_title": "Two-factor sign-in", "user": user, "error": error}
    if user.mfa_enabled_at is None:
        secret = await _pending_secret(request)
        uri = service.provisioning_uri(secret, user.email, site)
        context.update(
            secret=secret, qr_svg=service.qr_svg(uri), required=bool(site.tenant and site.tenant.mfa_required)
        )
    context["next"] = _safe_next(request.query_params.get("next"))
    return await _render(request, "core/auth/mfa_enrol.html", status=status, **context)


@get("/account/mfa", name="core:mfa-enrol", guards=[requires_identity], include_in_schema=False)
async def mfa_enrol_page(request: Request) -> Template:
    return await _enrol_page(request)


@post("/account/mfa", name="core:mfa-enrol-submit", guards=[requires_identity], include_in_schema=False)
async def mfa_enrol_submit(request: Request) -> Template:
    form = await request.form()
    codes, error = await _confirm_enrolment(request, str(form.get("code") or ""))
    if codes is None:
        return await _enrol_page(request, status=400, error=error)
    return await _render(
        request,
        "core/auth/mfa_recovery.html",
        page_title="Recovery codes",
        codes=codes,
        next=_safe_next(form.get("next")),
    )


@post(
    "/api/account/mfa/setup",
    name="core:api-mfa-setup",
    guards=[requires_identity],
    tags=["account"],
    status_code=200,
)
async def api_mfa_setup(request: Request) -> dict[str, Any]:
    """Start enrolment: a new secret for an authenticator app (confirm with a code)."""
    site = _site(request)
    user = await service.load_user(request.app.state.db, _me(request).user_id)
    if user.mfa_enabled_at is not None:
        raise ClientException(
            detail="Two-factor sign-in is already set up for this account.", status_code=409
        )
    secret = await _pending_secret(request)
    return {"secret": secret, "otpauth_uri": service.provisioning_uri(secret, user.email, site)}


@post(
    "/api/account/mfa/confirm",
    name="core:api-mfa-confirm",
    guards=[requires_identity],
    tags=["account"],
    status_code=200,
)
async def api_mfa_confirm(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Finish enrolment with a current code; returns the 10 recovery codes, once."""
    codes, error = await _confirm_enrolment(request, str(data.get("code") or ""))
    if codes is None:
        raise ClientException(detail=error)
    return {"mfa_enrolled": True, "recovery_codes": codes}


async def _reauthenticate(request: Request, password: str, code: str | None) -> tuple[Any, str | None]:
    """The signed-in user, after checking their password (and a current code when given);
    a wrong answer counts towards the lockout like a failed sign-in."""
    db = request.app.state.db
    site = _site(request)
    user = await service.load_user(db, _me(request).user_id)
    minutes = service.locked_minutes(user)
    if minutes:
        return None, service.locked_message(minutes)
    if not verify_password(user.password_hash, password):
        await service.register_failure(db, site, user, action="mfa_failed", reason="wrong_password")
        return None, "The password is not correct."
    if code is not None and (not user.mfa_secret or service.totp_matches(user.mfa_secret, code) is None):
        await service.register_failure(db, site, user, action="mfa_failed", reason="wrong_code")
        return None, "That code is not correct. Enter the current code from your authenticator app."
    await service.clear_failures(db, user.id)
    return user, None


async def _new_recovery_codes(request: Request, password: str) -> tuple[list[str] | None, str | None]:
    user, error = await _reauthenticate(request, password, None)
    if user is None:
        return None, error
    if user.mfa_enabled_at is None:
        return None, "Two-factor sign-in is not on for this account."
    codes = await service.replace_recovery_codes(request.app.state.db, user.id)
    await service.audit(
        request.app.state.db,
        _site(request),
        "mfa_changed",
        principal=_me(request),
        resource_type="user",
        resource_id=user.id,
        detail={"change": "new_recovery_codes"},
    )
    return codes, None


async def _turn_off_mfa(request: Request, password: str, code: str) -> str | None:
    site = _site(request)
    if site.tenant is not None and site.tenant.mfa_required:
        return "This clinic requires two-factor sign-in, so it cannot be turned off."
    user, error = await _reauthenticate(request, password, code)
    if user is None:
        return error
    if user.mfa_enabled_at is None:
        return "Two-factor sign-in is not on for this account."
    await service.disable_mfa(request.app.state.db, user.id)
    await service.audit(
        request.app.state.db,
        site,
        "mfa_changed",
        principal=_me(request),
        resource_type="user",
        resource_id=user.id,
        detail={"change": "turned_off"},
    )
    return None


@post(
    "/account/mfa/recovery-codes",
    name="core:mfa-new-codes",
    guards=[requires_session],
    include_in_schema=False,
)
async def mfa_new_codes(request: Request) -> Template:
    form = await request.form()
    codes, error = await _new_recovery_codes(request, str(form.get("password") or ""))
    if codes is None:
        return await _enrol_page(request, status=400, error=error)
    return await _render(
        request, "core/auth/mfa_recovery.html", page_title="Recovery codes", codes=codes, next="/"
    )


@post("/account/mfa/off", name="core:mfa-off", guards=[requires_session], include_in_schema=False)
async def mfa_off(request: Request) -> Response | Template:
    form = await request.form()
    error = await _turn_off_mfa(request, str(form.get("password") or ""), str(form.get("code") or ""))
    if error:
        return await _enrol_page(request, status=400, error=error)
    return Redirect("/account/mfa", status_code=303)


@post(
    "/api/account/mfa/recovery-codes",
    name="core:api-mfa-new-codes",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_mfa_new_codes(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Replace the recovery codes (needs the password); the new ones are returned once."""
    codes, error = await _new_recovery_codes(request, str(data.get("password") or ""))
    if codes is None:
        raise ClientException(detail=error)
    return {"recovery_codes": codes}


@post(
    "/api/account/mfa/off",
    name="core:api-mfa-off",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_mfa_off(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Turn two-factor sign-in off (needs the password and a current code; refused where
    the clinic requires it)."""
    error = await _turn_off_mfa(request, str(data.get("password") or ""), str(data.get("code") or ""))
    if error:
        raise ClientException(detail=error, status_code=409 if "requires" in error else 400)
    return {"mfa_enrolled": False}


# -- password ------------------------------------------------------------------------


async def _change_password(request: Request, current: str, new: str, confirm: str | None) -> str | None:
    """Change the signed-in user's password and end their other sessions; an error message
    for the person, or None when done."""
    db = request.app.state.db
    site = _site(request)
    principal = _me(request)
    user = await service.load_user(db, principal.user_id)
    minutes = service.locked_minutes(user)
    if minutes:
        return service.locked_message(minutes)
    if not verify_password(user.password_hash, current):
        await service.register_failure(
            db, site, user, action="password_changed", reason="wrong_current_password"
        )
        return "The current password is not correct."
    if confirm is not None and new != confirm:
        return "The new password and its confirmation differ."
    if new == current:
        return "Choose a password different from the current one."
    try:
        check_strength(new, email=user.email)
    except WeakPasswordError as exc:
        return f"The new password is too weak: {exc}."
    async with db.session() as session:
        from core.auth.models import User

        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=hash_password(new), password_changed_at=service.now_utc(), failed_logins=0)
        )
        await session.commit()
    ended = await request.app.state.sessions.delete_all_for_user(user.id, keep=principal.session_id)
    await service.audit(
        db,
        site,
        "password_changed",
        principal=principal,
        resource_type="user",
        resource_id=user.id,
        detail={"other_sessions_ended": ended},
    )
    return None


@get("/account/password", name="core:password", guards=[requires_session], include_in_schema=False)
async def password_page(request: Request) -> Template:
    return await _render(request, "core/auth/password.html", page_title="Change password")


@post("/account/password", name="core:password-submit", guards=[requires_session], include_in_schema=False)
async def password_submit(request: Request) -> Template:
    form = await request.form()
    error = await _change_password(
        request,
        str(form.get("current_password") or ""),
        str(form.get("new_password") or ""),
        str(form.get("confirm_password") or ""),
    )
    if error:
        return await _render(
            request, "core/auth/password.html", status=400, page_title="Change password", error=error
        )
    return await _render(request, "core/auth/password.html", page_title="Change password", done=True)


@post(
    "/api/account/password",
    name="core:api-password",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_password(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Change the password (needs the current one); every other session of the user ends."""
    error = await _change_password(
        request, str(data.get("current_password") or ""), str(data.get("new_password") or ""), None
    )
    if error:
        raise ClientException(detail=error)
    return {"password_changed": True}


# -- sessions ------------------------------------------------------------------------


async def _my_sessions(request: Request) -> list[dict[str, Any]]:
    principal = _me(request)
    site = _site(request)
    store = request.app.state.sessions
    mine = store.digest(principal.session_id)
    zone = ZoneInfo(site.tenant.time_zone) if site.tenant else dt.UTC
    out = []
    for digest, data in await store.list_for_user(principal.user_id):
        if data.tenant_id != _site_key(site):
            continue
        out.append(
            {
                "id": digest,
                "created_at": dt.datetime.fromtimestamp(data.created_at, zone),
                "last_seen_at": dt.datetime.fromtimestamp(data.last_seen, zone),
                "client_ip": data.client_ip,
                "user_agent": data.user_agent,
                "current": digest == mine,
            }
        )
    return out


async def _revoke(request: Request, digests: list[str]) -> int:
    principal = _me(request)
    store = request.app.state.sessions
    count = 0
    for digest in digests:
        if await store.delete_by_digest(principal.user_id, digest):
            count += 1
            await service.audit(
                request.app.state.db,
                _site(request),
                "session_revoked",
                principal=principal,
                resource_type="session",
                resource_id=digest[:16],
            )
    return count


def _session_json(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **item,
        "created_at": item["created_at"].isoformat(),
        "last_seen_at": item["last_seen_at"].isoformat(),
    }


@get("/account/sessions", name="core:sessions", guards=[requires_session], include_in_schema=False)
async def sessions_page(request: Request) -> Template:
    revoked = request.query_params.get("revoked")
    return await _render(
        request,
        "core/auth/sessions.html",
        page_title="Your sessions",
        sessions=await _my_sessions(request),
        revoked=revoked,
    )


@post(
    "/account/sessions/{session_ref:str}/revoke",
    name="core:session-revoke",
    guards=[requires_session],
    include_in_schema=False,
)
async def session_revoke(request: Request, session_ref: FromPath[str]) -> Response:
    known = {item["id"]: item for item in await _my_sessions(request)}
    if session_ref not in known:
        raise NotFoundException(detail="There is no such session of yours (it may have ended already).")
    await _revoke(request, [session_ref])
    if known[session_ref]["current"]:
        return Redirect("/login?reason=signed_out", status_code=303, cookies=[_expired_cookie(request)])
    return Redirect("/account/sessions?revoked=1", status_code=303)


@post(
    "/account/sessions/revoke-others",
    name="core:sessions-revoke-others",
    guards=[requires_session],
    include_in_schema=False,
)
async def sessions_revoke_others(request: Request) -> Response:
    others = [item["id"] for item in await _my_sessions(request) if not item["current"]]
    count = await _revoke(request, others)
    return Redirect(f"/account/sessions?revoked={count}", status_code=303)


@get("/api/account/sessions", name="core:api-sessions", guards=[requires_session], tags=["account"])
async def api_sessions(request: Request) -> list[dict[str, Any]]:
    """The signed-in user's sessions on this site."""
    return [_session_json(item) for item in await _my_sessions(request)]


@delete(
    "/api/account/sessions/{session_ref:str}",
    name="core:api-session-revoke",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_session_revoke(request: Request, session_ref: FromPath[str]) -> dict[str, Any]:
    """End one of the user's sessions (``id`` from the list)."""
    if session_ref not in {item["id"] for item in await _my_sessions(request)}:
        raise NotFoundException(detail="There is no such session of yours (it may have ended already).")
    return {"revoked": await _revoke(request, [session_ref])}


@post(
    "/api/account/sessions/revoke-others",
    name="core:api-sessions-revoke-others",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_sessions_revoke_others(request: Request) -> dict[str, Any]:
    """End every session of the user on this site except this one."""
    others = [item["id"] for item in await _my_sessions(request) if not item["current"]]
    return {"revoked": await _revoke(request, others)}


# -- API tokens ----------------------------------------------------------------------


def _tenant_site(request: Request) -> SiteContext:
    site = _site(request)
    if not site.is_tenant:
        raise NotFoundException(detail="API tokens belong to a clinic: manage them at the clinic's address.")
    return site


def _token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes or []),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "usable": row.is_usable,
    }


async def _my_tokens(request: Request) -> list[ApiToken]:
    async with request.app.state.db.session() as session:
        rows = await session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == _me(request).user_id)
            .order_by(ApiToken.created_at.desc())
        )
        return list(rows)


def _parse_expiry(days: Any = None, when: Any = None) -> dt.datetime | None:
    if when not in (None, ""):
        try:
            moment = dt.datetime.fromisoformat(str(when))
        except ValueError:
            raise ClientException(detail="expires_at must be an ISO date or date-time.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if moment <= service.now_utc():
            raise ClientException(detail="The expiry must be in the future.")
        return moment
    if days in (None, ""):
        return None
    try:
        count = int(str(days))
    except ValueError:
        raise ClientException(detail="Expiry must be a whole number of days.") from None
    if not 1 <= count <= 3650:
        raise ClientException(detail="Expiry must be between 1 and 3650 days.")
    return service.now_utc() + dt.timedelta(days=count)


async def _create_token(request: Request, name: str, scopes: list[str], expires_at) -> tuple[str, ApiToken]:
    known = {permission.object for permission in request.app.state.permissions}
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise ClientException(detail=f"Unknown permission scope: {', '.join(unknown)}.")
    name = name.strip()[:100]
    if not name:
        raise ClientException(detail="Give the token a name, so you recognise it later.")
    principal = _me(request)
    async with request.app.state.db.session() as session:
        token, row = await create_token(
            session, user_id=principal.user_id, name=name, scopes=sorted(set(scopes)), expires_at=expires_at
        )
        await session.commit()
    await service.audit(
        request.app.state.db,
        _tenant_site(request),
        "token_created",
        principal=principal,
        resource_type="api_token",
        resource_id=row.id,
        detail={"scopes": row.scopes},
    )
    return token, row


async def _revoke_token(request: Request, token_id: uuid.UUID) -> None:
    principal = _me(request)
    async with request.app.state.db.session() as session:
        row = await session.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == principal.user_id)
        )
        if row is None:
            raise NotFoundException(detail="There is no such token of yours.")
        if row.revoked_at is None:
            row.revoked_at = service.now_utc()
        await session.commit()
    await service.audit(
        request.app.state.db,
        _tenant_site(request),
        "token_revoked",
        principal=principal,
        resource_type="api_token",
        resource_id=token_id,
    )


async def _tokens_page(request: Request, *, status: int = 200, **context) -> Template:
    return await _render(
        request,
        "core/auth/tokens.html",
        status=status,
        page_title="API tokens",
        tokens=await _my_tokens(request),
        permissions=sorted(request.app.state.permissions, key=lambda p: p.object),
        **context,
    )


@get("/account/tokens", name="core:tokens", guards=[requires_session], include_in_schema=False)
async def tokens_page(request: Request) -> Template:
    _tenant_site(request)
    return await _tokens_page(request)


@post("/account/tokens", name="core:tokens-create", guards=[requires_session], include_in_schema=False)
async def tokens_create(request: Request) -> Template:
    _tenant_site(request)
    form = await request.form()
    try:
        token, row = await _create_token(
            request,
            str(form.get("name") or ""),
            [str(s) for s in form.getall("scope", [])],
            _parse_expiry(days=form.get("expires_days")),
        )
    except ClientException as exc:
        return await _tokens_page(request, status=400, error=exc.detail)
    return await _tokens_page(request, new_token=token, new_row=row)


@post(
    "/account/tokens/{token_id:uuid}/revoke",
    name="core:tokens-revoke",
    guards=[requires_session],
    include_in_schema=False,
)
async def tokens_revoke(request: Request, token_id: FromPath[uuid.UUID]) -> Response:
    _tenant_site(request)
    await _revoke_token(request, token_id)
    return Redirect("/account/tokens", status_code=303)


@get("/api/account/tokens", name="core:api-tokens", guards=[requires_session], tags=["account"])
async def api_tokens(request: Request) -> list[dict[str, Any]]:
    """The signed-in user's API tokens at this clinic (never the tokens themselves)."""
    _tenant_site(request)
    return [_token_json(row) for row in await _my_tokens(request)]


@post(
    "/api/account/tokens",
    name="core:api-tokens-create",
    guards=[requires_session],
    tags=["account"],
    status_code=201,
)
async def api_tokens_create(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Create a personal token: ``name``, optional ``scopes`` (permission objects) and
    ``expires_at`` or ``expires_in_days``. The token is in this answer only."""
    _tenant_site(request)
    scopes = data.get("scopes") or []
    if not isinstance(scopes, list):
        raise ClientException(detail="scopes must be a list of permission objects.")
    token, row = await _create_token(
        request,
        str(data.get("name") or ""),
        [str(s) for s in scopes],
        _parse_expiry(days=data.get("expires_in_days"), when=data.get("expires_at")),
    )
    return {**_token_json(row), "token": token}


@delete(
    "/api/account/tokens/{token_id:uuid}",
    name="core:api-tokens-revoke",
    guards=[requires_session],
    tags=["account"],
    status_code=200,
)
async def api_tokens_revoke(request: Request, token_id: FromPath[uuid.UUID]) -> dict[str, Any]:
    """Revoke a token at once."""
    _tenant_site(request)
    await _revoke_token(request, token_id)
    return {"revoked": True}


# -- the clinic's security settings --------------------------------------------------


def _settings_json(site: SiteContext) -> dict[str, Any]:
    tenant = site.tenant
    return {
        "idle_minutes": tenant.session_idle_seconds // 60,
        "max_hours": tenant.session_max_seconds // 3600,
        "mfa_required": tenant.mfa_required,
    }


def _int_in(value: Any, low: int, high: int, label: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ClientException(detail=f"{label} must be a whole number.") from None
    if not low <= number <= high:
        raise ClientException(detail=f"{label} must be between {low} and {high}.")
    return number


async def _save_settings(request: Request, idle: Any, longest: Any, mfa_required: bool) -> dict[str, Any]:
    site = _tenant_site(request)
    idle_minutes = _int_in(idle, 1, 120, "Idle sign-out (minutes)")
    max_hours = _int_in(longest, 1, 24, "Longest session (hours)")
    if idle_minutes > max_hours * 60:
        raise ClientException(detail="The idle limit cannot be longer than the longest session.")
    before = _settings_json(site)
    async with request.app.state.db.session() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == site.tenant.id)
            .values(
                session_idle_seconds=idle_minutes * 60,
                session_max_seconds=max_hours * 3600,
                mfa_required=bool(mfa_required),
            )
        )
        await session.commit()
    after = {"idle_minutes": idle_minutes, "max_hours": max_hours, "mfa_required": bool(mfa_required)}
    await service.audit(
        request.app.state.db,
        site,
        "update",
        principal=_me(request),
        resource_type="tenant_settings",
        resource_id="security",
        detail={"before": before, "after": after},
    )
    return after


@get(
    "/settings/security",
    name="core:security-settings",
    guards=[requires("core:settings", "read")],
    include_in_schema=False,
)
async def security_settings_page(request: Request) -> Template:
    site = _tenant_site(request)
    return await _render(
        request,
        "core/auth/security_settings.html",
        page_title="Security settings",
        values=_settings_json(site),
    )


@post(
    "/settings/security",
    name="core:security-settings-save",
    guards=[requires("core:settings", "write")],
    include_in_schema=False,
)
async def security_settings_save(request: Request) -> Template:
    site = _tenant_site(request)
    form = await request.form()
    values = {
        "idle_minutes": form.get("idle_minutes"),
        "max_hours": form.get("max_hours"),
        "mfa_required": form.get("mfa_required") == "on",
    }
    try:
        saved = await _save_settings(
            request, values["idle_minutes"], values["max_hours"], values["mfa_required"]
        )
    except ClientException as exc:
        return await _render(
            request,
            "core/auth/security_settings.html",
            status=400,
            page_title="Security settings",
            values={**_settings_json(site), **values},
            error=exc.detail,
        )
    return await _render(
        request, "core/auth/security_settings.html", page_title="Security settings", values=saved, saved=True
    )


@get(
    "/api/settings/security",
    name="core:api-security-settings",
    guards=[requires("core:settings", "read")],
    tags=["settings"],
)
async def api_security_settings(request: Request) -> dict[str, Any]:
    """Idle sign-out (minutes), longest session (hours) and whether MFA is required."""
    return _settings_json(_tenant_site(request))


@put(
    "/api/settings/security",
    name="core:api-security-settings-save",
    guards=[requires("core:settings", "write")],
    tags=["settings"],
)
async def api_security_settings_save(request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Change the clinic's session and MFA policy (takes effect on the next request)."""
    current = _settings_json(_tenant_site(request))
    return await _save_settings(
        request,
        data.get("idle_minutes", current["idle_minutes"]),
        data.get("max_hours", current["max_hours"]),
        bool(data.get("mfa_required", current["mfa_required"])),
    )


ROUTES: list = [
    login_page,
    login_submit,
    api_login,
    logout,
    api_logout,
    api_me,
    mfa_page,
    mfa_submit,
    api_mfa,
    mfa_enrol_page,
    mfa_enrol_submit,
    api_mfa_setup,
    api_mfa_confirm,
    mfa_new_codes,
    mfa_off,
    api_mfa_new_codes,
    api_mfa_off,
    password_page,
    password_submit,
    api_password,
    sessions_page,
    session_revoke,
    sessions_revoke_others,
    api_sessions,
    api_session_revoke,
    api_sessions_revoke_others,
    tokens_page,
    tokens_create,
    tokens_revoke,
    api_tokens,
    api_tokens_create,
    api_tokens_revoke,
    security_settings_page,
    security_settings_save,
    api_security_settings,
    api_security_settings_save,
]
