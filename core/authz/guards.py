"""``requires(object, action)``: the permission guard every non-public route declares."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from core.auth.guards import authenticated


def requires(obj: str, action: str):
    """Guard: the signed-in caller must hold ``action`` on ``obj`` (``"<plugin>:<resource>"``)
    in the current tenant. Refusals answer 403 and are written to the audit log."""
    if ":" not in obj:
        raise ValueError(f"permission object {obj!r} must look like '<plugin>:<resource>'")

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal = await authenticated(connection)
        site = connection.scope["state"]["site"]
        if not site.is_tenant:
            raise NotFoundException()
        authz = connection.app.state.authz
        if authz.allowed(principal, site.tenant.id, obj, action):
            return
        from core.audit.record import record_now

        await record_now(
            connection.app.state.db,
            site.tenant.id,
            action="denied",
            resource_type=obj,
            resource_id=f"{connection.scope.get('method', 'GET')} {connection.url.path}",
            outcome="denied",
            reason=f"needs {obj} {action}",
        )
        raise PermissionDeniedException(
            detail=f"Your role does not allow this ({obj}, {action}). Ask the clinic's owner for access."
        )

    guard.__tessera_guard__ = f"{obj} {action}"  # type: ignore[attr-defined]
    guard.__name__ = f"requires[{obj} {action}]"
    return guard
