"""The signed-in user's sessions on this site: list them, end one or all others."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.auth import service
from core.auth.guards import requires_session
from core.auth.routes.common import current_site, expired_cookie, me, render, site_key


async def _my_sessions(request: Request) -> list[dict[str, Any]]:
    principal = me(request)
    site = current_site(request)
    store = request.app.state.sessions
    mine = store.digest(principal.session_id)
    zone = ZoneInfo(site.tenant.time_zone) if site.tenant else dt.UTC
    out = []
    for digest, data in await store.list_for_user(principal.user_id):
        if data.tenant_id != site_key(site):
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
    principal = me(request)
    store = request.app.state.sessions
    count = 0
    for digest in digests:
        if await store.delete_by_digest(principal.user_id, digest):
            count += 1
            await service.audit(
                request.app.state.db,
                current_site(request),
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
    return await render(
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
        return Redirect("/login?reason=signed_out", status_code=303, cookies=[expired_cookie(request)])
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
