"""Route guards of authorization. Every route declares one of them (or ``requires_login`` /
``public(reason)`` from ``core.auth.guards``); ``tests/test_route_guards.py`` fails on a
route that does not. A guard carries ``__tessera_guard__`` (what it demands) so the
meta-test can tell guards from other callables.

* ``requires(object, action)``: a permission in the current tenant. Refusals answer 403
  and are audited; a refused *read* of a breakable resource offers emergency access to
  those allowed to break the glass, and a request that uses such a grant is audited with
  ``emergency=True``.
* ``requires_operator``: a platform operator on the base domain.
* ``per_site(tenant=..., platform=...)``: one path served on both kinds of host (``/``).
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from core.auth.guards import authenticated, principal_of
from core.authz.enforcer import ALLOW, EMERGENCY


class EmergencyAccessOffered(PermissionDeniedException):
    """A 403 whose answer offers "break the glass" (see ``core.authz.emergency``)."""

    def __init__(self, *, detail: str, obj: str, next_url: str) -> None:
        super().__init__(detail=detail)
        self.obj = obj
        self.next_url = next_url


def _where(connection: ASGIConnection) -> str:
    return f"{connection.scope.get('method', 'GET')} {connection.url.path}"


def requires(obj: str, action: str):
    """Guard: the signed-in caller must hold ``action`` on ``obj`` (``"<plugin>:<resource>"``)
    in the current tenant. Refusals answer 403 and are written to the audit log."""
    if ":" not in obj:
        raise ValueError(f"permission object {obj!r} must look like '<plugin>:<resource>'")

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        site = connection.scope["state"]["site"]
        if not site.is_tenant:
            raise NotFoundException()
        principal = await authenticated(connection)
        authz = connection.app.state.authz
        decision = authz.check(principal, site.tenant.id, obj, action)
        if decision == ALLOW:
            return
        from core.audit.record import record_now

        if decision == EMERGENCY:
            await record_now(
                connection.app.state.db,
                site.tenant.id,
                action="read",
                resource_type=obj,
                resource_id=_where(connection),
                reason="emergency access (break the glass)",
                emergency=True,
            )
            return
        await record_now(
            connection.app.state.db,
            site.tenant.id,
            action="denied",
            resource_type=obj,
            resource_id=_where(connection),
            outcome="denied",
            reason=f"needs {obj} {action}",
        )
        detail = f"Your role does not allow this ({obj}, {action}). Ask the clinic's owner for access."
        if authz.may_break_glass(principal, obj, action):
            raise EmergencyAccessOffered(
                detail=detail + " In an emergency you may open it after giving a reason; that is recorded.",
                obj=obj,
                next_url=connection.url.path if connection.scope.get("method") == "GET" else "/",
            )
        raise PermissionDeniedException(detail=detail)

    guard.__tessera_guard__ = f"{obj} {action}"  # type: ignore[attr-defined]
    guard.__name__ = f"requires[{obj} {action}]"
    return guard


async def requires_operator(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: a platform operator, on the base domain (404 on a tenant's host)."""
    site = connection.scope["state"]["site"]
    if site.area != "platform":
        raise NotFoundException()
    principal = await authenticated(connection)
    if not principal.is_operator:
        raise PermissionDeniedException(detail="Only platform operators may open this page.")


requires_operator.__tessera_guard__ = "operator"  # type: ignore[attr-defined]


def may(request, obj: str, action: str) -> bool:
    """Whether the signed-in caller holds ``action`` on ``obj`` in the current tenant, for
    deciding which controls a page shows (a biller sees no "Book" button). It decides
    nothing on its own: the route behind the control keeps its ``requires`` guard."""
    state = request.scope["state"]
    site = state["site"]
    principal = state.get("principal")
    if principal is None or not site.is_tenant:
        return False
    return request.app.state.authz.allowed(principal, site.tenant.id, obj, action)


def per_site(*, tenant, platform):
    """Guard for a path served on both kinds of host: ``tenant`` applies on a clinic's
    host, ``platform`` on the base domain; any other host answers 404."""

    async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        area = connection.scope["state"]["site"].area
        chosen = {"tenant": tenant, "platform": platform}.get(area)
        if chosen is None:
            raise NotFoundException()
        result = chosen(connection, handler)
        if result is not None and hasattr(result, "__await__"):
            await result

    for name, part in (("tenant", tenant), ("platform", platform)):
        if not getattr(part, "__tessera_guard__", None):
            raise ValueError(f"per_site: the {name} guard is not a Tessera guard")
    guard.__tessera_guard__ = (  # type: ignore[attr-defined]
        f"tenant: {tenant.__tessera_guard__}; platform: {platform.__tessera_guard__}"
    )
    guard.__name__ = "per_site"
    return guard


__all__ = ["EmergencyAccessOffered", "may", "per_site", "principal_of", "requires", "requires_operator"]
