"""``tessera tenants purge``: remove every row of one tenant, after an export of it.

Safety, in order:

1. an export file of THIS tenant (``core.lifecycle.export``) must be given, complete and
   consistent, and the tenant's row counts in every tenant table must still equal the
   counts in it (nothing was added or removed since it was written);
2. the tenant must be suspended (its site answers 404 and its jobs wait), so nothing
   writes to it while it is exported and purged;
3. the caller confirms (the CLI asks for the slug to be typed, or takes ``--yes``).

The delete runs as the schema owner in one REPEATABLE READ transaction: the counts are
checked again in it, every tenant table (discovered from the live schema, plugins'
included) is emptied of the tenant's rows in foreign-key-safe order, then the tenant row
goes. A row written after the snapshot makes the tenant row's deletion fail, and the
whole purge rolls back. Users are global and stay; the tenant's sessions are cleared.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.lifecycle.errors import TenantError
from core.lifecycle.export import (
    ExportFile,
    TenantTable,
    begin_as_tenant,
    find_tenant_row,
    owner_engine,
    quote_ident,
    read_export,
    tenant_row_counts,
    tenant_tables,
)
from core.settings import Settings


class PurgeError(TenantError):
    """The purge was refused or failed; nothing was removed."""


def delete_order(tables: list[TenantTable]) -> list[TenantTable]:
    """Tables that reference others come before the tables they reference."""
    remaining = {t.name: t for t in tables}
    ordered: list[TenantTable] = []
    while remaining:
        referenced = {ref for t in remaining.values() for ref in t.references if ref in remaining}
        free = sorted(name for name in remaining if name not in referenced)
        if not free:  # a cycle: PostgreSQL checks each statement, so report it readably
            raise PurgeError(
                "the tenant tables "
                + ", ".join(sorted(remaining))
                + " reference each other in a cycle; purge cannot order their deletion"
            )
        for name in free:
            ordered.append(remaining.pop(name))
    return ordered


def count_differences(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name, 0), actual.get(name, 0)
        if want != have:
            problems.append(f"{name}: {want} in the export, {have} now")
    return problems


@dataclass
class PurgePlan:
    tenant_id: uuid.UUID
    slug: str
    name: str
    export: ExportFile
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class PurgeReport:
    slug: str
    deleted: dict[str, int]
    users: int
    users_without_other_clinic: int
    sessions_cleared: int | None = None
    notes: list[str] = field(default_factory=list)


async def _checked_counts(conn: AsyncConnection, slug: str, export: ExportFile):
    tenant = await find_tenant_row(conn, slug)
    if tenant.id != export.tenant_id:
        raise PurgeError(
            f"{export.path} is an export of another tenant ({export.slug or export.tenant_id}), "
            f"not of {slug}; export {slug} first: tessera tenants export --tenant {slug} --out FILE"
        )
    if tenant.status != "suspended":
        raise PurgeError(
            f"tenant {slug} is {tenant.status}: suspend it first (tessera tenants suspend --tenant {slug}) "
            "so nothing changes between the export and the purge"
        )
    await begin_as_tenant(conn, tenant.id)
    tables = await tenant_tables(conn)
    counts = await tenant_row_counts(conn, tables, tenant.id)
    problems = count_differences(export.counts, counts)
    if problems:
        raise PurgeError(
            f"the data of {slug} changed since {export.path} was written ("
            + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            + "): export it again"
        )
    return tenant, tables, counts


async def plan_purge(settings: Settings, slug: str, export_path: Path | str) -> PurgePlan:
    """Check everything a purge checks, without changing anything (for the confirmation)."""
    export = read_export(export_path)
    engine = owner_engine(settings)
    try:
        async with engine.connect() as conn, conn.begin():
            tenant, _, counts = await _checked_counts(conn, slug, export)
    finally:
        await engine.dispose()
    return PurgePlan(tenant.id, tenant.slug, tenant.name, export, counts)


async def purge_tenant(
    settings: Settings,
    slug: str,
    export_path: Path | str,
    *,
    confirm: Callable[[PurgePlan], bool],
) -> PurgeReport:
    """Delete tenant ``slug`` and all its rows once ``confirm(plan)`` returns True."""
    plan = await plan_purge(settings, slug, export_path)
    if not confirm(plan):
        raise PurgeError(f"not confirmed; nothing of {slug} was removed")
    engine = owner_engine(settings)
    deleted: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                tenant, tables, _ = await _checked_counts(conn, slug, plan.export)
                members = list(
                    await conn.scalars(
                        text("SELECT user_id FROM memberships WHERE tenant_id = :t"), {"t": tenant.id}
                    )
                )
                alone = await conn.scalar(
                    text(
                        "SELECT count(*) FROM memberships m WHERE m.tenant_id = :t AND NOT EXISTS "
                        "(SELECT 1 FROM memberships o WHERE o.user_id = m.user_id AND o.tenant_id <> :t)"
                    ),
                    {"t": tenant.id},
                )
                try:
                    for table in delete_order(tables):
                        result = await conn.execute(
                            text(f"DELETE FROM {quote_ident(table.name)} WHERE tenant_id = :t"),
                            {"t": tenant.id},
                        )
                        deleted[table.name] = result.rowcount
                    await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant.id})
                except DBAPIError as exc:
                    reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
                    raise PurgeError(
                        f"the purge of {slug} was rolled back, nothing was removed: {reason}"
                    ) from None
    finally:
        await engine.dispose()
    report = PurgeReport(slug, deleted, len(members), alone or 0)
    report.sessions_cleared = await _clear_sessions(settings, tenant.id, members, report)
    return report


async def _clear_sessions(
    settings: Settings, tenant_id: uuid.UUID, user_ids, report: PurgeReport
) -> int | None:
    """End the members' sessions bound to the purged tenant (Redis); best effort."""
    if not settings.redis_url:
        report.notes.append("no Redis configured: no sessions to clear")
        return None
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from core.auth.sessions import SessionStore

    redis = Redis.from_url(settings.redis_url)
    store = SessionStore(redis)
    cleared = 0
    try:
        for user_id in user_ids:
            for digest, data in await store.list_for_user(user_id):
                if data.tenant_id == str(tenant_id):
                    cleared += await store.delete_by_digest(user_id, digest)
    except (RedisError, OSError) as exc:
        report.notes.append(f"sessions not cleared ({type(exc).__name__}); they end at their idle limit")
        return None
    finally:
        await redis.aclose()
    return cleared
