"""The clinic's users: list, invite, change roles, deactivate and reactivate memberships.

Each change is audited in the same transaction (``user_invited``, ``role_changed``,
``user_deactivated``; a reactivation is an ``update`` of the membership). A change that
would leave the clinic without an active owner is refused; the owners' rows are locked
while that is checked so two owners cannot demote each other at the same moment.
Functions run in the request's tenant scope and leave the commit to the caller.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import any_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.auth.models import Membership, User

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


async def invite(
    session: AsyncSession, *, email: object, name: object, roles: object, known_roles: Iterable[str]
) -> tuple[MemberView, bool]:
    """Add a membership for ``email`` (creating the user, without a password, when new).

    Returns the member and whether the user is new (and so needs a set-password link).
    """
    email = str(email or "").strip()
    name = " ".join(str(name or "").split())
    if not _EMAIL.match(email) or len(email) > 254:
        raise MemberError("enter a valid e-mail address")
    if not name or len(name) > 200:
        raise MemberError("enter the person's name (at most 200 characters)")
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
) -> MemberView:
    """Set the member's roles and/or status (``None`` leaves it as it is)."""
    if roles is None and status is None:
        raise MemberError("nothing to change: give roles and/or status")
    user, membership = await get_member(session, user_id, lock=True)
    new_roles = sorted(membership.roles) if roles is None else clean_roles(roles, known_roles)  # type: ignore[arg-type]
    new_status = membership.status if status is None else str(status)
    if new_status not in STATUSES:
        raise MemberError(f"status must be one of {', '.join(STATUSES)}")
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
