"""Engines and sessions, and the ORM guard: the second and third layers of tenancy.

* ORM guard (``do_orm_execute``): a statement touching a TenantScoped model raises without
  a tenant scope; inside one it gets ``WHERE tenant_id = <current>`` on every such entity,
  including relationship loads. ``before_flush`` stamps new rows and refuses mismatches.
* Database: each transaction starts with ``set_config('app.tenant_id', <tenant>, true)``
  (transaction-local, so a pooled connection never carries it into the next checkout) and
  the RLS policies compare against it. ``unscoped(reason)`` instead switches the
  transaction to the platform role with ``SET LOCAL ROLE``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, with_loader_criteria

try:  # SQLAlchemy 2.1
    from sqlalchemy.util.concurrency import await_
except ImportError:  # 2.0
    from sqlalchemy.util import await_only as await_

from core.db.base import TenantScoped, is_tenant_scoped
from core.settings import Settings
from core.tenancy.changes import tenants_changed
from core.tenancy.context import TenantScopeError, current_tenant_id, is_unscoped
from core.tenancy.models import Tenant

_SCOPE_KEY = "tessera_scope"
_UNSCOPED = "unscoped"
_TENANTS_CHANGED = "tessera_tenants_changed"
_SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"


class TenantSession(Session):
    """The sync session class behind every AsyncSession of the app; carries the guards."""


def _scope_marker() -> uuid.UUID | str | None:
    tid = current_tenant_id()
    if tid is not None:
        return tid
    return _UNSCOPED if is_unscoped() else None


@event.listens_for(TenantSession, "after_begin")
def _begin_in_scope(session: Session, transaction, connection) -> None:
    marker = _scope_marker()
    session.info[_SCOPE_KEY] = marker
    if isinstance(marker, uuid.UUID):
        # str() of a UUID is hex digits and dashes only: safe to write into the SQL
        if not _begin_with(connection, f"SELECT set_config('app.tenant_id', '{marker}', true)"):
            connection.exec_driver_sql(_SET_TENANT, (str(marker),))
    elif marker == _UNSCOPED:
        role = session.info.get("platform_role")
        if role:
            set_role = 'SET LOCAL ROLE "{}"'.format(role.replace('"', '""'))
            if not _begin_with(connection, set_role):
                connection.exec_driver_sql(set_role)


class _Begun:
    """The transaction :func:`_begin_with` opened, as SQLAlchemy's asyncpg adapter sees one:
    it only ever awaits ``commit()`` or ``rollback()`` on it (asyncpg's own transaction
    object sends the same two statements)."""

    __slots__ = ("_driver",)

    def __init__(self, driver) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK")


def _begin_with(connection, sql: str) -> bool:
    """Open the transaction on the driver together with ``sql``, in one round trip.

    SQLAlchemy's asyncpg adapter sends ``BEGIN`` lazily, on its own round trip, right
    before the first statement, which here is always the scope's ``set_config`` (or ``SET
    LOCAL ROLE``): two round trips before a request's first real statement. Sent together
    as one simple query they cost one (docs/benchmarks.md). Returns False, and leaves
    everything to SQLAlchemy, on another driver, a transaction already open (a session
    joining its caller's), or a non-default isolation level or access mode.
    """
    fairy = connection.connection
    adapted = fairy.dbapi_connection
    if (
        getattr(adapted, "_transaction", False) is not None  # not the asyncpg adapter, or begun
        or getattr(adapted, "_started", False)  # SQLAlchemy 2.0's flag for the same
        or adapted.isolation_level is not None
        or adapted.readonly
        or adapted.deferrable
    ):
        return False
    driver = fairy.driver_connection
    try:
        await_(driver.execute(f"BEGIN; {sql}"))
    except BaseException:
        fairy.invalidate()  # whatever state the connection is in, it does not go back to the pool
        raise
    adapted._transaction = _Begun(driver)
    if hasattr(adapted, "_started"):
        adapted._started = True
    return True


def _check_same_scope(session: Session) -> None:
    """Keep one transaction in one tenant.

    A transaction begun with no scope (say, creating a tenant in the global registry) may
    narrow to one tenant: the database setting is applied then. Switching from one tenant
    to another, or back to none, inside a transaction is refused.
    """
    if not session.in_transaction():
        return
    begun = session.info.get(_SCOPE_KEY)
    now = _scope_marker()
    if begun == now:
        return
    if begun is None and isinstance(now, uuid.UUID):
        session.connection().exec_driver_sql(_SET_TENANT, (str(now),))
        session.info[_SCOPE_KEY] = now
        return
    raise TenantScopeError(
        f"this transaction began in scope {begun} but the code now runs in {now}; "
        "use a new session (or commit first) to work for another tenant"
    )


@event.listens_for(TenantSession, "do_orm_execute")
def _guard_statement(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    mappers = list(state.all_mappers)
    if not mappers and state.bind_mapper is not None:
        mappers = [state.bind_mapper]
    if not state.is_select and any(m.class_ is Tenant for m in mappers):
        state.session.info[_TENANTS_CHANGED] = True
    scoped = sorted({m.class_.__name__ for m in mappers if is_tenant_scoped(m.class_)})
    if not scoped:
        return
    tenant_id = current_tenant_id()
    if tenant_id is None:
        if is_unscoped():
            return
        raise TenantScopeError(
            f"query on tenant data ({', '.join(scoped)}) without a tenant scope: "
            "wrap it in tenant_scope(tenant_id), or unscoped(reason) for platform code"
        )
    _check_same_scope(state.session)
    state.statement = state.statement.options(_tenant_criteria(tenant_id))


_CRITERIA: dict[uuid.UUID, object] = {}
_CRITERIA_MAX = 10_000


def _tenant_criteria(tenant_id: uuid.UUID):
    """``tenant_id == <tenant>`` on every tenant entity of a statement: one option object per
    tenant, built once (building it for every statement was a measurable share of each
    ORM statement's cost). Options are immutable, so sharing them is safe."""
    option = _CRITERIA.get(tenant_id)
    if option is None:
        if len(_CRITERIA) >= _CRITERIA_MAX:
            _CRITERIA.clear()
        option = _CRITERIA[tenant_id] = with_loader_criteria(
            TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        )
    return option


@event.listens_for(TenantSession, "before_flush")
def _stamp_tenant(session: Session, flush_context, instances) -> None:
    if any(isinstance(obj, Tenant) for obj in (*session.dirty, *session.deleted)):
        session.info[_TENANTS_CHANGED] = True
    tenant_id = current_tenant_id()
    for obj in session.new:
        if not is_tenant_scoped(type(obj)):
            continue
        if tenant_id is None:
            if is_unscoped() and obj.tenant_id is not None:
                continue
            raise TenantScopeError(f"cannot create {type(obj).__name__} without a tenant scope")
        _check_same_scope(session)
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeError(
                f"{type(obj).__name__} belongs to tenant {obj.tenant_id}, "
                f"but the current scope is {tenant_id}"
            )
    for obj in list(session.dirty) + list(session.deleted):
        if not is_tenant_scoped(type(obj)):
            continue
        if tenant_id is None and not is_unscoped():
            raise TenantScopeError(f"cannot change {type(obj).__name__} without a tenant scope")
        if tenant_id is not None and obj.tenant_id != tenant_id:
            raise TenantScopeError(
                f"{type(obj).__name__} of tenant {obj.tenant_id} changed in scope {tenant_id}"
            )


@event.listens_for(TenantSession, "after_commit")
def _announce_tenant_changes(session: Session) -> None:
    # After the commit, not at the UPDATE: a request of this process could otherwise
    # cache the old row again between the two.
    if session.info.pop(_TENANTS_CHANGED, False):
        tenants_changed()


@event.listens_for(TenantSession, "after_rollback")
def _drop_tenant_changes(session: Session) -> None:
    session.info.pop(_TENANTS_CHANGED, None)


class Database:
    """The app's connection pool (as the non-owner app role) and its session factory."""

    def __init__(self, settings: Settings, *, pool_size: int | None = None, **engine_kw) -> None:
        self.settings = settings
        kw = {
            "pool_size": pool_size or settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout,
            "pool_pre_ping": False,
        }
        kw.update(engine_kw)
        self.engine: AsyncEngine = create_async_engine(settings.app_url(), **kw)
        self.sessionmaker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TenantSession,
            expire_on_commit=False,
            info={"platform_role": settings.platform_db_role},
        )

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
