"""The second factor: the step of sign-in, enrolment, recovery codes, turning it off."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.params import JSONBody
from litestar.response import Redirect, Template

from core.auth import service
from core.auth.guards import public, requires_identity, requires_session
from core.auth.passwords import verify_password
from core.auth.principal import Principal
from core.auth.routes.common import (
    PENDING_SECRET,
    UNLOCK_GRANT,
    counted_attempt,
    current_site,
    held_session,
    me,
    render,
    request_meta,
    safe_next,
    sign_in_cookie,
)

# -- the second-factor step of sign-in -----------------------------------------------


def _mfa_pending(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.via == "session"
        and principal.mfa_enrolled
        and not principal.mfa_verified
    )


async def _second_factor(request: Request, code: str) -> tuple[str, str | None, list[Cookie]]:
    """("ok", kind, cookies) / ("bad", message, []) / ("wait", message, []) for the pending
    session. The code is counted by the sign-in throttle before it is checked; when it is
    right the session moves to a new id (the cookie to set is returned)."""
    site = current_site(request)
    db = request.app.state.db
    principal = me(request)
    user = await service.load_user(db, principal.user_id)
    attempt = await counted_attempt(request, site, user, action="mfa_failed")
    if attempt.refusal:
        return "wait", attempt.refusal, []
    kind = await service.use_second_factor(db, request.app.state.sessions.redis, user, code)
    if kind is None:
        await attempt.failed(reason="wrong_code")
        return "bad", "That code is not correct. Enter the current 6-digit code or a recovery code.", []
    await attempt.succeeded()
    session_id, data = held_session(request)
    data.mfa_verified = True
    data.extra.pop(UNLOCK_GRANT, None)
    new_id = await request.app.state.sessions.rotate(session_id, data)
    await service.audit(db, site, "login", principal=principal, detail={"second_factor": kind})
    return "ok", kind, [sign_in_cookie(request, new_id)]


@get("/mfa", name="core:mfa", guards=[public("second-factor step of sign-in")], include_in_schema=False)
async def mfa_page(request: Request) -> Response:
    current_site(request)
    target = safe_next(request.query_params.get("next"))
    principal = me(request)
    if principal is None:
        return Redirect(f"/login?{urlencode({'next': target})}", status_code=303)
    if not _mfa_pending(principal):
        return Redirect(target, status_code=303)
    return await render(request, "core/auth/mfa.html", page_title="Two-factor sign-in", next=target)


@post(
    "/mfa", name="core:mfa-submit", guards=[public("second-factor step of sign-in")], include_in_schema=False
)
async def mfa_submit(request: Request) -> Response:
    current_site(request)
    form = await request.form()
    target = safe_next(form.get("next"))
    principal = me(request)
    if principal is None:
        return Redirect(f"/login?{urlencode({'next': target})}", status_code=303)
    if not _mfa_pending(principal):
        return Redirect(target, status_code=303)
    status, detail, cookies = await _second_factor(request, str(form.get("code") or ""))
    if status == "ok":
        return Redirect(target, status_code=303, cookies=cookies)
    return await render(
        request,
        "core/auth/mfa.html",
        status=429 if status == "wait" else 401,
        page_title="Two-factor sign-in",
        next=target,
        error=detail,
    )


@post(
    "/api/auth/mfa",
    name="core:api-mfa",
    opt={"throttled": True},
    guards=[public("second-factor step of sign-in")],
    tags=["auth"],
    status_code=200,
)
async def api_mfa(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    """Complete sign-in with a 6-digit authenticator code or a recovery code."""
    current_site(request)
    principal = me(request)
    if principal is None:
        raise NotAuthorizedException(detail="Please sign in first.", extra={"reason": "no_session"})
    if not _mfa_pending(principal):
        return Response({"mfa_verified": True})
    status, detail, cookies = await _second_factor(request, str(data.get("code") or ""))
    if status == "wait":
        raise ClientException(detail=detail, status_code=429, extra={"reason": "throttled"})
    if status == "bad":
        raise NotAuthorizedException(detail=detail, extra={"reason": "mfa_failed"})
    return Response({"mfa_verified": True, "used": detail}, cookies=cookies)


# -- second-factor enrolment ----------------------------------------------------------


async def _pending_secret(request: Request) -> str:
    session_id, data = held_session(request)
    secret = data.extra.get(PENDING_SECRET)
    if not secret:
        secret = service.new_totp_secret()
        data.extra[PENDING_SECRET] = secret
        await request.app.state.sessions.save(session_id, data)
    return secret


async def _confirm_enrolment(
    request: Request, code: str
) -> tuple[list[str] | None, str | None, list[Cookie]]:
    """(recovery codes, None, cookies) when ``code`` proves the pending secret (the session
    moves to a new id: the cookie to set), else (None, message, [])."""
    db = request.app.state.db
    site = current_site(request)
    principal = me(request)
    user = await service.load_user(db, principal.user_id)
    if user.mfa_enabled_at is not None:
        return None, "Two-factor sign-in is already set up for this account.", []
    session_id, data = held_session(request)
    secret = data.extra.get(PENDING_SECRET)
    if not secret or service.totp_matches(secret, code) is None:
        # Audited, but not counted by the sign-in throttle: the person is signed in already,
        # and a mistyped first code proves nothing about who they are.
        await service.audit(
            db,
            site,
            "mfa_failed",
            principal=principal,
            outcome="failure",
            reason="wrong_enrolment_code",
            meta=request_meta(request.scope),
        )
        message = "That code is not correct. Check the time on your phone and enter the current code."
        return None, message, []
    codes = await service.enable_mfa(db, user.id, secret)
    data.extra.pop(PENDING_SECRET, None)
    data.mfa_verified = True
    new_id = await request.app.state.sessions.rotate(session_id, data)
    await service.audit(
        db, site, "mfa_enrolled", principal=principal, resource_type="user", resource_id=user.id
    )
    return codes, None, [sign_in_cookie(request, new_id)]


async def _enrol_page(request: Request, *, status: int = 200, error: str | None = None) -> Template:
    site = current_site(request)
    user = await service.load_user(request.app.state.db, me(request).user_id)
    context: dict[str, Any] = {"page_title": "Two-factor sign-in", "user": user, "error": error}
    if user.mfa_enabled_at is None:
        secret = await _pending_secret(request)
        uri = service.provisioning_uri(secret, user.email, site)
        context.update(
            secret=secret, qr_svg=service.qr_svg(uri), required=bool(site.tenant and site.tenant.mfa_required)
        )
    context["next"] = safe_next(request.query_params.get("next"))
    return await render(request, "core/auth/mfa_enrol.html", status=status, **context)


@get("/account/mfa", name="core:mfa-enrol", guards=[requires_identity], include_in_schema=False)
async def mfa_enrol_page(request: Request) -> Template:
    return await _enrol_page(request)


@post("/account/mfa", name="core:mfa-enrol-submit", guards=[requires_identity], include_in_schema=False)
async def mfa_enrol_submit(request: Request) -> Template:
    form = await request.form()
    codes, error, cookies = await _confirm_enrolment(request, str(form.get("code") or ""))
    if codes is None:
        return await _enrol_page(request, status=400, error=error)
    return await render(
        request,
        "core/auth/mfa_recovery.html",
        cookies=cookies,
        page_title="Recovery codes",
        codes=codes,
        next=safe_next(form.get("next")),
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
    site = current_site(request)
    user = await service.load_user(request.app.state.db, me(request).user_id)
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
async def api_mfa_confirm(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    """Finish enrolment with a current code; returns the 10 recovery codes, once. The session
    moves to a new id (a new cookie; the CSRF token stays)."""
    codes, error, cookies = await _confirm_enrolment(request, str(data.get("code") or ""))
    if codes is None:
        raise ClientException(detail=error)
    return Response({"mfa_enrolled": True, "recovery_codes": codes}, cookies=cookies)


async def _reauthenticate(request: Request, password: str, code: str | None) -> tuple[Any, str | None]:
    """The signed-in user, after checking their password (and a current code when given);
    the attempt is counted by the sign-in throttle like a sign-in, before anything is checked."""
    db = request.app.state.db
    site = current_site(request)
    user = await service.load_user(db, me(request).user_id)
    attempt = await counted_attempt(request, site, user, action="mfa_failed")
    if attempt.refusal:
        return None, attempt.refusal
    if not verify_password(user.password_hash, password):
        await attempt.failed(reason="wrong_password")
        return None, "The password is not correct."
    if code is not None and (not user.mfa_secret or service.totp_matches(user.mfa_secret, code) is None):
        await attempt.failed(reason="wrong_code")
        return None, "That code is not correct. Enter the current code from your authenticator app."
    await attempt.succeeded()
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
        current_site(request),
        "mfa_changed",
        principal=me(request),
        resource_type="user",
        resource_id=user.id,
        detail={"change": "new_recovery_codes"},
    )
    return codes, None


async def _turn_off_mfa(request: Request, password: str, code: str) -> str | None:
    site = current_site(request)
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
        principal=me(request),
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
    return await render(
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
    opt={"throttled": True},
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
    opt={"throttled": True},
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
