"""The unlock link e-mailed when an account's sign-ins at a clinic start to wait
(core/auth/unlock.py): GET shows a button (mail scanners and link previews fetch links),
POST gives this browser its own sign-in counter for the account and goes to sign-in."""

from __future__ import annotations

import time

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.auth import service, unlock
from core.auth.guards import public
from core.auth.routes.common import UNLOCK_GRANT, anonymous_session, current_site, render
from core.web.context import SiteContext

PATH = unlock.UNLOCK_PATH + "{token:str}"
GONE = "This link has already been used or has expired. Sign in as usual, or wait and try again."
REFUSED = "This link is not valid at this address."


def _clinic_site(request: Request) -> SiteContext:
    site = current_site(request)
    if not site.is_tenant:
        raise NotFoundException(detail=REFUSED)
    return site


def _read(request: Request, site: SiteContext, token: str) -> unlock.UnlockLink | None:
    """The link, or None when it expired; other faults (forged, another clinic's) are 404."""
    try:
        return unlock.read_token(request.app.state.settings.secret_key, token, tenant_id=site.tenant.id)
    except unlock.UnlockError as exc:
        if str(exc) == "expired":
            return None
        raise NotFoundException(detail=REFUSED) from None


async def _page(
    request: Request, site: SiteContext, *, status: int = 200, error: str | None = None, **context
):
    _, data, cookies = await anonymous_session(request)
    return await render(
        request,
        "core/auth/unlock.html",
        status=status,
        cookies=cookies,
        page_title="Sign in without waiting",
        csrf_token=data.csrf_token,
        clinic=site.tenant.name,
        error=error,
        **context,
    )


@get(PATH, name="core:unlock", guards=[public("unlock link from a sign-in e-mail")], include_in_schema=False)
async def unlock_page(request: Request, token: FromPath[str]) -> Template:
    site = _clinic_site(request)
    link = _read(request, site, token)
    if link is None or not await unlock.is_unused(request.app.state.redis, link):
        return await _page(request, site, status=410, error=GONE)
    return await _page(request, site, action=unlock.UNLOCK_PATH + token)


@post(
    PATH,
    name="core:unlock-submit",
    guards=[public("unlock link from a sign-in e-mail")],
    include_in_schema=False,
)
async def unlock_submit(request: Request, token: FromPath[str]) -> Response | Template:
    site = _clinic_site(request)
    link = _read(request, site, token)
    account = await unlock.use(request.app.state.redis, link) if link is not None else None
    if account is None:
        return await _page(request, site, status=410, error=GONE)
    session_id, data, cookies = await anonymous_session(request)
    data.extra[UNLOCK_GRANT] = {
        "account": account,
        "nonce": link.nonce,
        "until": time.time() + unlock.LIFETIME,
    }
    await request.app.state.sessions.save(session_id, data)
    user = await service.load_user(request.app.state.db, link.user_id)
    await service.audit(
        request.app.state.db,
        site,
        "signin_unlocked",
        principal=service.principal_for(user, site) if user is not None else None,
        resource_type="user",
        resource_id=link.user_id,
    )
    return Redirect("/login?reason=unlocked", status_code=303, cookies=cookies)
