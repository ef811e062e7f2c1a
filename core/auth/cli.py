"""``tessera users ...`` and ``tessera tokens ...``."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import sys

from core.cli import _registry, _with_session
from core.lifecycle.errors import TenantError

CLI_ACTOR = "tessera cli"


class CommandError(TenantError):
    """A users/tokens command cannot do what was asked (one readable line).

    A TenantError rather than ``core.cli.CommandError``: under ``python -m core.cli`` that
    module runs as ``__main__``, and its handler would not recognise the class imported
    from ``core.cli``.
    """


def _read_password() -> str | None:
    """A password piped on stdin (first line), or None on a terminal / empty input."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


def _known_roles(settings) -> set[str]:
    from core.authz.enforcer import Authorizer

    registry = _registry(settings)
    return set(Authorizer(registry.permissions(), registry.roles()).roles)


async def _find_user(session, email: str):
    from core.auth.service import find_user

    return await find_user(session, email)


def _check_email(email: str) -> str:
    email = (email or "").strip()
    if "@" not in email or len(email) > 254 or " " in email:
        raise CommandError(f"{email!r} is not an e-mail address")
    return email


def cmd_users_create(args, settings) -> None:
    from core.auth.models import Membership, PlatformOperator, User
    from core.auth.passwords import WeakPasswordError, check_strength, hash_password
    from core.tenancy import tenant_scope

    email = _check_email(args.email)
    if args.platform == bool(args.tenant):
        raise CommandError("give either --tenant SLUG (a clinic member) or --platform (a platform operator)")
    roles = sorted(set(args.role or []))
    if args.tenant:
        if not roles:
            raise CommandError("give at least one --role (owner, clinician, front_desk, biller, auditor)")
        unknown = set(roles) - _known_roles(settings)
        if unknown:
            raise CommandError(
                f"unknown role {', '.join(sorted(unknown))}; known: {', '.join(sorted(_known_roles(settings)))}"
            )
    elif roles:
        raise CommandError("--role applies to clinic members, not to platform operators")
    piped = _read_password()
    if piped is not None:
        try:
            check_strength(piped, email=email)
        except WeakPasswordError as exc:
            raise CommandError(f"the password on stdin is too weak: {exc}") from None

    async def run(session):
        from core.lifecycle.registry import get_tenant

        tenant = await get_tenant(session, args.tenant) if args.tenant else None
        user = await _find_user(session, email)
        generated = None
        created = user is None
        if created:
            password = piped
            if password is None:
                generated = password = secrets.token_urlsafe(15)
            user = User(
                email=email,
                display_name=(args.name or email.split("@")[0]).strip(),
                password_hash=hash_password(password),
            )
            session.add(user)
            await session.flush()
        if tenant is None:
            if await session.get(PlatformOperator, user.id) is not None:
                raise CommandError(f"{email} is already a platform operator")
            session.add(PlatformOperator(user_id=user.id))
            await session.flush()
            return user, created, generated, None
        with tenant_scope(tenant.id):
            existing = await session.get(Membership, (tenant.id, user.id))
            if existing is not None:
                raise CommandError(
                    f"{email} is already a member of {tenant.slug} (roles: {', '.join(existing.roles) or 'none'})"
                )
            session.add(Membership(user_id=user.id, roles=roles))
            from core.audit.record import record

            await record(
                session,
                action="create",
                resource_type="membership",
                resource_id=user.id,
                actor_label=CLI_ACTOR,
                detail={"roles": roles},
            )
            await session.flush()
        return user, created, generated, tenant

    user, created, generated, tenant = asyncio.run(_with_session(settings, run))
    where = f"{tenant.slug} as {', '.join(roles)}" if tenant else "the platform (operator)"
    print(f"{'created user' if created else 'existing user'} {user.email}; added to {where}")
    if generated:
        print(f"password (shown once): {generated}")
    elif not created and piped is not None:
        print("note: the user already existed, so the password on stdin was not used")


def cmd_users_list(args, settings) -> None:
    from sqlalchemy import select

    from core.auth.models import Membership, User
    from core.tenancy import tenant_scope

    async def run(session):
        from core.lifecycle.registry import get_tenant

        tenant = await get_tenant(session, args.tenant)
        with tenant_scope(tenant.id):
            rows = await session.execute(
                select(User, Membership).join(Membership, Membership.user_id == User.id).order_by(User.email)
            )
            return [
                (u.email, u.display_name, m.roles, m.status, u.mfa_enabled_at is not None) for u, m in rows
            ]

    rows = asyncio.run(_with_session(settings, run))
    if not rows:
        print(
            f"no users in {args.tenant} yet: `tessera users create --tenant {args.tenant} --email E --role owner`"
        )
    for email, name, roles, status, mfa in rows:
        print(f"{email:<40} {status:<12} {','.join(roles):<30} {'mfa' if mfa else '-':<4} {name}")


def cmd_tokens_create(args, settings) -> None:
    from core.auth.models import Membership
    from core.auth.tokens import create_token
    from core.tenancy import tenant_scope

    email = _check_email(args.email)
    scopes = sorted(set(args.scope or []))
    known = {p.object for p in _registry(settings).permissions()}
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise CommandError(
            f"unknown permission scope {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    expires_at = None
    if args.expires_days is not None:
        if not 1 <= args.expires_days <= 3650:
            raise CommandError("--expires-days must be between 1 and 3650")
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=args.expires_days)

    async def run(session):
        from core.lifecycle.registry import get_tenant

        tenant = await get_tenant(session, args.tenant)
        user = await _find_user(session, email)
        with tenant_scope(tenant.id):
            membership = await session.get(Membership, (tenant.id, user.id)) if user else None
            if membership is None or not membership.is_active or not user.is_active:
                raise CommandError(f"{email} is not an active member of {tenant.slug}")
            token, row = await create_token(
                session, user_id=user.id, name=args.name or "CLI token", scopes=scopes, expires_at=expires_at
            )
            from core.audit.record import record

            await record(
                session,
                action="token_created",
                resource_type="api_token",
                resource_id=row.id,
                actor_label=CLI_ACTOR,
                detail={"scopes": scopes, "user_id": str(user.id)},
            )
        return token, tenant

    token, tenant = asyncio.run(_with_session(settings, run))
    print(f"token for {email} at {tenant.slug} (shown once; send as 'Authorization: Bearer <token>'):")
    print(token)


def register(sub) -> None:
    """Add this module's command groups to the ``tessera`` parser."""
    users = sub.add_parser("users", help="users and memberships").add_subparsers(dest="cmd", required=True)
    create = users.add_parser(
        "create",
        help="create a user (or add an existing one) in a clinic, or a platform operator",
        description="The password is read from stdin when piped; otherwise one is generated and printed once.",
    )
    create.add_argument("--tenant", metavar="SLUG", help="the clinic to add the user to")
    create.add_argument("--platform", action="store_true", help="make the user a platform operator")
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", help="a role in the clinic (repeatable)")
    create.add_argument("--name", help="display name (default: the e-mail's local part)")
    create.set_defaults(fn=cmd_users_create)
    lst = users.add_parser("list", help="list a clinic's users")
    lst.add_argument("--tenant", required=True, metavar="SLUG")
    lst.set_defaults(fn=cmd_users_list)

    tokens = sub.add_parser("tokens", help="personal API tokens").add_subparsers(dest="cmd", required=True)
    tc = tokens.add_parser("create", help="create an API token for a member (printed once)")
    tc.add_argument("--tenant", required=True, metavar="SLUG")
    tc.add_argument("--email", required=True)
    tc.add_argument(
        "--scope", action="append", help="limit to a permission object, e.g. core:audit (repeatable)"
    )
    tc.add_argument("--name", help="a name to recognise the token by")
    tc.add_argument("--expires-days", type=int, help="expire after this many days (default: never)")
    tc.set_defaults(fn=cmd_tokens_create)
