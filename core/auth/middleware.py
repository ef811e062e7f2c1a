"""Authentication: who is calling, from a session cookie or an ``Authorization: Bearer``
token. Runs after host resolution (so inside the tenant's scope) and before any handler.

It never refuses a request itself: it records the principal (or the reason there is
none) in the request state, and the route guards answer 401/403 with that reason.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import CookieError, SimpleCookie
from typing import NamedTuple

from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.models import PlatformOperator, User, token_usable
from core.auth.principal import Principal, RequestMeta, reset_request_identity, set_request_identity
from core.auth.sessions import COOKIE_NAME, SessionData
from core.auth.tokens import looks_like_token, token_digest
from core.db import hot
from core.web.context import SiteContext, handler_uses_db_session, request_session

PLATFORM = "platform"

#: why a request carries no principal; the guards turn these into messages
PROBLEMS = {
    "token_invalid": "This API token is not valid for this clinic.",
    "token_revoked": "This API token was revoked or has expired.",
    "token_wrong_host": "API tokens work only at a clinic's own address.",
    "session_unknown": "Your session has ended. Please sign in again.",
    "session_idle": "You were signed out after a period without activity. Please sign in again.",
    "session_expired": "Your session reached its maximum length. Please sign in again.",
    "session_other_site": "This session belongs to another site. Please sign in here.",
    "account_inactive": "This account is not active here. Ask the clinic's owner.",
    "unlocked": "This browser may sign in to your account now, without waiting. Enter your password.",
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def session_cookie(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel else None


def request_meta(scope: Scope) -> RequestMeta:
    client = scope.get("client")
    return RequestMeta(client_ip=client[0] if client else None, user_agent=_header(scope, b"user-agent"))


#: ``api_tokens.last_used_at`` is written at most this often per token (seconds): it says
#: "used lately", and a write per request would cost a row lock and a commit each time.
#: (An integration polling every minute would otherwise still write on every request.)
LAST_USED_RESOLUTION = 15 * 60

_TOKEN_LOOKUP = hot.TenantSQL(
    "API token, its user and membership",
    "SELECT t.id, t.scopes, t.revoked_at, t.expires_at, t.last_used_at, u.id AS user_id, u.email, "
    "u.display_name, u.is_active, u.mfa_enabled_at, m.roles, m.status "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "LEFT JOIN memberships m ON m.tenant_id = $1 AND m.user_id = t.user_id "
    "WHERE t.tenant_id = $1 AND t.token_digest = $2",
    global_tables=("users",),
)
_TOKEN_USED = hot.TenantSQL(
    "API token used",
    "UPDATE api_tokens SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2 "
    "AND (last_used_at IS NULL OR last_used_at < $4)",
)

_SESSION_MEMBER = hot.TenantSQL(
    "signed-in user and membership",
    "SELECT u.id, u.email, u.display_name, u.is_active, u.mfa_enabled_at, m.roles, m.status "
    "FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2",
    global_tables=("users",),
)


class _Member(NamedTuple):
    """Who a session belongs to, as the principal needs it."""

    id: uuid.UUID
    email: str
    display_name: str
    mfa_enabled_at: dt.datetime | None


class Authenticator:
    """Turns a token or a session cookie into a Principal.

    On a clinic's site the look-ups run in the request's own session (the one the handler
    gets as ``db_session``, see ``core.web.hosts``), so identifying the caller costs no
    extra pool checkout or transaction; elsewhere they use a session of their own.
    """

    def __init__(self, db, store) -> None:
        self.db = db
        self.store = store

    @asynccontextmanager
    async def _session(self, shared: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if shared is not None:
            yield shared
            return
        async with self.db.session() as session:
            yield session

    async def _member(self, session, user_id, site: SiteContext):
        """(user, roles, is_operator) if the user may act on this site, else None."""
        if site.is_tenant:
            # hand-written like the token look-up: every signed-in page request runs it
            row = await hot.fetchrow(session, _SESSION_MEMBER, user_id)
            if row is None or not row["is_active"] or row["status"] != "active":
                return None
            member = _Member(row["id"], row["email"], row["display_name"], row["mfa_enabled_at"])
            return member, frozenset(row["roles"] or ()), False
        user = await session.get(User, user_id)
        operator = user is not None and await session.get(PlatformOperator, user_id) is not None
        if not operator or not user.is_active:
            return None
        return (
            _Member(user.id, user.email, user.display_name, user.mfa_enabled_at),
            frozenset({"operator"}),
            True,
        )

    async def from_token(
        self, token: str, site: SiteContext, session: AsyncSession | None = None
    ) -> tuple[Principal | None, str | None]:
        if not site.is_tenant:
            return None, "token_wrong_host"
        if not looks_like_token(token):
            return None, "token_invalid"
        async with self._session(session) as session:
            # Token, user and membership in one statement (hand-written: it runs on every
            # API request). The membership is an outer join so that a token whose user
            # left the clinic says so; RLS limits both tenant tables as well.
            row = await hot.fetchrow(session, _TOKEN_LOOKUP, token_digest(token))
            if row is None:
                return None, "token_invalid"
            now = dt.datetime.now(dt.UTC)
            if not token_usable(row["revoked_at"], row["expires_at"], now):
                return None, "token_revoked"
            if not row["is_active"] or row["status"] != "active":
                return None, "account_inactive"
            if (
                row["last_used_at"] is None
                or (now - row["last_used_at"]).total_seconds() > LAST_USED_RESOLUTION
            ):
                await self._mark_used(session, row["id"], now)
        return Principal(
            user_id=row["user_id"],
            email=row["email"],
            display_name=row["display_name"],
            tenant_id=site.tenant.id,
            roles=frozenset(row["roles"] or ()),
            via="token",
            token_id=row["id"],
            token_scopes=frozenset(row["scopes"] or ()),
            mfa_verified=True,
            mfa_enrolled=row["mfa_enabled_at"] is not None,
        ), None

    @staticmethod
    async def _mark_used(session: AsyncSession, token_id, now: dt.datetime) -> None:
        """Record that the token was used, committed at once (also when the request then
        fails). The condition makes concurrent requests with the same token write once."""
        cutoff = now - dt.timedelta(seconds=LAST_USED_RESOLUTION)
        await hot.execute(session, _TOKEN_USED, token_id, now, cutoff)
        await session.commit()

    async def from_session(
        self, session_id: str, site: SiteContext, db_session: AsyncSession | None = None
    ) -> tuple[Principal | None, str | None, SessionData | None]:
        data = await self.store.get(session_id)
        if data is None:
            return None, "session_unknown", None
        if not data.is_authenticated:
            return None, None, data  # an anonymous session (CSRF token before sign-in)
        expected = str(site.tenant.id) if site.is_tenant else PLATFORM
        if data.tenant_id != expected:
            return None, "session_other_site", None
        now = time.time()
        idle = site.tenant.session_idle_seconds if site.tenant else 900
        longest = site.tenant.session_max_seconds if site.tenant else self.store.max_lifetime
        if now - data.last_seen > idle:
            await self.store.delete(session_id)
            return None, "session_idle", None
        if now - data.created_at > longest:
            await self.store.delete(session_id)
            return None, "session_expired", None
        async with self._session(db_session) as session:
            member = await self._member(session, data.user_id, site)
        if member is None:
            return None, "account_inactive", data
        user, roles, operator = member
        await self.store.touch(session_id, data, now, idle_limit=idle)
        return (
            Principal(
                user_id=user.id,
                email=user.email,
                display_name=user.display_name,
                tenant_id=site.tenant.id if site.tenant else None,
                roles=roles,
                via="session",
                session_id=session_id,
                mfa_verified=data.mfa_verified,
                mfa_enrolled=user.mfa_enabled_at is not None,
                is_operator=operator,
                break_glass=dict(data.break_glass),
            ),
            None,
            data,
        )


def auth_middleware_factory(authenticator: Authenticator):
    from core.auth.csrf import csrf_middleware

    def middleware(app: ASGIApp) -> ASGIApp:
        app = csrf_middleware(app, authenticator.db)

        async def authenticate(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            site: SiteContext | None = state.get("site")
            db_session = request_session(scope)
            principal, problem, session_data = None, None, None
            if site is not None and site.area in ("tenant", "platform"):
                authorization = _header(scope, b"authorization") or ""
                if authorization[:7].lower() == "bearer ":
                    principal, problem = await authenticator.from_token(
                        authorization[7:].strip(), site, db_session
                    )
                elif cookie := session_cookie(scope):
                    principal, problem, session_data = await authenticator.from_session(
                        cookie, site, db_session
                    )
                    if session_data is not None:
                        state["session"] = (cookie, session_data)
            if db_session is not None and not handler_uses_db_session(scope):
                # Nothing downstream will continue this transaction: end it now and give
                # the connection back, rather than hold it while the handler runs.
                await db_session.close()
            state["principal"] = principal
            state["auth_problem"] = problem
            tokens = set_request_identity(principal, request_meta(scope))
            try:
                await app(scope, receive, send)
            finally:
                reset_request_identity(tokens)

        return authenticate

    return middleware
