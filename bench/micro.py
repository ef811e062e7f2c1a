"""Measurements without HTTP: casbin's decision cost and row-level security at the SQL level."""

from __future__ import annotations

import collections
import random
import time
import uuid
from pathlib import Path

import asyncpg

from bench.seed import (
    asyncpg_dsn,
)
from bench.server import _spent, cpu_times
from core.settings import Settings


def casbin_micro(tenants: int = 1000, users: int = 10, checks: int = 200_000) -> dict:
    """Authorizer.allowed with 1,000 tenants x 10 users assigned: µs per check."""
    from core.app import build_registry
    from core.auth.principal import Principal
    from core.authz.enforcer import Authorizer

    registry = build_registry(Settings())
    authz = Authorizer(registry.permissions())
    rng = random.Random(6)  # noqa: S311 - synthetic ids
    roles = [frozenset({r}) for r in ("owner", "clinician", "clinician", "front_desk", "biller")]
    principals, assignments = [], []
    for _ in range(tenants):
        tenant = uuid.uuid4()
        for _ in range(users):
            user, held = uuid.uuid4(), rng.choice(roles)
            assignments.append((str(user), str(tenant), held))
            principals.append(
                Principal(
                    user_id=user, email="x@y", display_name="x", tenant_id=tenant, roles=held, via="token"
                )
            )
    started = time.perf_counter()
    authz.assign_many(assignments)
    load_seconds = time.perf_counter() - started
    objects = [("core:patients", "read"), ("core:patients", "write"), ("core:audit", "read")]
    sample = [(rng.choice(principals), rng.choice(objects)) for _ in range(checks)]
    started = time.perf_counter()
    for p, (obj, act) in sample:
        authz.allowed(p, p.tenant_id, obj, act)
    per_check = (time.perf_counter() - started) / checks * 1e6
    # a user's first check in a worker assigns its roles in casbin (no bulk load): the
    # cost of that, over all 10,000 users one at a time, on a fresh Authorizer
    cold = Authorizer(registry.permissions())
    started = time.perf_counter()
    for p in principals:
        cold.allowed(p, p.tenant_id, "core:patients", "read")
    first_check = (time.perf_counter() - started) / len(principals) * 1e6
    uncached_n = 5000
    started = time.perf_counter()
    for p, (obj, act) in sample[:uncached_n]:
        authz.enforcer.enforce(str(p.user_id), str(p.tenant_id), obj, act)
    uncached = (time.perf_counter() - started) / uncached_n * 1e6
    return {
        "tenants": tenants,
        "users_per_tenant": users,
        "grouping_rules": len(authz.enforcer.get_grouping_policy()),
        "policy_rules": len(authz.enforcer.get_policy()),
        "us_per_check": round(per_check, 2),
        "us_per_uncached_enforce": round(uncached, 1),
        "us_per_first_check": round(first_check, 1),
        "assign_seconds": round(load_seconds, 2),
    }


# -- RLS at the SQL level ------------------------------------------------------------------


async def rls_sql_cost(settings: Settings, data_dir: Path, rounds: int = 6, per_round: int = 500) -> dict:
    """The chart read's own statements (BEGIN with set_config, token look-up, the patient
    with contacts and its audit INSERT; rolled back) on two connections, one as the app role (RLS forced) and one
    as the owner (not subject to RLS), in alternating rounds; PostgreSQL CPU per request
    from /proc of each connection's backend. RLS acts only inside PostgreSQL, so this
    isolates it from the app servers' warm-up and the machine's noise."""
    from core.audit.record import Event, event_params
    from core.auth.middleware import _TOKEN_LOOKUP
    from core.auth.tokens import token_digest
    from core.patients.services import _READ_AND_AUDIT

    tokens: dict[str, list[bytes]] = collections.defaultdict(list)
    for line in (data_dir / "tokens.tsv").read_text().splitlines():
        slug, _, token = line.split("\t")
        tokens[slug].append(token_digest(token))
    targets = [line.split("\t") for line in (data_dir / "targets.tsv").read_text().splitlines()]
    owner = await asyncpg.connect(asyncpg_dsn(settings.owner_url()))
    app = await asyncpg.connect(asyncpg_dsn(settings.app_url()))
    try:
        ids = {r["slug"]: r["id"] for r in await owner.fetch("SELECT slug, id FROM tenants")}
        rng = random.Random(6)  # noqa: S311 - picking sample rows
        work = [
            (ids[slug], rng.choice(tokens[slug]), uuid.UUID(pid))
            for slug, pid in rng.sample(targets, per_round)
        ]
        pids = {
            "on": await app.fetchval("SELECT pg_backend_pid()"),
            "off": await owner.fetchval("SELECT pg_backend_pid()"),
        }
        spent = {"on": 0.0, "off": 0.0}
        found = {"on": 0, "off": 0}

        async def one_round(arm: str, conn: asyncpg.Connection) -> None:
            before = cpu_times([pids[arm]])
            for tenant_id, digest, patient_id in work:
                await conn.execute(f"BEGIN; SELECT set_config('app.tenant_id', '{tenant_id}', true)")
                try:
                    token = await conn.fetchrow(_TOKEN_LOOKUP.sql, tenant_id, digest)
                    event = Event(tenant_id, uuid.uuid4(), "user", token["user_id"], token["id"], "bench",
                                  "read", "patient", str(patient_id), patient_id, "success", "10.0.0.1",
                                  "bench", None, False, {})  # fmt: skip
                    rows = await conn.fetch(_READ_AND_AUDIT.sql, tenant_id, patient_id, *event_params(event))
                    found[arm] += len(rows) > 0
                finally:
                    await conn.execute("ROLLBACK")
            spent[arm] += _spent(before, cpu_times([pids[arm]]))

        for i in range(rounds):
            for arm in ("on", "off") if i % 2 == 0 else ("off", "on"):
                await one_round(arm, app if arm == "on" else owner)
    finally:
        await app.close()
        await owner.close()
    n = rounds * per_round
    on_us, off_us = 1e6 * spent["on"] / n, 1e6 * spent["off"] / n
    return {
        "pg_cpu_us_per_request_rls_on": round(on_us, 1),
        "pg_cpu_us_per_request_rls_off": round(off_us, 1),
        "overhead_pct": round((on_us / off_us - 1) * 100, 1) if off_us else None,
        "patients_found": found,
        "method": f"the chart read's statements on one connection as the app role and one as the owner, "
        f"{rounds} alternating rounds of {per_round} requests, PostgreSQL backend CPU from /proc",
    }
