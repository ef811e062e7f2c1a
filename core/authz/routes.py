"""HTTP routes of core.authz (HTML and JSON), collected by core's builtin plugin.

* The owner's user screens: ``/users`` (HTML) and ``/api/users`` (JSON), guarded by
  ``core:users`` read / write.
* ``/account/setup/{token}``: the one-time set-password page of an invited user.
* ``/break-glass`` and ``/api/break-glass``: emergency access (see ``core.authz.emergency``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.auth.guards import public, requires_login
from core.auth.models import Membership, User
from core.auth.passwords import WeakPasswordError, check_strength, hash_password
from core.authz import emergency, members
from core.authz.guards import requires
from core.authz.invitations import (
    SETUP_PATH,
    InvitationError,
    make_link_token,
    password_fingerprint,
    read_link_token,
)
from core.web.context import site_of
from core.web.render import page

DbSession = NamedDependency[AsyncSession]
READ = requires("core:users", "read")
WRITE = requires("core:users", "write")


def _fail(exc: members.MemberError):
    if exc.status == 404:
        return NotFoundException(detail=exc.message)
    return ClientException(detail=exc.message, status_code=exc.status)


def _setup_url(request: Request, user_id: uuid.UUID, password_hash: str | None) -> str:
    site = site_of(request)
    token = make_link_token(
        request.app.state.settings.secret_key,
        user_id=user_id,
        tenant_id=site.tenant.id,
        password_hash=password_hash,
    )
    return f"{request.base_url}".rstrip("/") + SETUP_PATH + token


def _clinic_roles(request: Request) -> tuple[str, ...]:
    """The roles this clinic offers (a plugin's roles only where the plugin is enabled)."""
    return request.app.state.authz.roles_for(site_of(request).enabled_plugins)


async def _users_page(
    request: Request,
    db_session: DbSession,
    *,
    error: str | None = None,
    invited: Any = None,
    setup_url: str | None = None,
    status_code: int = 200,
) -> Template:
    principal = request.scope["state"]["principal"]
    response = await page(
        request,
        "core/users/list.html",
        page_title="Users",
        members=await members.list_members(db_session),
        roles=_clinic_roles(request),
        can_write=request.app.state.authz.allowed(
            principal, site_of(request).tenant.id, "core:users", "write"
        ),
        error=error,
        invited=invited,
        setup_url=setup_url,
    )
    response.status_code = status_code
    return response


# -- HTML ------------------------------------------------------------------------------


@get("/users", name="core:users", guards=[READ], include_in_schema=False)
async def users_page(request: Request, db_session: DbSession) -> Template:
    return await _users_page(request, db_session)


@post("/users/invite", name="core:users-invite", guards=[WRITE], include_in_schema=False, status_code=200)
async def invite_from_form(request: Request, db_session: DbSession) -> Template:
    form = await request.form()
    try:
        member, created = await members.invite(
            db_session,
            email=form.get("email"),
            name=form.get("name"),
            roles=form.getall("roles", []),
            known_roles=_clinic_roles(request),
        )
    except members.MemberError as exc:
        await db_session.rollback()
        return await _users_page(request, db_session, error=exc.message, status_code=exc.status)
    await db_session.commit()
    url = _setup_url(request, member.user_id, None) if created else None
    return await _users_page(request, db_session, invited=member, setup_url=url)


@post("/users/{user_id:uuid}", name="core:users-change", guards=[WRITE], include_in_schema=False)
async def change_from_form(request: Request, db_session: DbSession, user_id: FromPath[uuid.UUID]) -> Response:
    """One form per user: ``roles`` (checkboxes) and/or ``status`` (the (de)activate button)."""
    form = await request.form()
    try:
        await members.change(
            db_session,
            user_id,
            roles=form.getall("roles", []) if form.get("set_roles") else None,
            status=form.get("status") or None,
            known_roles=_clinic_roles(request),
        )
    except members.MemberError as exc:
        await db_session.rollback()
        if exc.status == 404:
            raise _fail(exc) from None
        return await _users_page(request, db_session, error=exc.message, status_code=exc.status)
    await db_session.commit()
    return Response(content=b"", status_code=303, headers={"Location": "/users"})


# -- JSON ------------------------------------------------------------------------------


@dataclass
class InviteIn:
    email: str
    name: str
    roles: list[str] = field(default_factory=list)


@dataclass
class ChangeIn:
    roles: list[str] | None = None
    status: str | None = None


@get("/api/users", name="core:api-users", guards=[READ])
async def list_users_api(db_session: DbSession) -> list[dict]:
    """The clinic's users with their roles and membership status."""
    return [m.as_json() for m in await members.list_members(db_session)]


@post("/api/users", name="core:api-users-invite", guards=[WRITE])
async def invite_api(request: Request, db_session: DbSession, data: JSONBody[InviteIn]) -> dict:
    """Invite a user: an existing user (by e-mail) gets a membership; a new user is created
    without a password and ``setup_url`` (shown once) lets them set one."""
    try:
        member, created = await members.invite(
            db_session,
            email=data.email,
            name=data.name,
            roles=data.roles,
            known_roles=_clinic_roles(request),
        )
    except members.MemberError as exc:
        raise _fail(exc) from None
    await db_session.commit()
    body = member.as_json()
    body["setup_url"] = _setup_url(request, member.user_id, None) if created else None
    return body


@patch("/api/users/{user_id:uuid}", name="core:api-users-change", guards=[WRITE])
async def change_api(
    request: Request, db_session: DbSession, user_id: FromPath[uuid.UUID], data: JSONBody[ChangeIn]
) -> dict:
    """Change a user's ``roles`` and/or ``status`` (``active`` or ``deactivated``)."""
    try:
        member = await members.change(
            db_session,
            user_id,
            roles=data.roles,
            status=data.status,
            known_roles=_clinic_roles(request),
        )
    except members.MemberError as exc:
        raise _fail(exc) from None
    await db_session.commit()
    return member.as_json()


# -- the invited user's set-password page ----------------------------------------------


async def _invited_user(request: Request, db_session: DbSession, token: FromPath[str]) -> User:
    site = site_of(request)
    gone = NotFoundException(
        detail="This invitation link is not valid any more. Ask the clinic's owner for a new one."
    )
    if not site.is_tenant:
        raise gone
    try:
        invitation = read_link_token(request.app.state.settings.secret_key, token)
    except InvitationError:
        raise gone from None
    if invitation.tenant_id != site.tenant.id:
        raise gone
    row = (
        await db_session.execute(
            select(User, Membership)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == invitation.user_id)
            .with_for_update(of=User)
        )
    ).first()
    if (
        row is None
        or not row.Membership.is_active
        or not row.User.is_active
        or password_fingerprint(row.User.password_hash) != invitation.fingerprint
    ):
        raise gone
    return row.User


@get(
    "/account/setup/{token:str}",
    name="core:account-setup",
    guards=[public("invitation link")],
    include_in_schema=False,
)
async def setup_page(request: Request, db_session: DbSession, token: FromPath[str]) -> Template:
    user = await _invited_user(request, db_session, token)
    return await page(
        request,
        "core/users/setup.html",
        page_title="Set your password",
        user=user,
        error=None,
        done=False,
    )


@post(
    "/account/setup/{token:str}",
    name="core:account-setup-save",
    guards=[public("invitation link")],
    include_in_schema=False,
    status_code=200,
)
async def setup_save(request: Request, db_session: DbSession, token: FromPath[str]) -> Template:
    user = await _invited_user(request, db_session, token)
    form = await request.form()
    password, confirm = str(form.get("password") or ""), str(form.get("confirm") or "")
    error = None
    if password != confirm:
        error = "The two passwords differ."
    else:
        try:
            check_strength(password, email=user.email)
        except WeakPasswordError as exc:
            error = f"Choose a stronger password: {exc}."
    if error is None:
        user.password_hash = hash_password(password)
        user.password_changed_at = dt.datetime.now(dt.UTC)
        await record(
            db_session,
            action="password_changed",
            resource_type="core:users",
            resource_id=user.id,
            detail={"via": "invitation link"},
        )
        await db_session.commit()
    response = await page(
        request,
        "core/users/setup.html",
        page_title="Set your password",
        user=user,
        error=error,
        done=error is None,
    )
    response.status_code = 200 if error is None else 422
    return response


# -- emergency access ------------------------------------------------------------------


@dataclass
class BreakGlassIn:
    object: str
    reason: str = ""


@post(emergency.FORM_URL, name="core:break-glass", guards=[requires_login], include_in_schema=False)
async def break_glass_form(request: Request) -> Response:
    return await emergency.grant_from_form(request)


@post(emergency.API_URL, name="core:api-break-glass", guards=[requires_login])
async def break_glass_api(request: Request, data: JSONBody[BreakGlassIn]) -> dict:
    """Emergency access: grant this session the read of a breakable ``object`` for an hour.
    ``reason`` (at least 10 characters) is required; the grant and each use are audited."""
    expires = await emergency.grant(request, data.object, data.reason)
    return {"object": data.object, "action": "read", "expires_at": int(expires)}


ROUTES: list = [
    users_page,
    invite_from_form,
    change_from_form,
    list_users_api,
    invite_api,
    change_api,
    setup_page,
    setup_save,
    break_glass_form,
    break_glass_api,
]
