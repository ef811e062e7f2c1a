"""One plugin's failure in a robust hook: logged, recorded, skipped.

A robust hook (``@hookspec(robust=True)``: navigation, panels, worklist entries, event
consumers) must not take the page or the job down with one broken plugin. The kernel
calls such hooks plugin by plugin; when one raises, :func:`report` logs one line naming
the plugin, the hook, the exception *type*, where it was raised and the request id (never
the message: it may hold patient data), and counts the failure in
``core_plugin_failures`` for the tenant, where the platform operator sees it
(``/platform/plugins``). The count is written in its own short transaction, so it
survives whatever the request does with its own.

The request (or job) says where to record through :func:`recording_to`; without it
(a script, a test calling hooks directly) the failure is only logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKeyConstraint, Integer, String, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, TenantScoped
from core.tenancy.context import current_tenant_id, tenant_scope, unscoped

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.db.session import Database

log = logging.getLogger("tessera.plugins")

_database: ContextVar[Database | None] = ContextVar("tessera_failure_database", default=None)
_request_id: ContextVar[str | None] = ContextVar("tessera_request_id", default=None)

#: a request id a proxy may pass in ``X-Request-ID``; anything else is replaced by our own
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PluginFailure(TenantScoped, Base):
    """How often one plugin's implementation of one hook failed for one tenant."""

    __tablename__ = "core_plugin_failures"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_core_plugin_failures_tenant_id_tenants"),
    )

    plugin: Mapped[str] = mapped_column(String(40), primary_key=True)
    hook: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: the exception type and where it was raised (``KeyError at hooks.py:42``), no message
    last_error: Mapped[str] = mapped_column(String(300))
    last_request_id: Mapped[str | None] = mapped_column(String(64))


def request_id_from(header: str | None) -> str:
    """The request id to log: the proxy's ``X-Request-ID`` when it is plain, else a new one."""
    if header and REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex[:16]


@contextmanager
def recording_to(database: Database | None, request_id: str | None = None) -> Iterator[None]:
    """Record robust-hook failures in ``database`` (and log ``request_id``) inside the block."""
    tokens = _database.set(database), _request_id.set(request_id)
    try:
        yield
    finally:
        _database.reset(tokens[0])
        _request_id.reset(tokens[1])


def current_request_id() -> str | None:
    """The id of the request (or ``job:<outbox id>``) being served, for log lines."""
    return _request_id.get()


def describe(exc: BaseException) -> str:
    """``KeyError at hooks.py:42``: the type and the innermost frame, never the message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"[:300]


async def report(plugin: str, hook: str, exc: BaseException) -> None:
    """Log and count one plugin's failure in a robust hook; never raises."""
    error = describe(exc)
    request_id = current_request_id()
    tenant_id = current_tenant_id()
    log.error(
        "plugin %s failed in %s (%s) for tenant %s, request %s; its contribution was skipped",
        plugin,
        hook,
        error,
        tenant_id,
        request_id,
    )
    database = _database.get()
    if database is None or tenant_id is None:
        return
    try:
        with tenant_scope(tenant_id):
            async with database.session() as session, session.begin():
                await _count(session, tenant_id, plugin, hook, error, request_id)
    except Exception as write_error:  # the page matters more than the counter
        log.warning("could not record plugin %s's failure: %s", plugin, type(write_error).__name__)


async def _count(
    session: AsyncSession, tenant_id: uuid.UUID, plugin: str, hook: str, error: str, request_id: str | None
) -> None:
    statement = insert(PluginFailure).values(
        tenant_id=tenant_id,
        plugin=plugin,
        hook=hook,
        failures=1,
        last_error=error,
        last_request_id=request_id,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "plugin", "hook"],
            set_={
                "failures": PluginFailure.failures + 1,
                "last_at": func.now(),
                "last_error": statement.excluded.last_error,
                "last_request_id": statement.excluded.last_request_id,
            },
        )
    )


@dataclass(frozen=True)
class FailureRow:
    tenant_slug: str
    plugin: str
    hook: str
    failures: int
    first_at: dt.datetime
    last_at: dt.datetime
    last_error: str
    last_request_id: str | None


async def failures_of_every_tenant(database: Database) -> list[FailureRow]:
    """Every tenant's recorded plugin failures, newest first (the platform operator's view).

    Two reads: the failures across tenants as the platform role (``unscoped``), the
    tenants' slugs from the global registry as the app role (the platform role may read
    only what it needs to)."""
    from core.tenancy.models import Tenant

    with unscoped("platform operator: plugin failures of every tenant"):
        async with database.session() as session:
            failures = list(
                await session.scalars(select(PluginFailure).order_by(PluginFailure.last_at.desc()).limit(200))
            )
    if not failures:
        return []
    async with database.session() as session:
        slugs = dict(
            (
                await session.execute(
                    select(Tenant.id, Tenant.slug).where(Tenant.id.in_({f.tenant_id for f in failures}))
                )
            ).all()
        )
    return [
        FailureRow(
            slugs.get(f.tenant_id, str(f.tenant_id)),
            f.plugin,
            f.hook,
            f.failures,
            f.first_at,
            f.last_at,
            f.last_error,
            f.last_request_id,
        )
        for f in failures
    ]
