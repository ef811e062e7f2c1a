"""Route guards for authentication. Every route declares what it needs: ``requires_login``
here, ``core.authz.requires(object, action)`` for a permission, or ``public(reason)``.

A refused request gets 401 (who are you?) or 403 (not allowed); a request whose
credentials were rejected (revoked token, idle session, another site's cookie) is also
written to the audit log.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from core.auth.middleware import PROBLEMS
from core.auth.principal import Principal

_AUDITED_PROBLEMS = {
    "token_invalid": "token_rejected",
    "token_revoked": "token_rejected",
    "token_wrong_host": "token_rejected",
    "session_other_site": "session_rejected",
    "session_idle": "session_rejected",
    "session_expired": "session_rejected",
    "account_inactive": "session_rejected",
}


def principal_of(connection: ASGIConnection) -> Principal | None:
    return connection.scope.get("state", {}).get("principal")


async def _refuse_unauthenticated(connection: ASGIConnection) -> None:
    state = connection.scope.get("state", {})
    problem = state.get("auth_problem")
    site = state.get("site")
    if problem in _AUDITED_PROBLEMS and site is not None and site.is_tenant:
        from core.audit.record import record_now

        await record_now(
            connection.app.state.db,
            site.tenant.id,
            action=_AUDITED_PROBLEMS[problem],
            resource_type="request",
            resource_id=f"{connection.scope.get('method', 'GET')} {connection.url.path}",
            outcome="denied",
            reason=problem,
        )
    raise NotAuthorizedException(detail=PROBLEMS.get(problem, "Please sign in."), extra={"reason": problem})


async def authenticated(connection: ASGIConnection) -> Principal:
    """The caller, after the checks every signed-in route shares (else 401/403)."""
    principal = principal_of(connection)
    if principal is None:
        await _refuse_unauthenticated(connection)
    site = connection.scope["state"]["site"]
    if principal.via == "session":
        if principal.mfa_enrolled and not principal.mfa_verified:
            raise NotAuthorizedException(
                detail="Enter the code from your authenticator app.", extra={"reason": "mfa_required"}
            )
        if site.tenant is not None and site.tenant.mfa_required and not principal.mfa_enrolled:
            raise PermissionDeniedException(
                detail="This clinic requires two-factor sign-in: set up an authenticator app first.",
                extra={"reason": "mfa_enrolment_required"},
            )
    return principal


async def requires_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: any signed-in member of the site (no particular permission)."""
    await authenticated(connection)


requires_login.__tessera_guard__ = "login"  # type: ignore[attr-defined]


def public(reason: str):
    """Guard that lets everyone in, for the explicit allowlist (sign-in, health, static).

    ``reason`` is required so a reviewer sees why the route is open.
    """
    if not reason:
        raise ValueError("public() needs a reason")

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        return None

    guard.__tessera_guard__ = f"public: {reason}"  # type: ignore[attr-defined]
    guard.__name__ = "public"
    return guard


async def requires_identity(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard for the second-factor enrolment pages: a signed-in browser session that has
    passed its second factor if it has one, but may not be enrolled yet (a clinic that
    requires MFA sends its members here; ``authenticated`` would refuse them)."""
    principal = principal_of(connection)
    if principal is None:
        await _refuse_unauthenticated(connection)
    if principal.via != "session":
        raise PermissionDeniedException(
            detail="Set up two-factor sign-in in the browser, not with an API token."
        )
    if principal.mfa_enrolled and not principal.mfa_verified:
        raise NotAuthorizedException(
            detail="Enter the code from your authenticator app.", extra={"reason": "mfa_required"}
        )


requires_identity.__tessera_guard__ = "login (second factor may still be missing)"  # type: ignore[attr-defined]


async def requires_session(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: a signed-in browser session (not an API token), for account changes a token
    must not make: passwords, sessions, creating more tokens."""
    principal = await authenticated(connection)
    if principal.via != "session":
        raise PermissionDeniedException(
            detail="This can be done only when signed in with a password, not with an API token."
        )


requires_session.__tessera_guard__ = "login (session only)"  # type: ignore[attr-defined]
