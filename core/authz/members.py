"""The clinic's users: list, invite, change roles, deactivate and reactivate memberships.

Each change is audited in the same transaction (``user_invited``, ``role_changed``,
``user_deactivated``; a reactivation is an ``update`` of the membership). A change that
would leave the clinic without an active owner is refused; the owners' rows are locked
while that is checked so two owners cannot demote each other at the same moment.
Functions run in the request's tenant scope and leave the commit to the caller.

**Inviting** (``invite``) never touches an account: it writes a pending ``Invitation``
and e-mails its link to the address (``core.messaging``, in the same transaction). The
answer is the same whether or not an account with that address exists, and says nothing
about it; the membership is made only when the invitee accepts (``accept_invitation``).
``add_member`` (the platform operator's first owner of a new clinic) adds a membership
directly.

**Granting** (``check_grant``): whoever invites, assigns a role or reactivates a member
grants that role's permissions, and may grant only permissions it holds itself (a token
within its scopes). ``grantable`` is the caller's rule, computed from the casbin policy.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import any_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.auth.models import Membership, User
from core.authz.invitations import INVITATION_PATH, INVITATION_SECONDS, make_invitation_token
from core.authz.models import Invitation
from core.messaging.sending import send_email_later
from core.tenancy.sites import clinic_site

#: a caller's rule: the roles of ``roles`` it may not grant (empty: it may grant them all)
Grantable = Callable[[Iterable[str]], list[str]]

OWNER = "owner"
STATUSES = ("active", "deactivated")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MemberError(Exception):
    """A change the caller can fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class MemberView:
    user_id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    status: str
    has_password: bool

    def as_json(self) -> dict:
        return {
            "user_id": str(self.user_id),
            "email": self.email,
            "name": self.name,
            "roles": self.roles,
            "status": self.status,
            "has_password": self.has_password,
        }


def _view(user: User, membership: Membership) -> MemberView:
    return MemberView(
        user_id=user.id,
        email=user.email,
        name=user.display_name,
        roles=sorted(membership.roles),
        status=membership.status,
        has_password=user.password_hash is not None,
    )


def clean_roles(roles: Iterable[object] | None, known: Iterable[str]) -> list[str]:
    if roles is None or isinstance(roles, str | bytes):
        raise MemberError("roles must be a list of role names")
    known = tuple(known)
    cleaned = sorted({str(role).strip() for role in roles})
    if not cleaned or cleaned == [""]:
        raise MemberError(f"choose at least one role ({', '.join(known)})")
    unknown = [role for role in cleaned if role not in known]
    if unknown:
        raise MemberError(f"unknown role {', '.join(unknown)}; roles are {', '.join(known)}")
    return cleaned


async def list_members(session: AsyncSession) -> list[MemberView]:
    rows = await session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .order_by(func.lower(User.email))
    )
    return [_view(user, membership) for user, membership in rows]


async def get_member(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> tuple[User, Membership]:
    """The user and their membership here; another clinic's user is 404."""
    query = select(User, Membership).join(Membership, Membership.user_id == User.id).where(User.id == user_id)
    if lock:
        query = query.with_for_update(of=Membership)
    row = (await session.execute(query)).first()
    if row is None:
        raise MemberError("There is no such user in this clinic.", status=404)
    return row.User, row.Membership


async def _other_active_owners(session: AsyncSession, user_id: uuid.UUID) -> int:
    owners = await session.scalars(
        select(Membership.user_id)
        .where(Membership.status == "active", any_(Membership.roles) == OWNER)
        .with_for_update()
    )
    return sum(1 for owner in owners if owner != user_id)


def _clean_person(email: object, name: object) -> tuple[str, str]:
    email = str(email or "").strip()
    name = " ".join(str(name or "").split())
    if not _EMAIL.match(email) or len(email) > 254:
        raise MemberError("enter a valid e-mail address")
    if not name or len(name) > 200:
        raise MemberError("enter the person's name (at most 200 characters)")
    return email, name


def check_grant(roles: Iterable[str], grantable: Grantable | None) -> None:
    """Refuse (403) granting a role whose permissions the caller does not hold itself."""
    if grantable is None:
        return
    refused = grantable(roles)
    if refused:
        raise MemberError(
            f"You may not grant the role {', '.join(sorted(refused))}: it carries permissions that "
            "your own sign-in does not hold (a token is limited to its scopes).",
            status=403,
        )


async def add_member(
    session: AsyncSession, *, email: object, name: object, roles: object, known_roles: Iterable[str]
) -> tuple[MemberView, bool]:
    """Add a membership for ``email`` at once (creating the user, without a password, when
    new). For the platform operator's first owner of a new clinic only; a clinic invites
    with ``invite``. Returns the member and whether the user is new."""
    email, name = _clean_person(email, name)
    role_list = clean_roles(roles, known_roles)  # type: ignore[arg-type]
    user = await session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    created = user is None
    if user is None:
        user = User(email=email, display_name=name, password_hash=None)
        session.add(user)
        await session.flush()
    elif await session.scalar(select(Membership).where(Membership.user_id == user.id)) is not None:
        raise MemberError(
            f"{email} is already a user of this clinic; change their roles instead.", status=409
        )
    membership = Membership(user_id=user.id, roles=role_list, status="active")
    session.add(membership)
    await session.flush()
    await record(
        session,
        action="user_invited",
        resource_type="core:users",
        resource_id=user.id,
        detail={"roles": role_list, "new_user": created},
    )
    return _view(user, membership), created


async def change(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    roles: object = None,
    status: object = None,
    known_roles: Iterable[str],
    grantable: Grantable | None = None,
) -> MemberView:
    """Set the member's roles and/or status (``None`` leaves it as it is). Roles added, and
    every role of a member being reactivated, are grants (``check_grant``)."""
    if roles is None and status is None:
        raise MemberError("nothing to change: give roles and/or status")
    user, membership = await get_member(session, user_id, lock=True)
    new_roles = sorted(membership.roles) if roles is None else clean_roles(roles, known_roles)  # type: ignore[arg-type]
    new_status = membership.status if status is None else str(status)
    if new_status not in STATUSES:
        raise MemberError(f"status must be one of {', '.join(STATUSES)}")
    granted = set(new_roles) if new_status == "active" and not membership.is_active else set()
    if new_status == "active":
        granted |= set(new_roles) - set(membership.roles)
    check_grant(sorted(granted), grantable)
    was_owner = membership.is_active and OWNER in membership.roles
    stays_owner = new_status == "active" and OWNER in new_roles
    if was_owner and not stays_owner and not await _other_active_owners(session, user.id):
        raise MemberError(
            "The clinic needs at least one active owner: make someone else an owner first.", status=409
        )
    old_roles, old_status = sorted(membership.roles), membership.status
    if new_roles != old_roles:
        membership.roles = new_roles
        await record(
            session,
            action="role_changed",
            resource_type="core:users",
            resource_id=user.id,
            detail={"from": old_roles, "to": new_roles},
        )
    if new_status != old_status:
        membership.status = new_status
        await record(
            session,
            action="user_deactivated" if new_status == "deactivated" else "update",
            resource_type="core:users",
            resource_id=user.id,
            detail={"status": {"from": old_status, "to": new_status}},
        )
    await session.flush()
    return _view(user, membership)


# -- invitations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    """What the inviting clinic sees of an invitation: what it typed, never the account."""

    invitation_id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    status: str
    expires_at: dt.datetime

    def as_json(self) -> dict:
        return {
            "invitation_id": str(self.invitation_id),
            "email": self.email,
            "name": self.name,
            "roles": self.roles,
            "status": self.status,
            "expires_at": self.expires_at.isoformat(),
        }


def _invitation_view(invitation: Invitation) -> InvitationView:
    return InvitationView(
        invitation_id=invitation.id,
        email=invitation.email,
        name=invitation.name,
        roles=sorted(invitation.roles),
        status=invitation.status,
        expires_at=invitation.expires_at,
    )


INVITATION_TEXT = """Hello {name},

{clinic} invites you to work with them on Tessera as {roles}.

Accept the invitation here (the link works until {expires} UTC):
{link}

If you already use Tessera with this e-mail address, you will sign in with your own
password to accept; otherwise you will choose a password there. If you did not expect
this invitation, ignore this e-mail: nothing changes until you accept.
"""


async def invite(
    session: AsyncSession,
    *,
    email: object,
    name: object,
    roles: object,
    known_roles: Iterable[str],
    settings,
    invited_by: uuid.UUID | None,
    grantable: Grantable | None = None,
) -> InvitationView:
    """Invite ``email`` to the clinic with ``roles``: a pending invitation and an e-mail with
    its link, in the caller's transaction. The same answer whether or not an account with
    that address exists; an earlier pending invitation of the address is replaced. An
    address that is already a member here is refused (409): the clinic knows its members."""
    email, name = _clean_person(email, name)
    role_list = clean_roles(roles, known_roles)  # type: ignore[arg-type]
    check_grant(role_list, grantable)
    member = await session.scalar(
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(func.lower(User.email) == email.lower())
    )
    if member is not None:
        raise MemberError(
            f"{email} is already a user of this clinic; change their roles instead.", status=409
        )
    earlier = list(
        await session.scalars(
            select(Invitation)
            .where(func.lower(Invitation.email) == email.lower(), Invitation.status == "pending")
            .with_for_update()
        )
    )
    for old in earlier:
        old.status = "revoked"
    await session.flush()
    expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=INVITATION_SECONDS)
    invitation = Invitation(
        email=email,
        name=name,
        roles=role_list,
        status="pending",
        invited_by=invited_by,
        expires_at=expires_at,
    )
    session.add(invitation)
    await session.flush()
    clinic = await clinic_site(session)
    token = make_invitation_token(
        settings.secret_key,
        invitation_id=invitation.id,
        tenant_id=invitation.tenant_id,
        expires_at=expires_at.timestamp(),
    )
    await send_email_later(
        session,
        to=email,
        subject=f"{clinic.name} invites you to Tessera",
        text=INVITATION_TEXT.format(
            name=name,
            clinic=clinic.name,
            roles=", ".join(role_list),
            expires=expires_at.strftime("%Y-%m-%d %H:%M"),
            link=clinic.url(settings) + INVITATION_PATH + token,
        ),
        purpose="core.invitation",
    )
    await record(
        session,
        action="user_invited",
        resource_type="core:invitations",
        resource_id=invitation.id,
        detail={"roles": role_list, "replaced": len(earlier)},
    )
    return _invitation_view(invitation)


async def list_invitations(session: AsyncSession) -> list[InvitationView]:
    """The clinic's pending invitations, newest first."""
    rows = await session.scalars(
        select(Invitation).where(Invitation.status == "pending").order_by(Invitation.created_at.desc())
    )
    return [_invitation_view(row) for row in rows]


async def revoke_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> InvitationView:
    invitation = await session.scalar(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    )
    if invitation is None:
        raise MemberError("There is no such invitation in this clinic.", status=404)
    if invitation.status == "pending":
        invitation.status = "revoked"
        await record(
            session,
            action="update",
            resource_type="core:invitations",
            resource_id=invitation.id,
            detail={"status": {"from": "pending", "to": "revoked"}},
        )
        await session.flush()
    return _invitation_view(invitation)


async def open_invitation(
    session: AsyncSession, invitation_id: uuid.UUID, *, lock: bool = False
) -> Invitation | None:
    """A pending, unexpired invitation of this clinic, or None."""
    query = select(Invitation).where(Invitation.id == invitation_id, Invitation.status == "pending")
    if lock:
        query = query.with_for_update()
    invitation = await session.scalar(query)
    if invitation is None or invitation.expires_at <= dt.datetime.now(dt.UTC):
        return None
    return invitation


async def accept_invitation(session: AsyncSession, invitation: Invitation, user: User) -> MemberView:
    """Make ``user`` (who proved to be the invitee) a member with the invitation's roles."""
    existing = await session.scalar(select(Membership).where(Membership.user_id == user.id))
    if existing is not None:
        # a member already (accepted another way): the invitation is spent, roles unchanged
        invitation.status = "accepted"
        invitation.accepted_at = dt.datetime.now(dt.UTC)
        invitation.user_id = user.id
        await session.flush()
        return _view(user, existing)
    membership = Membership(user_id=user.id, roles=sorted(invitation.roles), status="active")
    session.add(membership)
    invitation.status = "accepted"
    invitation.accepted_at = dt.datetime.now(dt.UTC)
    invitation.user_id = user.id
    await session.flush()
    await record(
        session,
        action="update",
        resource_type="core:invitations",
        resource_id=invitation.id,
        detail={"status": {"from": "pending", "to": "accepted"}, "roles": sorted(invitation.roles)},
    )
    return _view(user, membership)
