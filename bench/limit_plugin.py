"""Benchmark-only plugin: "the limit", a bare Litestar handler in the same server process.

``GET /api/bench/limit/{patient_id}`` runs the same indexed primary-key SELECT as the chart
read, through its own raw asyncpg pool (as the schema owner, so no row-level security),
with no authentication, authorisation or audit. It still passes the app's middleware
stack (host -> tenant resolution, the authentication and CSRF middleware find nothing to
do), so the ratio chart-read / limit isolates what the patient read itself costs.

Loaded only by ``bench/run.py`` through ``TESSERA_PLUGIN_MODULES=bench.limit_plugin``; the
seeder enables it for every bench tenant. Never install it anywhere else: the route is public.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
from litestar import Request, get
from litestar.exceptions import NotFoundException

from core.auth.guards import public
from core.plugin_api import Manifest, hookimpl
from core.web.context import site_of

manifest = Manifest(
    name="bench_limit",
    version="0.1.0",
    title="Benchmark limit",
    description="A bare handler doing the chart read's SELECT with raw asyncpg (benchmarks only).",
    core=">=0.1,<1.0",
)

#: DSN of the owner (set by bench/run.py); the pool is per worker process
DSN_VARIABLE = "TESSERA_BENCH_LIMIT_DSN"
_pool: asyncpg.Pool | None = None
_lock = asyncio.Lock()

_SELECT = (
    "SELECT id, mrn, given_name, family_name, birth_date, sex_at_birth, phone, status "
    "FROM patients WHERE tenant_id = $1 AND id = $2"
)


async def _get_pool() -> asyncpg.Pool:
    global _pool
    if _pool is None:
        async with _lock:
            if _pool is None:
                _pool = await asyncpg.create_pool(os.environ[DSN_VARIABLE], min_size=2, max_size=10)
    return _pool


@get(
    "/api/bench/limit/{patient_id:uuid}",
    name="bench_limit:read",
    guards=[public("benchmark-only limit handler; loaded only by bench/run.py")],
    include_in_schema=False,
)
async def limit_read(request: Request, patient_id: uuid.UUID) -> dict:
    pool = await _get_pool()
    row = await pool.fetchrow(_SELECT, site_of(request).tenant.id, patient_id)
    if row is None:
        raise NotFoundException()
    return {**dict(row), "id": str(row["id"]), "birth_date": row["birth_date"].isoformat()}


@hookimpl
def tessera_routes():
    return [limit_read]
