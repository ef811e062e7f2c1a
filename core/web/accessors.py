"""What a plugin may know about the request (or job) it serves, without reaching into
``scope["state"]``, ``app.state`` or a job's ``ctx``: those layouts are the kernel's
business and may change. Exported through ``core.plugin_api``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.principal import Principal
    from core.db.session import Database
    from core.settings import Settings


def request_principal(request: Request) -> Principal | None:
    """Who is calling (a signed-in user or an API token), or ``None`` when nobody is."""
    return request.scope.get("state", {}).get("principal")


def csrf_token(request: Request) -> str:
    """The CSRF token of the caller's browser session ("" without one): put it in a form
    as ``<input type="hidden" name="_csrf" value="...">``; htmx requests send it already."""
    held = request.scope.get("state", {}).get("session")  # (session id, SessionData)
    return held[1].csrf_token if held else ""


def app_settings(request: Request) -> Settings:
    """The installation's settings (``TESSERA_*``), read-only."""
    return request.app.state.settings


def request_db_session(request: Request) -> AsyncSession | None:
    """The request's database session in the tenant's scope (what ``DbSession`` injects),
    for code that is handed the request rather than the session; ``None`` off a clinic's
    site. Prefer declaring ``db_session: DbSession`` in a handler."""
    from core.web.context import request_session

    return request_session(request.scope)


def request_id(request: Request) -> str | None:
    """The id under which this request's log lines (and plugin failures) are recorded."""
    return request.scope.get("state", {}).get("request_id")


def job_settings(ctx: dict[str, Any]) -> Settings:
    """The installation's settings, inside a ``tenant_job`` body (its ``ctx``)."""
    return ctx["settings"]


def job_database(ctx: dict[str, Any]) -> Database:
    """The worker's database (``core.db.session.Database``), inside a ``tenant_job`` body,
    for work that needs a transaction of its own besides the job's ``session``."""
    return ctx["db"]
