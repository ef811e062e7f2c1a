"""Hand-written SQL for the few statements every request runs (docs/benchmarks.md).

The ORM costs ~1-2 ms of CPU per statement (compiling, cache keys, the tenant guard's
``with_loader_criteria``, building objects); on the chart read that was most of the request.
The hottest statements (the token look-up, a patient and its contacts by id, the audit
INSERT) are written here as SQL and run on the driver connection of the request's own
session: same connection, same transaction, same role, so RLS applies to them exactly as
to ORM statements.

Tenancy stays layered as in docs/security.md:

* layer 1 — :func:`driver` refuses to run without a tenant scope (``unscoped`` platform
  code has no business on these paths) and keeps the session in the tenant it began with;
* layer 2 — a :class:`TenantSQL` must compare ``tenant_id`` with ``$1`` and every call binds
  ``$1`` to the current tenant: the same condition the ORM guard adds, written in;
* layer 3 — the transaction began with ``set_config('app.tenant_id', ...)`` (the session's
  ``after_begin`` hook), so the RLS policies filter these statements too.

Prepared statements are cached per connection by asyncpg.
"""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.session import _SCOPE_KEY  # the tenant a session's transaction began in
from core.tenancy.context import TenantScopeError, current_tenant_id

_TENANT_PARAM = re.compile(r"\btenant_id\s*=\s*\$1\b")
_TENANT_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+\w+\s*\(\s*tenant_id\b[^)]*\)\s*VALUES\s*\(\s*\$1\b", re.I)
#: a table a statement reads or writes, with its alias: ``FROM patients p``, ``JOIN users u``
_NOT_ALIAS = "ON|WHERE|JOIN|LEFT|RIGHT|INNER|FULL|CROSS|SET|ORDER|GROUP|LIMIT|VALUES|SELECT|USING|RETURNING"
_REFERENCE = re.compile(
    rf"\b(FROM|JOIN|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)(?:\s+(?:AS\s+)?(?!(?:{_NOT_ALIAS})\b)([a-z_][a-z0-9_]*))?",
    re.I,
)
#: the names of the statement's own CTEs (``WITH p AS (``, ``, ev AS (``), not tables
_CTE = re.compile(r"(?:\bWITH|,)\s+([a-z_][a-z0-9_]*)\s+AS\s*\(", re.I)
_UNQUALIFIED = re.compile(r"(?<![\w.])tenant_id\s*=\s*\$1\b")

#: every TenantSQL declared, for the meta-test that runs each one as the owner
STATEMENTS: list[TenantSQL] = []


def tables_without_tenant_condition(sql: str, global_tables: tuple[str, ...] = ()) -> list[str]:
    """The tables ``sql`` references that lack their own tenant condition: ``<alias or
    table>.tenant_id = $1``, an unqualified ``tenant_id = $1`` in a single-table FROM or
    UPDATE (before the next table is named, and no JOIN follows), or for an INSERT target
    ``tenant_id`` as the first column from ``$1``. ``global_tables`` (no ``tenant_id`` column) and the statement's
    own CTEs need none."""
    ctes = {name.lower() for name in _CTE.findall(sql)}
    references = list(_REFERENCE.finditer(sql))
    missing = []
    for index, match in enumerate(references):
        kind, table, alias = match.group(1).upper(), match.group(2).lower(), match.group(3)
        if table in ctes or table in global_tables:
            continue
        if kind == "INTO":
            insert = rf"INTO\s+{table}\s*\(\s*tenant_id\b[^)]*\)\s*(?:VALUES\s*\(|SELECT)\s*\$1\b"
            if not re.search(insert, sql, re.I):
                missing.append(table)
            continue
        name = alias or table
        if re.search(rf"\b{name}\.tenant_id\s*=\s*\$1\b", sql, re.I):
            continue
        following = references[index + 1] if index + 1 < len(references) else None
        alone = kind in ("FROM", "UPDATE") and (following is None or following.group(1).upper() != "JOIN")
        end = following.start() if following else len(sql)
        if alone and _UNQUALIFIED.search(sql, match.end(), end):
            continue
        missing.append(table)
    return missing


class TenantSQL:
    """A statement for :func:`fetchrow` / :func:`fetch` / :func:`execute`.

    ``sql`` must compare a ``tenant_id`` with ``$1``, or be an INSERT whose first column is
    ``tenant_id`` with the value ``$1``; ``$1`` is always bound to the current tenant. Each
    tenant table the statement names needs its *own* condition (a join on ``tenant_id`` to
    a filtered table is not enough: the statement must filter without the RLS policy, which
    backs it up); tables without ``tenant_id`` are named in ``global_tables``. Checked here,
    once, when the module declaring it is imported; ``tests/test_hot_sql.py`` runs each
    statement as the owner, without row-level security, to prove it.
    """

    __slots__ = ("global_tables", "module", "name", "sql")

    def __init__(self, name: str, sql: str, *, global_tables: tuple[str, ...] = ()) -> None:
        if not (_TENANT_PARAM.search(sql) or _TENANT_INSERT.match(sql)):
            raise ValueError(
                f"{name}: a TenantSQL statement must compare tenant_id with $1 "
                "(or INSERT tenant_id as its first column, from $1)"
            )
        missing = tables_without_tenant_condition(sql, global_tables)
        if missing:
            raise ValueError(
                f"{name}: each tenant table needs its own tenant_id = $1 condition; missing for "
                f"{', '.join(missing)} (a table without tenant_id goes in global_tables)"
            )
        self.name = name
        self.sql = sql
        self.global_tables = global_tables
        self.module = sys._getframe(1).f_globals.get("__name__", "")
        STATEMENTS.append(self)

    def __repr__(self) -> str:
        return f"TenantSQL({self.name!r})"


_DRIVER_KEY = "tessera_hot_driver"


async def driver(session: AsyncSession) -> tuple[asyncpg.Connection, uuid.UUID]:
    """The asyncpg connection of ``session``'s transaction (begun in the current tenant)."""
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantScopeError("hand-written tenant SQL needs a tenant scope")
    # Known already for this very transaction (a request runs several statements)?
    cached = session.info.get(_DRIVER_KEY)
    transaction = session.sync_session.get_transaction()
    if cached is not None and cached[0] is transaction and cached[2] == tenant_id and transaction is not None:
        return cached[1], tenant_id
    conn = await session.connection()  # begins the transaction: set_config ran in after_begin
    begun = session.info.get(_SCOPE_KEY)
    raw = (await conn.get_raw_connection()).driver_connection
    if begun != tenant_id or not raw.is_in_transaction():
        if begun is not None and begun != tenant_id:
            raise TenantScopeError(
                f"this transaction began in scope {begun} but the code now runs in {tenant_id}; "
                "use a new session (or commit first) to work for another tenant"
            )
        # begun without a scope (and maybe without a statement yet): narrow it to this
        # tenant through SQLAlchemy, which also starts the driver's transaction
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :tenant_id, true)"), {"tenant_id": str(tenant_id)}
        )
        session.info[_SCOPE_KEY] = tenant_id
    session.info[_DRIVER_KEY] = (session.sync_session.get_transaction(), raw, tenant_id)
    return raw, tenant_id


async def fetchrow(session: AsyncSession, statement: TenantSQL, *args: Any) -> asyncpg.Record | None:
    raw, tenant_id = await driver(session)
    return await raw.fetchrow(statement.sql, tenant_id, *args)


async def fetch(session: AsyncSession, statement: TenantSQL, *args: Any) -> list[asyncpg.Record]:
    raw, tenant_id = await driver(session)
    return await raw.fetch(statement.sql, tenant_id, *args)


async def execute(session: AsyncSession, statement: TenantSQL, *args: Any) -> str:
    raw, tenant_id = await driver(session)
    return await raw.execute(statement.sql, tenant_id, *args)
