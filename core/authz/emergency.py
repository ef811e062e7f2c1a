"""Emergency access ("break the glass").

A clinician refused the *read* of a breakable record (``Permission.breakable``) is offered
emergency access on the 403 answer. Giving a reason (at least ten characters) grants that
read to the current session for an hour: the grant lives in the session
(``SessionData.break_glass``), is audited as ``break_glass`` with the reason, and every
request that relies on it is audited with ``emergency=True`` (``core.authz.guards``).
Only roles that hold the read of some breakable record may break the glass; API tokens
never can.
"""

from __future__ import annotations

import json
import time
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, PermissionDeniedException
from litestar.response import Template

from core.authz.enforcer import BREAK_GLASS_ACTION, BREAK_GLASS_SECONDS
from core.web.errors import wants_json

MIN_REASON = 10
API_URL = "/api/break-glass"
FORM_URL = "/break-glass"


def _csrf_token(request: Request) -> str:
    session = request.scope.get("state", {}).get("session")
    return session[1].csrf_token if session else ""


def safe_next(target: Any) -> str:
    """A local path to return to after the grant (never another site)."""
    target = str(target or "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _denied_page(request: Request, *, detail: str, obj: str, next_url: str, error: str | None, status: int):
    state = request.scope["state"]
    site, principal = state["site"], state.get("principal")
    signed_in = principal if principal is not None and principal.via == "session" else None
    # the layout's context as core.web.render.page builds it (an exception handler is sync)
    return Template(
        template_name="core/authz/denied.html",
        context={
            "site_name": site.tenant.name if site.tenant else "Tessera",
            "tenant": site.tenant,
            "nav": [],
            "principal": signed_in,
            "idle_seconds": (site.tenant.session_idle_seconds if site.tenant else 900) if signed_in else 0,
            "page_title": "Not allowed",
            "detail": detail,
            "object": obj,
            "next_url": next_url,
            "error": error,
            "min_reason": MIN_REASON,
            "csrf_token": _csrf_token(request),
            "form_url": FORM_URL,
        },
        status_code=status,
    )


def emergency_offer_handler(request: Request, exc: Any) -> Response:
    """The 403 of a refused breakable read, with the way to break the glass."""
    if wants_json(request.url.path, request.headers.get("accept", "")):
        body = {
            "status_code": 403,
            "detail": exc.detail,
            "extra": {
                "break_glass": {
                    "object": exc.obj,
                    "action": BREAK_GLASS_ACTION,
                    "url": API_URL,
                    "reason_min_length": MIN_REASON,
                }
            },
        }
        return Response(content=json.dumps(body).encode(), status_code=403, media_type="application/json")
    return _denied_page(
        request, detail=exc.detail, obj=exc.obj, next_url=exc.next_url, error=None, status=403
    )


async def grant(request: Request, obj: Any, reason: Any) -> float:
    """Grant emergency read access to ``obj`` for this session; returns the expiry (epoch).

    Raises an HTTP error a person can act on when the grant is not possible.
    """
    from core.audit.record import record_now

    state = request.scope["state"]
    principal, site = state["principal"], state["site"]
    authz = request.app.state.authz
    obj = str(obj or "").strip()
    reason = " ".join(str(reason or "").split())
    if principal.via != "session" or not state.get("session"):
        raise PermissionDeniedException(
            detail="Emergency access needs a signed-in session, not an API token."
        )
    permission = authz.permissions.get(obj)
    if permission is None or not permission.breakable:
        raise ClientException(
            detail=f"{obj or 'That'} is not a record that can be opened with emergency access.",
            status_code=422,
        )
    if authz.allowed(principal, site.tenant.id, obj, BREAK_GLASS_ACTION):
        raise ClientException(
            detail="You already have access to this; no emergency access is needed.", status_code=409
        )
    if not authz.may_break_glass(principal, obj, BREAK_GLASS_ACTION):
        await record_now(
            request.app.state.db,
            site.tenant.id,
            action="break_glass",
            resource_type=obj,
            outcome="denied",
            reason=reason or None,
            emergency=True,
        )
        raise PermissionDeniedException(detail="Only clinical staff may use emergency access.")
    if len(reason) < MIN_REASON:
        raise ClientException(
            detail=f"Give the reason for emergency access (at least {MIN_REASON} characters).",
            status_code=422,
        )
    expires = time.time() + BREAK_GLASS_SECONDS
    # the grant is recorded before it exists: a failure here leaves no unrecorded access
    await record_now(
        request.app.state.db,
        site.tenant.id,
        action="break_glass",
        resource_type=obj,
        reason=reason,
        emergency=True,
        detail={"expires_at": int(expires), "minutes": BREAK_GLASS_SECONDS // 60},
    )
    session_id, data = state["session"]
    data.break_glass = {k: v for k, v in data.break_glass.items() if v > time.time()}
    data.break_glass[obj] = expires
    await request.app.state.sessions.save(session_id, data)
    return expires


async def grant_from_form(request: Request) -> Response:
    form = await request.form()
    obj, next_url = str(form.get("object") or ""), safe_next(form.get("next"))
    try:
        await grant(request, obj, form.get("reason"))
    except HTTPException as exc:
        if exc.status_code == 409:
            return Response(content=b"", status_code=303, headers={"Location": next_url})
        if exc.status_code != 422:
            raise
        return _denied_page(
            request,
            detail="Emergency access needs a reason.",
            obj=obj,
            next_url=next_url,
            error=exc.detail,
            status=422,
        )
    return Response(content=b"", status_code=303, headers={"Location": next_url})
