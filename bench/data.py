"""The benchmark's data: is the seeded database current, sessions and tokens for the load, audit counts."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import asyncpg

from bench.seed import (
    asyncpg_dsn,
    database_mark,
)
from core.settings import Settings


def schema_is_current(settings: Settings, applied: set[str]) -> bool:
    """Whether the database's applied revisions include every migration head of this
    checkout (core and every installed plugin). The version table keeps one row per branch
    tip, and a head another branch depends on (core's, under scheduling's) is not a row of
    its own, so the check walks the revisions below the applied ones."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import ResolutionError

    from core.app import build_registry
    from core.db.admin import alembic_config
    from core.plugins.registry import flatten

    registry = build_registry(settings)
    dirs = [d for _, found in registry.call_each("tessera_migration_dirs") for d in flatten([found])]
    script = ScriptDirectory.from_config(alembic_config(settings, dirs))
    try:
        covered = {rev.revision for rev in script.iterate_revisions(tuple(applied), "base")}
    except ResolutionError:  # a revision this checkout does not have: not its schema
        return False
    return set(script.get_heads()) <= covered


async def seeded_scale(settings: Settings) -> tuple[int, int, str | None] | None:
    """(tenants, patients, seeding id) of the bench database, or None when it is missing or
    its schema is not this checkout's (a migration was added since it was seeded)."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        applied = {r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        if not schema_is_current(settings, applied):
            return None
        return (
            await conn.fetchval("SELECT count(*) FROM tenants"),
            await conn.fetchval("SELECT count(*) FROM patients"),
            await database_mark(conn),
        )
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


async def create_sessions(settings: Settings, data_dir: Path) -> int:
    """One signed-in session per load user (tokens.tsv) for the chart page scenario."""
    from redis.asyncio import Redis

    from core.auth.sessions import SessionStore

    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        tenant_ids = {r["slug"]: r["id"] for r in await conn.fetch("SELECT slug, id FROM tenants")}
    finally:
        await conn.close()
    redis = Redis.from_url(settings.redis_url)
    store = SessionStore(redis)
    count = 0
    lines = []
    try:
        for line in (data_dir / "tokens.tsv").read_text().splitlines():
            slug, user_id, _ = line.split("\t")
            if not user_id:
                continue
            sid, _ = await store.create(
                user_id=uuid.UUID(user_id), tenant_id=tenant_ids[slug], mfa_verified=True, user_agent="wrk"
            )
            lines.append(f"{slug}\t{sid}\n")
            count += 1
    finally:
        await redis.aclose()
    (data_dir / "sessions.tsv").write_text("".join(lines))
    return count


async def mark_tokens_used(settings: Settings) -> int:
    """Every token used a moment ago, as in a running instance whose integrations call every
    few minutes. Otherwise nearly every request of a run over thousands of tokens would be
    its token's first in LAST_USED_RESOLUTION and pay the last-used write (UPDATE, COMMIT,
    then BEGIN and set_config again): a cost each token pays once per 15 minutes."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        status = await conn.execute("UPDATE api_tokens SET last_used_at = now()")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def audit_counts(settings: Settings) -> tuple[int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE seal_seq IS NULL) AS unsealed FROM audit_events"
        )
        return row["total"], row["unsealed"]
    finally:
        await conn.close()


async def seal_backlog(settings: Settings) -> dict:
    from core.audit.seal import seal_all, sealer_engine

    engine = sealer_engine(settings)
    try:
        started = time.monotonic()
        result = await seal_all(engine)
        seconds = time.monotonic() - started
    finally:
        await engine.dispose()
    return {"sealed": result.sealed, "tenants": result.tenants, "seconds": round(seconds, 3)}
