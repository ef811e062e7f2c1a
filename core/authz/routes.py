"""HTTP routes of core.authz (HTML and JSON), collected by core's builtin plugin.

* The owner's user screens: ``/users`` (HTML) and ``/api/users`` (JSON), guarded by
  ``core:users`` read / write; inviting makes a pending invitation (``/api/invitations``)
  whose link is e-mailed to the invitee, never shown to the clinic.
* ``/invitations/{token}``: the invitee accepts, signing in with their own password or
  creating their account (see ``core.authz.members``).
* ``/account/setup/{token}``: the one-time set-password page of a new clinic's first owner.
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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.auth.guards import public, requires_login
from core.auth.models import Membership, User
from core.auth.passwords import WeakPasswordError, check_strength, hash_password, verify_password
from core.authz import emergency, members
from core.authz.guards import requires
from core.authz.invitations import (
    InvitationError,
    password_fingerprint,
    read_invitation_token,
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


def _grantable(request: Request) -> members.Grantable:
    """The escalation rule for this request's caller (``Authorizer.ungrantable``)."""
    principal = request.scope["state"]["principal"]
    tenant_id = site_of(request).tenant.id
    authz = request.app.state.authz
    return lambda roles: authz.ungrantable(principal, tenant_id, roles)


async def _invite(request: Request, db_session: DbSession, *, email, name, roles) -> members.InvitationView:
    return await members.invite(
        db_session,
        email=email,
        name=name,
        roles=roles,
        known_roles=_clinic_roles(request),
        settings=request.app.state.settings,
        invited_by=request.scope["state"]["principal"].user_id,
        grantable=_grantable(request),
    )


def _clinic_roles(request: Request) -> tuple[str, ...]:
    """The roles this clinic offers (a plugin's roles only where the plugin is enabled)."""
    return request.app.state.authz.roles_for(site_of(request).enabled_plugins)


async def _users_page(
    request: Request,
    db_session: DbSession,
    *,
    error: str | None = None,
    invited: Any = None,
    status_code: int = 200,
) -> Template:
    principal = request.scope["state"]["principal"]
    response = await page(
        request,
        "core/users/list.html",
        page_title="Users",
        members=await members.list_members(db_session),
        invitations=await members.list_invitations(db_session),
        roles=_clinic_roles(request),
        can_write=request.app.state.authz.allowed(
            principal, site_of(request).tenant.id, "core:users", "write"
        ),
        error=error,
        invited=invited,
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
        invitation = await _invite(
            request,
            db_session,
            email=form.get("email"),
            name=form.get("name"),
            roles=form.getall("roles", []),
        )
    except members.MemberError as exc:
        await db_session.rollback()
        return await _users_page(request, db_session, error=exc.message, status_code=exc.status)
    await db_session.commit()
    return await _users_page(request, db_session, invited=invitation)


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
            grantable=_grantable(request),
        )
    except members.MemberError as exc:
        await db_session.rollback()
        if exc.status == 404:
            raise _fail(exc) from None
        return await _users_page(request, db_session, error=exc.message, status_code=exc.status)
    await db_session.commit()
    return Response(content=b"", status_code=303, headers={"Location": "/users"})


@post(
    "/users/invitations/{invitation_id:uuid}/revoke",
    name="core:users-invitation-revoke",
    guards=[WRITE],
    include_in_schema=False,
)
async def revoke_invitation_form(
    request: Request, db_session: DbSession, invitation_id: FromPath[uuid.UUID]
) -> Response:
    try:
        await members.revoke_invitation(db_session, invitation_id)
    except members.MemberError as exc:
        raise _fail(exc) from None
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


@post("/api/users", name="core:api-users-invite", guards=[WRITE], status_code=202)
async def invite_api(request: Request, db_session: DbSession, data: JSONBody[InviteIn]) -> dict:
    """Invite someone by e-mail: a pending invitation whose link is e-mailed to them (never
    returned here). The answer is the same whether or not they already have an account;
    they become a user of this clinic when they accept. Granting a role whose permissions
    the caller does not hold (a token: beyond its scopes) is refused with 403."""
    try:
        invitation = await _invite(request, db_session, email=data.email, name=data.name, roles=data.roles)
    except members.MemberError as exc:
        raise _fail(exc) from None
    await db_session.commit()
    return invitation.as_json()


@get("/api/invitations", name="core:api-invitations", guards=[READ])
async def list_invitations_api(db_session: DbSession) -> list[dict]:
    """The clinic's pending invitations (what the clinic typed; nothing about accounts)."""
    return [i.as_json() for i in await members.list_invitations(db_session)]


@post(
    "/api/invitations/{invitation_id:uuid}/revoke",
    name="core:api-invitations-revoke",
    guards=[WRITE],
    status_code=200,
)
async def revoke_invitation_api(db_session: DbSession, invitation_id: FromPath[uuid.UUID]) -> dict:
    """Call off a pending invitation: its link stops working."""
    try:
        invitation = await members.revoke_invitation(db_session, invitation_id)
    except members.MemberError as exc:
        raise _fail(exc) from None
    await db_session.commit()
    return invitation.as_json()


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
            grantable=_grantable(request),
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


# -- accepting an invitation -----------------------------------------------------------

INVITATION_GONE = "This invitation is not valid any more. Ask the clinic for a new one."


async def _invitation(request: Request, db_session: DbSession, token: str, *, lock: bool = False):
    """The pending invitation a link names, on its own clinic's site; else 404."""
    site = site_of(request)
    gone = NotFoundException(detail=INVITATION_GONE)
    if not site.is_tenant:
        raise gone
    try:
        link = read_invitation_token(request.app.state.settings.secret_key, token)
    except InvitationError:
        raise gone from None
    if link.tenant_id != site.tenant.id:
        raise gone
    invitation = await members.open_invitation(db_session, link.invitation_id, lock=lock)
    if invitation is None:
        raise gone
    return invitation


async def _invitee(db_session: DbSession, email: str) -> User | None:
    return await db_session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def _accept_page(
    request: Request, invitation, user: User | None, *, error=None, done=False, status=200
):
    response = await page(
        request,
        "core/users/accept.html",
        page_title="Accept the invitation",
        invitation=invitation,
        clinic=site_of(request).tenant.name,
        # an account that can sign in accepts with its password (and second factor)
        sign_in=user is not None and user.password_hash is not None,
        needs_code=user is not None and user.mfa_enabled_at is not None,
        error=error,
        done=done,
    )
    response.status_code = status
    return response


@get(
    "/invitations/{token:str}",
    name="core:invitation",
    guards=[public("invitation link")],
    include_in_schema=False,
)
async def invitation_page(request: Request, db_session: DbSession, token: FromPath[str]) -> Template:
    invitation = await _invitation(request, db_session, token)
    user = await _invitee(db_session, invitation.email)
    if user is not None and not user.is_active:
        raise NotFoundException(detail=INVITATION_GONE)
    return await _accept_page(request, invitation, user)


@post(
    "/invitations/{token:str}",
    name="core:invitation-accept",
    guards=[public("invitation link")],
    include_in_schema=False,
    status_code=200,
)
async def invitation_accept(request: Request, db_session: DbSession, token: FromPath[str]) -> Template:
    """Accept: an existing account proves itself with its own password (and second factor);
    a new address chooses a name and password. Only then is the membership made."""
    from core.auth import service
    from core.auth.routes.common import counted_attempt

    invitation = await _invitation(request, db_session, token, lock=True)
    user = await _invitee(db_session, invitation.email)
    form = await request.form()
    password = str(form.get("password") or "")
    site = site_of(request)
    if user is not None and not user.is_active:
        raise NotFoundException(detail=INVITATION_GONE)  # a disabled account joins nothing
    if user is not None and user.password_hash is not None:
        # counted by the sign-in throttle before anything is checked, like a sign-in
        attempt = await counted_attempt(request, site, user, action="login_failed")
        if attempt.refusal:
            return await _accept_page(request, invitation, user, error=attempt.refusal, status=429)
        ok = verify_password(user.password_hash, password)
        if ok and user.mfa_enabled_at is not None:
            ok = (
                await service.use_second_factor(
                    request.app.state.db, request.app.state.sessions.redis, user, str(form.get("code") or "")
                )
                is not None
            )
        if not ok:
            # nothing of this request is written
            await attempt.failed(reason="wrong_password")
            return await _accept_page(
                request, invitation, user, error="The password or code is not correct.", status=422
            )
        await attempt.succeeded()
    else:
        name = " ".join(str(form.get("name") or "").split())
        error = None
        if not name or len(name) > 200:
            error = "Enter your name (at most 200 characters)."
        elif password != str(form.get("confirm") or ""):
            error = "The two passwords differ."
        else:
            try:
                check_strength(password, email=invitation.email)
            except WeakPasswordError as exc:
                error = f"Choose a stronger password: {exc}."
        if error:
            return await _accept_page(request, invitation, user, error=error, status=422)
        if user is None:
            user = User(email=invitation.email, display_name=name, password_hash=None)
            db_session.add(user)
            await db_session.flush()
        user.display_name = name
        user.password_hash = hash_password(password)
        user.password_changed_at = dt.datetime.now(dt.UTC)
    await members.accept_invitation(db_session, invitation, user)
    await db_session.commit()
    return await _accept_page(request, invitation, user, done=True)


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
    revoke_invitation_form,
    list_users_api,
    invite_api,
    change_api,
    list_invitations_api,
    revoke_invitation_api,
    invitation_page,
    invitation_accept,
    setup_page,
    setup_save,
    break_glass_form,
    break_glass_api,
]
